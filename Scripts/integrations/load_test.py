"""Load test of `refalign serve-reward`: C concurrent clients (default 64), N single-sample requests
(default 10,000) the way OpenRLHF ≥ 0.11 sends them (openrlhf_client.single_turn_reward, one sample per
request, each client one keep-alive aiohttp session). Every reward must equal `refalign score` on the same
(response, references); BLEU-like metrics exactly, BERTScore within --tolerance (the server's micro-batches
pad differently from `refalign score`'s batches, which moves the last float bits). Exits 1 on any error or
mismatch; prints one JSON line with throughput and latency quantiles.

    .venv-ref/bin/python Scripts/integrations/load_test.py --metric bleu --requests 10000 --clients 64
"""
import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))

import aiohttp  # noqa: E402

import openrlhf_client  # noqa: E402
from serve_reward import ROOT, RewardServer  # noqa: E402

CHATML = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"


def workload(n, seed=13, group=8, words=(8, 40)):
    """n (prompt, response, reference) rows: GRPO-like groups of `group` responses per reference, sentences of
    whole-word tokens from MiniLM's vocabulary (deterministic; no data set needed)."""
    vocab = [w.strip() for w in open(os.path.join(ROOT, ".assets", "minilm", "vocab.txt"), encoding="utf-8")]
    vocab = [w for w in vocab[2000:] if w.isalpha() and w.isascii() and len(w) >= 3][:5000]
    rng = random.Random(seed)
    rows = []
    while len(rows) < n:
        question = " ".join(rng.choices(vocab, k=8)) + "?"
        reference = " ".join(rng.choices(vocab, k=rng.randint(*words))) + "."
        ref_words = reference[:-1].split()
        for _ in range(group):
            # Responses reuse part of the reference so scores spread over [0, 1].
            k = rng.randint(*words)
            response = " ".join(rng.choice(ref_words) if rng.random() < 0.6 else rng.choice(vocab) for _ in range(k)) + "."
            rows.append((question, response, reference))
    return rows[:n]


def quantiles(latencies):
    s = sorted(latencies)
    pick = lambda q: s[min(len(s) - 1, max(0, int(q * len(s) + 0.999999) - 1))]
    return {"p50_ms": 1e3 * pick(0.5), "p90_ms": 1e3 * pick(0.9), "p99_ms": 1e3 * pick(0.99), "max_ms": 1e3 * s[-1]}


async def drive_openrlhf(url, rows, clients):
    """(rewards by row, latencies, errors): `clients` workers, one request per row."""
    rewards, latencies, errors = [None] * len(rows), [], []
    next_row = iter(range(len(rows)))

    async def client():
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=180)) as session:
            for i in next_row:
                question, response, reference = rows[i]
                start = time.perf_counter()
                try:
                    reward, _, _ = await openrlhf_client.single_turn_reward(
                        [url + "/get_reward"], CHATML.format(question) + response + "<|im_end|>", CHATML.format(question),
                        reference, session)
                    rewards[i] = reward[0]
                except Exception as e:  # noqa: BLE001 - every failure counts as an error
                    errors.append(f"row {i}: {e}")
                latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*[client() for _ in range(clients)])
    return rewards, latencies, errors, time.perf_counter() - start


def refalign_expected(metric, rows):
    binary = RewardServer(metric).args[0]
    path = os.path.join(ROOT, ".build", "load-test-input.jsonl")
    with open(path, "w") as f:
        for _, response, reference in rows:
            f.write(json.dumps({"hypothesis": response, "references": [reference]}) + "\n")
    out = subprocess.run([binary, "score", "--metric", metric, "--input", path], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    key = "f1" if metric == "bertscore" else "score"
    return [json.loads(line)[key] for line in out.splitlines()]


def server_metric(url, name):
    with urllib.request.urlopen(url + "/metrics") as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--metric", default="bleu")
    p.add_argument("--requests", type=int, default=10_000)
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--serve-args", default="", help="extra serve-reward options, e.g. '--threads 1 --max-batch 1'")
    p.add_argument("--tolerance", type=float, default=None, help="default: 0 (exact) except 1e-6 for bertscore")
    args = p.parse_args()
    tolerance = args.tolerance if args.tolerance is not None else (1e-6 if args.metric == "bertscore" else 0.0)
    rows = workload(args.requests)
    expected = refalign_expected(args.metric, rows)
    with RewardServer(args.metric, *args.serve_args.split()) as url:
        rewards, latencies, errors, seconds = asyncio.run(drive_openrlhf(url, rows, args.clients))
        batches = server_metric(url, "refalign_reward_batches_total")
        batched = server_metric(url, "refalign_reward_batch_items_total")
    diffs = [abs(r - e) for r, e in zip(rewards, expected) if r is not None]
    mismatches = sum(d > tolerance for d in diffs)
    summary = {"metric": args.metric, "serve_args": args.serve_args, "requests": len(rows), "clients": args.clients, "errors": len(errors),
               "mismatches": mismatches, "exact": sum(d == 0 for d in diffs), "max_abs_diff": max(diffs, default=0.0),
               "seconds": round(seconds, 3), "requests_per_s": round(len(rows) / seconds, 1),
               **{k: round(v, 2) for k, v in quantiles(latencies).items()},
               "mean_batch": round(batched / batches, 1) if batches else 0, "loadavg": os.getloadavg()}
    print(json.dumps(summary))
    for e in errors[:5]:
        print(e, file=sys.stderr)
    sys.exit(1 if errors or mismatches else 0)


if __name__ == "__main__":
    main()
