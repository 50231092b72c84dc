"""PyTorch + transformers side of the SmolLM2 benchmarks (Benchmarks/RefAlignBench/LLMBench.swift):
the same GGUF loaded in fp32, the same prompts, token counts and timing (one warm-up, median of N).
Prints one JSON line per case: {"bench", "unit", "value", "peak_rss_gb"}."""
import argparse
import json
import os
import resource

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAYON_NUM_THREADS", "1")

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from _timing import median_rate

PROMPTS = ["Write a short story about a cat who learns to fly.", "List three primary colors.",
           "Explain photosynthesis in one sentence.", "What is 12 times 12?",
           "Translate 'good morning' into French.", "Give me a recipe for pancakes.",
           "Why is the sky blue?", "Describe a sunset over the ocean."]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", default=".assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    p.add_argument("--text", required=True)
    p.add_argument("--cases", default="decode,rollouts,rl-rollouts,score,train,bpe")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    directory, name = os.path.split(args.model)
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32).eval()
    corpus = open(args.text, encoding="utf-8").read()
    corpus_ids = tokenizer(corpus[:200_000], add_special_tokens=False)["input_ids"]

    def chat(prompt):
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                             return_tensors="pt", return_dict=True)

    def report(bench, unit, value):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
        print(json.dumps({"bench": bench, "unit": unit, "value": value, "peak_rss_gb": peak}), flush=True)

    for case in args.cases.split(","):
        if case == "decode":
            inputs = chat(PROMPTS[0])

            def body(i):
                with torch.no_grad():
                    model.generate(**inputs, max_new_tokens=128, min_new_tokens=128, do_sample=False)
                return 128
            report("decode", "tok/s", median_rate(body, args.repeats))
        elif case == "rollouts":
            tokenizer.padding_side = "left"
            texts = [tokenizer.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True, tokenize=False)
                     for q in PROMPTS]
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)

            def body(i):
                torch.manual_seed(i + 1)
                with torch.no_grad():
                    model.generate(**batch, max_new_tokens=128, min_new_tokens=128, do_sample=True, temperature=1.0,
                                   top_k=0, top_p=1.0)
                return 8 * 128
            report("rollouts", "tok/s", median_rate(body, args.repeats))
        elif case == "rl-rollouts":
            tokenizer.padding_side = "left"
            texts = [tokenizer.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True, tokenize=False)
                     for q in PROMPTS[:4]]
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)

            def body(i):
                torch.manual_seed(i + 1)
                with torch.no_grad():
                    model.generate(**batch, max_new_tokens=128, min_new_tokens=128, do_sample=True, temperature=1.0,
                                   top_k=0, top_p=1.0, num_return_sequences=8)
                return 32 * 128
            report("rl-rollouts", "tok/s", median_rate(body, args.repeats))
        elif case == "score":
            ids = torch.tensor([corpus_ids[i * 256:(i + 1) * 256] for i in range(8)])

            def body(i):
                with torch.no_grad():
                    logits = model(ids).logits[:, :-1]
                    torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None])
                return 8 * 256
            report("score", "tok/s", median_rate(body, args.repeats))
        elif case == "train":
            ids = torch.tensor([corpus_ids[i * 256:(i + 1) * 256] for i in range(4)])
            model.train()
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

            def body(i):
                optimizer.zero_grad(set_to_none=True)
                loss = model(ids, labels=ids).loss
                loss.backward()
                optimizer.step()
                return 4 * 256
            report("train", "tok/s", median_rate(body, args.repeats))
            model.eval()
        elif case == "bpe":
            backend = tokenizer.backend_tokenizer
            size = len(corpus.encode("utf-8"))

            def body(i):
                backend.encode(corpus, add_special_tokens=False)
                return size
            report("bpe", "MB/s", median_rate(body, args.repeats) / 1e6)
        else:
            raise SystemExit(f"unknown case {case}")


if __name__ == "__main__":
    main()
