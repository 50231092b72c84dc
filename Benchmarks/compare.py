"""Runs a Swift benchmark and its Python reference side by side in one run and reports the ratio.

The two commands alternate for several rounds (A B A B ...), so machine drift hits both alike; each
case's figure is the median over rounds. Writes a TSV under Results/benchmarks/ and prints a
Markdown table for the README.

usage: compare.py NAME --swift CMD... --reference CMD... [--rounds N] [--metric FIELD] [--key F1,F2]
"""
import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def machine():
    """The CPU and the OpenBLAS kernel forced by the environment, for the TSV header: ratios move with both."""
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            info = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in f if ":" in line)}
        cpu = f"{info.get('model name', cpu)} (family {info.get('cpu family', '?')} model {info.get('model', '?')})"
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("name")
    p.add_argument("--swift", required=True, help="command line, shell-quoted")
    p.add_argument("--reference", required=True, help="command line, shell-quoted")
    p.add_argument("--reference-name", default="torch")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--metric", default="gflops")
    p.add_argument("--key", default="m,in,out")
    p.add_argument("--reference-for", action="append", default=[], metavar="OURS=THEIRS",
                   help="compare our case OURS (first key field) with the reference's case THEIRS, "
                        "e.g. rollouts-q8_0=rollouts: the same workload from other weights")
    p.add_argument("--extra", default="", help="further numeric fields to report, comma-separated")
    p.add_argument("--out", required=True)
    p.add_argument("--lower-is-better", action="store_true",
                   help="the metric is a time or a size: report the speed-up reference/ours instead of ours/reference")
    args = p.parse_args()
    keys = args.key.split(",")
    extra = [f for f in args.extra.split(",") if f]
    ours, theirs, ours_extra, theirs_extra = {}, {}, {}, {}
    for r in range(args.rounds):
        for store, store_extra, cmd in ((ours, ours_extra, args.swift), (theirs, theirs_extra, args.reference)):
            for row in run(shlex.split(cmd)):
                key = tuple(row[k] for k in keys)
                store.setdefault(key, []).append(row[args.metric])
                for field in extra:
                    store_extra.setdefault(key, {}).setdefault(field, []).append(row[field])
        print(f"{args.name}: round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    header = keys + [f"refalign {args.metric}", f"{args.reference_name} {args.metric}",
                     f"{args.reference_name}/refalign" if args.lower_is_better else "ratio"]
    counterpart = dict(pair.split("=", 1) for pair in args.reference_for)
    def theirs_key(key):
        return (counterpart.get(key[0], key[0]),) + key[1:]
    rows = []
    for key in ours:
        a, b = statistics.median(ours[key]), statistics.median(theirs[theirs_key(key)])
        ratio = (b / a if a else float("inf")) if args.lower_is_better else a / b
        rows.append(list(key) + [f"{a:.2f}", f"{b:.2f}", f"{ratio:.2f}"])
    if extra:  # further per-case figures (e.g. peak memory), medians, ours and theirs
        for field in extra:
            header += [f"refalign {field}", f"{args.reference_name} {field}"]
        for row, key in zip(rows, ours):
            for field in extra:
                row += [f"{statistics.median(ours_extra[key][field]):.2f}",
                        f"{statistics.median(theirs_extra[theirs_key(key)][field]):.2f}"]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(f"# {args.name}: medians of {args.rounds} alternating rounds, {time.strftime('%Y-%m-%d')}, "
                f"{machine()}\n")
        f.write("\t".join(header) + "\n")
        for row in rows:
            f.write("\t".join(map(str, row)) + "\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(map(str, row)) + " |")


if __name__ == "__main__":
    main()
