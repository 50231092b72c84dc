"""Benchmark: `refalign serve-reward` against the Python reward it replaces (python_reward_server.py:
bert_score on the same MiniLM, sacrebleu), both served over OpenRLHF's protocol and driven by the same
client (Scripts/integrations/load_test.py: C concurrent single-sample clients, OpenRLHF ≥ 0.11's request
code), same inputs, in one run, alternating servers per metric, for each scoring thread count (torch threads
on the Python side, OpenBLAS threads on ours): under a loaded machine torch's per-call cost with 2 threads was
8× its cost with 1 (325 vs 42 ms for one short pair), so each side is measured at both. Writes Results/benchmarks/serve-reward.tsv.

    .venv-ref/bin/python Scripts/reference/bench_serve_reward.py [--bertscore-requests 1000 --bleu-requests 10000]
"""
import argparse
import asyncio
import datetime
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integrations"))

from load_test import drive_openrlhf, quantiles, server_metric, workload  # noqa: E402
from serve_reward import ROOT, RewardServer, Server  # noqa: E402


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run(server, rows, clients):
    with server as url:
        drive = asyncio.run(drive_openrlhf(url, rows[: min(len(rows), 2 * clients)], clients))  # warm-up
        assert not drive[2], drive[2][:3]
        rewards, latencies, errors, seconds = asyncio.run(drive_openrlhf(url, rows, clients))
        batches = server_metric(url, "refalign_reward_batches_total")
    q = quantiles(latencies)
    return {"requests": len(rows), "errors": len(errors), "rps": len(rows) / seconds, "p50": q["p50_ms"], "p99": q["p99_ms"],
            "rewards": rewards, "batches": batches}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--bertscore-requests", type=int, default=1000)
    p.add_argument("--bleu-requests", type=int, default=10_000)
    p.add_argument("--threads", default="1,2", help="scoring threads, each side; one round per value")
    p.add_argument("--out", default=os.path.join(ROOT, "Results", "benchmarks", "serve-reward.tsv"))
    args = p.parse_args()
    python = os.path.join(HERE, "python_reward_server.py")
    loads = [uptime()]
    lines = []
    for threads in args.threads.split(","):
        for swift_metric, python_metric, n in [("bertscore", "bertscore", args.bertscore_requests),
                                               ("sacrebleu", "sacrebleu", args.bleu_requests)]:
            rows = workload(n)
            swift = run(RewardServer(swift_metric, "--threads", threads), rows, args.clients)
            loads.append(uptime())
            py = run(Server([sys.executable, python, "--metric", python_metric, "--threads", threads]), rows, args.clients)
            loads.append(uptime())
            diff = max(abs(a - b) for a, b in zip(swift["rewards"], py["rewards"]) if a is not None and b is not None)
            for name, r in [("refalign serve-reward", swift), ("python " + python_metric, py)]:
                lines.append(f"{python_metric}\t{name}\t{threads}\t{r['requests']}\t{args.clients}\t{r['errors']}\t{r['rps']:.1f}\t"
                             f"{r['p50']:.1f}\t{r['p99']:.1f}\t{swift['rps'] / py['rps']:.2f}\t{diff:.2e}")
            print("\n".join(lines[-2:]), flush=True)
    binary = RewardServer("bleu").args[0]
    with open(args.out, "w") as f:
        f.write(f"# serve-reward benchmark, {datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores, "
                f"binary {os.path.relpath(binary, ROOT)}\n")
        f.write("# uptime before/between/after: " + " | ".join(l.split("load average:")[-1].strip() for l in loads) + "\n")
        f.write("# workload: load_test.workload (GRPO-like groups of 8 responses per reference, 8-40 words), one sample per request\n")
        f.write("metric\tserver\tthreads\trequests\tclients\terrors\trequests/s\tp50 ms\tp99 ms\tswift/python throughput\tmax |Δreward|\n")
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
