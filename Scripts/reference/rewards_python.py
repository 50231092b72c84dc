"""Python side of the reward benchmarks (Benchmarks/RefAlignBench/RewardBench.swift), same pairs and
timing (one warm-up, median of N). "bleu" is evaluate's smoothed BLEU as transcribed in evaluate_bleu.py
(evaluate's own loader needs the hub), i.e. its computational core without the datasets/evaluate wrapper.
Prints {"bench", "unit", "value"} lines."""
import argparse
import json
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import sacrebleu
import torch
from rouge_score import rouge_scorer

from _timing import median_rate
from evaluate_bleu import evaluate_bleu


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pairs", required=True)
    p.add_argument("--rl-pairs", help="pairs as RL scores them: each run of 8 lines shares one reference")
    p.add_argument("--bert", default=".assets/minilm")
    p.add_argument("--cases", default="bleu,sacrebleu,rouge-l,bertscore,bertscore-rl,bertscore-rl-first-epoch,wordpiece")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = [json.loads(line) for line in open(args.pairs)]
    hyps, refs = [r["hypothesis"] for r in rows], [r["reference"] for r in rows]

    def report(name, unit, body):
        value = median_rate(lambda _: body(), args.repeats)
        print(json.dumps({"bench": name, "unit": unit, "value": value}), flush=True)

    # RL: one reward call per step of 4 prompts x 8 samples
    rl = [json.loads(line) for line in open(args.rl_pairs)] if args.rl_pairs else []
    steps = [rl[i:i + 32] for i in range(0, len(rl), 32)]
    bert = None

    def bert_scorer():
        nonlocal bert
        if bert is None:
            import bert_score
            bert = bert_score.BERTScorer(model_type=os.path.abspath(args.bert), num_layers=6, batch_size=64)
        return bert

    for case in args.cases.split(","):
        if case == "bleu":
            report("bleu", "pairs/s", lambda: [evaluate_bleu(h, [r]) for h, r in zip(hyps, refs)] and len(rows))
        elif case == "sacrebleu":
            report("sacrebleu", "pairs/s", lambda: [sacrebleu.sentence_bleu(h, [r]) for h, r in zip(hyps, refs)] and len(rows))
        elif case == "rouge-l":
            scorer = rouge_scorer.RougeScorer(["rougeL"])
            report("rouge-l", "pairs/s", lambda: [scorer.score(r, h) for h, r in zip(hyps, refs)] and len(rows))
        elif case == "bertscore":
            scorer = bert_scorer()
            report("bertscore", "pairs/s", lambda: scorer.score(hyps, refs) and len(rows))
        elif case in ("bertscore-rl", "bertscore-rl-first-epoch"):  # bert_score keeps nothing between calls: one workload
            scorer = bert_scorer()
            report(case, "pairs/s", lambda: [scorer.score([p["hypothesis"] for p in s], [p["reference"] for p in s]) for s in steps]
                   and len(rl))
        elif case == "wordpiece":
            from transformers import BertTokenizerFast
            backend = BertTokenizerFast.from_pretrained(os.path.abspath(args.bert)).backend_tokenizer
            backend.no_truncation()
            backend.no_padding()
            corpus = "\n".join(h + "\n" + r for h, r in zip(hyps, refs)) + "\n"
            corpus = corpus * 4
            report("wordpiece", "MB/s", lambda: backend.encode(corpus) and len(corpus.encode()) / 1e6)
        else:
            raise SystemExit(f"unknown case {case}")


if __name__ == "__main__":
    main()
