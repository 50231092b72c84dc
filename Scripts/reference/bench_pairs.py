"""Writes the reward benchmarks' pairs: 512 (hypothesis, reference) pairs of about 100 words each, MT-Bench
answers of four systems against the GPT-4.1-mini references in ../shared, first 100 words of each; and, with a
second path, 512 pairs as RL scores them: 64 references (32 questions, both turns) with 8 answers each, the
answers of eight systems, written reference by reference (each run of 8 lines shares one reference)."""
import json
import os
import sys

data = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "bleuberi_data", "mt_bench")


def turns(path):
    with open(path) as f:
        return [json.loads(line)["choices"][0]["turns"] for line in f if line.strip()]


refs = turns(os.path.join(data, "reference_answer", "gpt-4.1-mini.jsonl"))
pairs = []
for system in ["Qwen2.5-7B", "Qwen2.5-7B-Instruct", "Qwen2.5-3B", "Llama-3.1-8B-Instruct"]:
    for i, answer in enumerate(turns(os.path.join(data, "model_answer", system + ".jsonl"))):
        for t in range(2):
            pairs.append({"hypothesis": " ".join(answer[t].split()[:100]), "reference": " ".join(refs[i][t].split()[:100])})
with open(sys.argv[1], "w") as f:
    for p in pairs[:512]:
        f.write(json.dumps(p) + "\n")

if len(sys.argv) > 2:
    systems = ["Qwen2.5-7B", "Qwen2.5-7B-Instruct", "Qwen2.5-3B", "Qwen2.5-3B-Instruct", "Llama-3.1-8B-Instruct",
               "qwen7b_BLEU_1ref-gold_1k_random_checkpoint-250", "qwen7b_BERTSCORE_5refs_1k_random_checkpoint-250",
               "llama8b_SFT_1ref-gold_5k_5e-6_checkpoint-156"]
    answers = [turns(os.path.join(data, "model_answer", system + ".jsonl")) for system in systems]
    with open(sys.argv[2], "w") as f:
        for i in range(32):
            for t in range(2):
                for a in answers:
                    f.write(json.dumps({"hypothesis": " ".join(a[i][t].split()[:100]), "reference": " ".join(refs[i][t].split()[:100])}) + "\n")
