"""llama.cpp side of the batch-1 decode benchmark (LLMBench.swift's decode-200 case): the same GGUF
file through llama-cpp-python, the same chat prompt, greedy, 200 new tokens whatever they are (no stop
at EOS), prefill included, one warm-up and the median of N. Prints one JSON line:
{"bench": "decode-200-WEIGHTS", "unit": "tok/s", "value", "peak_rss_gb"}; WEIGHTS names the row it
is compared with (the Swift side's --weights)."""
import argparse
import json
import resource

import llama_cpp

from _timing import median_rate

PROMPT = "Write a short story about a cat who learns to fly."
# SmolLM2's ChatML template with its default system message, as the Swift side renders it.
CHAT = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", required=True)
    p.add_argument("--weights", required=True, help="the row name: native, q8_0 or f32")
    p.add_argument("--new-tokens", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    llm = llama_cpp.Llama(model_path=args.model, n_ctx=512, n_batch=512, n_threads=args.threads,
                          n_threads_batch=args.threads, verbose=False)
    prompt = llm.tokenize(CHAT.format(PROMPT).encode(), add_bos=False, special=True)

    def body():
        llm.reset()
        count = 0
        for _ in llm.generate(prompt, top_k=1, temp=0.0, repeat_penalty=1.0, reset=True):
            count += 1
            if count == args.new_tokens:
                break
        return count

    value = median_rate(lambda _: body(), args.repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    print(json.dumps({"bench": f"decode-200-{args.weights}", "unit": "tok/s", "value": value,
                      "peak_rss_gb": peak}), flush=True)
    llm.close()  # now, not in a destructor at interpreter exit (which llama-cpp-python 0.3.36 gets wrong)


if __name__ == "__main__":
    main()
