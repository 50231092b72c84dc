"""Writes the benchmarks' English corpus (about 4 MB): the answers of GPT-4-0314, GPT-4-0613, GPT-3.5 and
Qwen2.5-7B-Instruct to the 500 Arena-Hard v0.1 prompts in ../shared, in a fixed order."""
import json
import os
import sys

shared = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "bleuberi_data", "arena_hard_v0.1", "model_answer")
parts = []
for name in ["gpt-4-0314", "gpt-4-0613", "gpt-3.5-turbo-0125", "Qwen2.5-7B-Instruct"]:
    with open(os.path.join(shared, name + ".jsonl"), encoding="utf-8") as f:
        parts += [json.loads(line)["choices"][0]["turns"][0]["content"] for line in f if line.strip()]
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write("\n\n".join(parts))
