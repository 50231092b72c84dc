"""TRL side of the alignment-step benchmarks (issue 10 item 9): seconds per step of TRL's own GRPOTrainer on
SmolLM2-135M-Instruct, CPU, fp32, split into sampling, reward and update.

The model is the GGUF of Scripts/bootstrap exported once to a local fp32 transformers folder (assets.md §1.10:
transformers loads the GGUF, the quantization config is dropped, an fp32 model built from the config takes its
state dict, save_pretrained), cached under .bench/ (git-ignored). The tokenizer gets SmolLM2's digit split back
(assets.md §1.8). Prompts: the first --prompts MT-Bench questions (turn 1, ../shared/bleuberi_data), given to TRL
as conversational prompts so TRL applies SmolLM2's chat template; references: turn 1 of the GPT-4.1-mini answers.
Reward: BLEU as HF evaluate computes it (Scripts/reference/evaluate_bleu.py, BLEUBERI's reward).

Cases (--cases):
  refalign  4 prompts × K = 2, β = 0, advantages r − mean (scale_rewards "none"), loss_type dr_grpo (a constant
            normaliser: a sequence-sum REINFORCE loss up to scale), temperature 1, no top-k, one micro-batch of 8.
  grpo      4 prompts × G = 8, β = 0.04 (a frozen reference model is scored each step), bnpo, scale_rewards
            "group", temperature 0.9, top-k 50, micro-batch 8 × 4 accumulation steps (BLEUBERI's layout: one
            generate call for all 32 completions, then 4 forward/backward micro-batches, one optimizer step).
  Both: 128 new tokens, forced (generation_kwargs min_new_tokens = max_completion_length = 128, so EOS cannot end
  a completion early; --free-length lets EOS end them and the rows report the mean length), μ = 1, use_cpu,
  bf16 off (fp32), gradient checkpointing off (TRL's default is on; --gradient-checkpointing turns it back on),
  AdamW at TRL's default learning rate, torch.set_num_threads(--threads).

Timing: a TrainerCallback takes the wall time from on_step_begin to on_step_end of every optimizer step (that
window holds TRL's generation, reward call, reference/old scoring, the forward/backward micro-batches and the
optimizer step); `model.generate` and the reward function are wrapped to time sampling and reward inside it;
update = step − sampling − reward (it includes TRL's log-prob recomputation and, for β ≠ 0, the reference
scoring, reported separately as `scoring_s`: the no-grad `_get_per_token_logps_and_entropies` calls). The first
--warmup steps are dropped; each figure is the median over the --steps measured steps.

Prints one JSON line per figure, as Scripts/reference/llm_torch.py does:
  {"bench": "grpo_step", "unit": "s", "value": …, "peak_rss_gb": …, "sampling_s": …, "reward_s": …,
   "update_s": …, "scoring_s": …, "completion_tokens": …, "steps": …}
  and one row per part (the same bench names as refalign-bench align, so Benchmarks/compare.py pairs them): bench "<case>_sampling" / "_reward" / "_update" (unit s), and "<case>_peak_rss" (GB).
peak_rss_gb is the process's peak RSS so far (ru_maxrss): the refalign case runs first, so the grpo row's figure
is the maximum of both (run one case per process for separate peaks).

usage: Scripts/reference/trl_bench.py [--cases refalign,grpo] [--steps 3] [--warmup 1] [--threads 2]
"""
import argparse
import contextlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import warnings

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("ACCELERATE_USE_CPU", "1")
warnings.filterwarnings("ignore")

import torch
import transformers
import trl
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import GRPOConfig, GRPOTrainer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evaluate_bleu import evaluate_bleu  # noqa: E402

transformers.logging.set_verbosity_error()


def log(*parts):
    print("trl_bench:", *parts, file=sys.stderr, flush=True)


