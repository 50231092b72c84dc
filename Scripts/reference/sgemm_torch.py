"""PyTorch side of the sgemm benchmark: y = x @ W.T with torch.mm into a preallocated output, timed
exactly like Benchmarks/RefAlignBench (batches of ≥ 0.2 s after a sizing warm-up, median of 5).
Prints one JSON line per shape, the same fields as the Swift side."""
import argparse
import json
import time

import torch


def median_seconds_per_call(body, rounds=5, min_seconds=0.2):
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            body()
        if time.perf_counter() - start >= min_seconds:
            break
        calls *= 2
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            body()
        times.append((time.perf_counter() - start) / calls)
    return sorted(times)[rounds // 2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--m", default="1,8,16,32,1024")
    p.add_argument("--shapes", default="576x576,576x192,576x1536,1536x576,576x49152")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for m in map(int, args.m.split(",")):
        for shape in args.shapes.split(","):
            k, n = map(int, shape.split("x"))
            x = torch.rand(m, k) - 0.5
            w = torch.rand(n, k) - 0.5
            y = torch.empty(m, n)
            wt = w.t()
            seconds = median_seconds_per_call(lambda: torch.mm(x, wt, out=y))
            print(json.dumps({"bench": "sgemm", "m": m, "in": k, "out": n, "threads": args.threads,
                              "gflops": 2 * m * n * k / seconds / 1e9}), flush=True)


if __name__ == "__main__":
    main()
