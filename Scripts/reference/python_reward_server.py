"""The Python reward `refalign serve-reward` replaces, served over the same OpenRLHF protocol for the
benchmark: TRL-style reward functions (completions, reference) → list of floats, bert_score 0.3.13's
BERTScorer on the same MiniLM (layer 6) and sacrebleu's sentence_bleu, in an aiohttp server. Each request is
one call of the reward function, run one at a time in a worker thread (as TRL calls a reward function),
torch on --threads threads. Prints "python-reward: on http://HOST:PORT" when listening.
"""
import argparse
import asyncio
import os
import sys
from concurrent.futures import ThreadPoolExecutor

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from aiohttp import web  # noqa: E402

END_OF_TURN = ["<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "</s>", "<end_of_turn>", "<eos>"]


def make_reward(metric, bert):
    if metric == "bertscore":
        import bert_score
        scorer = bert_score.BERTScorer(model_type=os.path.abspath(bert), num_layers=6, batch_size=64)

        def bertscore_reward(completions, reference, **kwargs):
            return scorer.score(completions, reference)[2].tolist()
        return bertscore_reward
    if metric == "sacrebleu":
        import sacrebleu

        def sacrebleu_reward(completions, reference, **kwargs):
            return [sacrebleu.sentence_bleu(c, r if isinstance(r, list) else [r]).score for c, r in zip(completions, reference)]
        return sacrebleu_reward
    sys.exit(f"python_reward_server: no metric {metric}")


def response_text(query, prompt):
    response = query[len(prompt):]
    stripped = True
    while stripped:
        stripped = False
        for token in END_OF_TURN:
            if response.endswith(token):
                response, stripped = response[: -len(token)], True
    return response


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--metric", default="bertscore")
    p.add_argument("--bert", default=".assets/minilm")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    reward = make_reward(args.metric, args.bert)
    worker = ThreadPoolExecutor(1)

    async def get_reward(request):
        data = await request.json()
        completions = [response_text(q, p) for q, p in zip(data["query"], data["prompts"])]
        if not completions:
            return web.json_response({"rewards": [], "scores": [], "extra_logs": {}})
        # bert_score takes one reference per candidate here (the benchmark sends one).
        labels = [label if isinstance(label, str) else label[0] for label in data["labels"]]
        rewards = await asyncio.get_running_loop().run_in_executor(worker, lambda: reward(completions, labels))
        return web.json_response({"rewards": rewards, "scores": rewards, "extra_logs": {args.metric: rewards}})

    async def metrics(request):
        return web.Response(text="")

    app = web.Application(client_max_size=32 << 20)
    app.router.add_post("/get_reward", get_reward)
    app.router.add_get("/metrics", metrics)

    async def start():
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        print(f"python-reward: {args.metric} on http://127.0.0.1:{port}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(start())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