def export_fp32(gguf_path, out_dir):
    """assets.md §1.10: GGUF → fp32 transformers folder (save_pretrained refuses the GGUF-loaded model)."""
    if os.path.exists(os.path.join(out_dir, "model.safetensors")):
        return out_dir
    from tokenizers import pre_tokenizers
    start = time.perf_counter()
    directory, name = os.path.split(gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    backend = tokenizer.backend_tokenizer  # SmolLM2's own tokenizer splits digits first (assets.md §1.8)
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), backend.pre_tokenizer])
    gguf_model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    assert not unexpected and all("lm_head" in k for k in missing), (missing, unexpected)
    model.tie_weights()
    model.generation_config = gguf_model.generation_config
    tmp = tempfile.mkdtemp(dir=os.path.dirname(out_dir))
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    os.replace(tmp, out_dir)
    log(f"exported {gguf_path} to {out_dir} in {time.perf_counter() - start:.1f} s")
    return out_dir


def mt_bench(data, count):
    questions = [json.loads(l) for l in open(os.path.join(data, "mt_bench", "question.jsonl"))][:count]
    answers = {}
    for l in open(os.path.join(data, "mt_bench", "reference_answer", "gpt-4.1-mini.jsonl")):
        r = json.loads(l)
        answers[r["question_id"]] = r["choices"][0]["turns"][0]
    return Dataset.from_dict({
        "prompt": [[{"role": "user", "content": q["turns"][0]}] for q in questions],
        "reference": [answers[q["question_id"]] for q in questions],
    })


