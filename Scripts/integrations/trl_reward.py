"""A TRL reward function that calls `refalign serve-reward` (POST /score). Copy this file next to your
training script; it needs only the standard library.

    from trl_reward import make_refalign_reward
    reward = make_refalign_reward("http://127.0.0.1:8000", reference_key="reference")
    trainer = GRPOTrainer(model=..., reward_funcs=[reward], train_dataset=dataset, ...)

The dataset needs a column named `reference_key` holding each prompt's reference (a string or a list of
strings); TRL passes dataset columns to reward functions as keyword arguments. The function is async, as
TRL recommends for remote rewards: TRL runs async reward functions on its own event loop, and the
blocking HTTP call runs in a worker thread (asyncio.to_thread). Conversational completions (lists of
messages) are scored on the last message's content.
"""
import asyncio
import json
import urllib.error
import urllib.request


def _text(x):
    if isinstance(x, str):
        return x
    if isinstance(x, list) and x and isinstance(x[-1], dict):
        return x[-1].get("content", "")
    raise TypeError(f"expected a string or a list of chat messages, got {type(x).__name__}")


def post_json(url, payload, timeout=180.0):
    """POST JSON, return the decoded reply; a server error raises RuntimeError with the server's message."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"refalign serve-reward {url}: HTTP {e.code}: {e.read().decode(errors='replace')}") from None


def make_refalign_reward(url="http://127.0.0.1:8000", reference_key="reference", timeout=180.0, name="refalign"):
    async def reward(prompts, completions, **kwargs):
        references = kwargs[reference_key]
        payload = {"completions": [_text(c) for c in completions], "references": list(references)}
        reply = await asyncio.to_thread(post_json, url.rstrip("/") + "/score", payload, timeout)
        return reply["rewards"]

    reward.__name__ = name  # TRL logs rewards/<__name__>
    return reward