class Clock:
    """Seconds spent in wrapped calls, read per optimizer step."""

    def __init__(self):
        self.total = 0.0

    def wrap(self, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total += time.perf_counter() - start
        return timed


class StepTimer(TrainerCallback):
    def __init__(self, clocks):
        self.clocks, self.rows, self.start, self.at_start = clocks, [], None, None

    def on_step_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()
        self.at_start = {k: c.total for k, c in self.clocks.items()}

    def on_step_end(self, args, state, control, **kwargs):
        row = {"step_s": time.perf_counter() - self.start}
        row.update({f"{k}_s": c.total - self.at_start[k] for k, c in self.clocks.items()})
        self.rows.append(row)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
        log(f"step {len(self.rows)}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()) + f", peak_rss_gb {peak:.3f}")


CASES = {
    "refalign": dict(prompts=4, generations=2, beta=0.0, loss_type="dr_grpo", scale_rewards="none", temperature=1.0,
                     top_k=0, micro_batch=8, accumulation=1),
    "grpo": dict(prompts=4, generations=8, beta=0.04, loss_type="bnpo", scale_rewards="group", temperature=0.9,
                 top_k=50, micro_batch=8, accumulation=4),
}


def run_case(name, spec, args, model_dir, dataset):
    steps = args.warmup + args.steps
    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    sampling, reward, scoring = Clock(), Clock(), Clock()
    lengths = []

    def bleu_reward(completions, reference, **kwargs):
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return [evaluate_bleu(t, [r]) for t, r in zip(texts, reference)]

    timed_reward = reward.wrap(bleu_reward)
    timed_reward.__name__ = "bleu"
    config = GRPOConfig(
        output_dir=os.path.join(args.work, f"trl-{name}"), use_cpu=True, report_to=[], bf16=False, fp16=False,
        gradient_checkpointing=args.gradient_checkpointing, max_steps=steps, logging_steps=1, save_strategy="no",
        disable_tqdm=True, seed=42, num_generations=spec["generations"],
        per_device_train_batch_size=spec["micro_batch"], gradient_accumulation_steps=spec["accumulation"],
        max_completion_length=args.new_tokens, temperature=spec["temperature"], top_k=spec["top_k"], top_p=1.0,
        beta=spec["beta"], loss_type=spec["loss_type"], scale_rewards=spec["scale_rewards"], num_iterations=1,
        shuffle_dataset=False, dataloader_num_workers=0, log_completions=False,
        generation_kwargs=None if args.free_length else {"min_new_tokens": args.new_tokens},
        model_init_kwargs={"dtype": "float32"})
    assert config.generation_batch_size == spec["prompts"] * spec["generations"], config.generation_batch_size
    trainer = GRPOTrainer(model=model_dir, reward_funcs=timed_reward, args=config, train_dataset=dataset,
                          processing_class=tokenizer)
    model = trainer.model
    generate = sampling.wrap(model.generate)

    def counting_generate(*a, **k):
        out = generate(*a, **k)
        prompt_len = (k.get("input_ids") if "input_ids" in k else a[0]).shape[1]
        completion = out[:, prompt_len:]
        ends = torch.isin(completion, torch.tensor(trainer.eos_token_ids))
        for row, e in zip(completion, ends):
            lengths.append(int(e.int().argmax()) + 1 if e.any() else row.numel())
        return out

    model.generate = counting_generate
    scorer = trainer._get_per_token_logps_and_entropies
    timed_scorer = scoring.wrap(scorer)
    trainer._get_per_token_logps_and_entropies = lambda *a, **k: (
        timed_scorer(*a, **k) if not torch.is_grad_enabled() else scorer(*a, **k))
    timer = StepTimer({"sampling": sampling, "reward": reward, "scoring": scoring})
    trainer.add_callback(timer)
    log(f"{name}: {spec['prompts']} prompts × {spec['generations']}, β {spec['beta']}, {spec['loss_type']}, "
        f"micro-batch {spec['micro_batch']} × {spec['accumulation']}, {steps} steps ({args.warmup} warm-up)")
    with contextlib.redirect_stdout(sys.stderr):  # the Trainer prints its log dicts; stdout carries only our JSON rows
        trainer.train()
    measured = timer.rows[args.warmup:]
    med = {k: statistics.median(r[k] for r in measured) for k in measured[0]}
    update = statistics.median(r["step_s"] - r["sampling_s"] - r["reward_s"] for r in measured)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    per_step = len(lengths) // steps
    common = {"peak_rss_gb": peak, "steps": len(measured), "threads": args.threads,
              "completions": per_step, "mean_completion_tokens": statistics.mean(lengths),
              "min_completion_tokens": min(lengths), "trl": trl.__version__, "torch": torch.__version__}

    def report(bench, unit, value, **extra):
        print(json.dumps({"bench": bench, "unit": unit, "value": value, **extra}), flush=True)

    report(f"{name}_step", "s", med["step_s"], sampling_s=med["sampling_s"], reward_s=med["reward_s"],
           update_s=update, scoring_s=med["scoring_s"], **common)
    report(f"{name}_sampling", "s", med["sampling_s"], peak_rss_gb=peak)
    report(f"{name}_reward", "s", med["reward_s"], peak_rss_gb=peak)
    report(f"{name}_update", "s", update, peak_rss_gb=peak)
    report(f"{name}_peak_rss", "GB", peak, peak_rss_gb=peak)
    del trainer, model


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", default=os.path.join(ROOT, ".assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
    p.add_argument("--export", default=os.path.join(ROOT, ".bench/smollm2-fp32"))
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "bleuberi_data"))
    p.add_argument("--cases", default="refalign,grpo")
    p.add_argument("--steps", type=int, default=3, help="measured steps (after the warm-up)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--free-length", action="store_true", help="let EOS end completions before --new-tokens")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--work", default=os.path.join(ROOT, ".bench", "trl-work"))
    args = p.parse_args()
    assert args.steps >= 1
    torch.set_num_threads(args.threads)
    os.makedirs(os.path.dirname(args.export), exist_ok=True)
    os.makedirs(args.work, exist_ok=True)
    model_dir = export_fp32(args.model, args.export)
    for name in args.cases.split(","):
        if name not in CASES:
            raise SystemExit(f"unknown case {name}")
        spec = CASES[name]
        run_case(name, spec, args, model_dir, mt_bench(args.data, spec["prompts"]))


if __name__ == "__main__":
    main()
