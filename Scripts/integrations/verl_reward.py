"""verl reward functions that call `refalign serve-reward` (POST /score). Copy this file; it needs only
the standard library. The server URL is REFALIGN_REWARD_URL (default http://127.0.0.1:8000).

Per sample (verl's default "naive" reward manager):
    custom_reward_function.path=verl_reward.py custom_reward_function.name=compute_score
Batched, one request per batch (verl's "batch" reward manager):
    custom_reward_function.path=verl_reward.py custom_reward_function.name=compute_score_batch \
    reward_model.reward_manager=batch

`ground_truth` is the reference: a string or a list of strings (the parquet's reward_model.ground_truth).
"""
import json
import os
import urllib.error
import urllib.request

URL = os.environ.get("REFALIGN_REWARD_URL", "http://127.0.0.1:8000")
TIMEOUT = float(os.environ.get("REFALIGN_REWARD_TIMEOUT", "180"))


def _references(ground_truth):
    if isinstance(ground_truth, str):
        return [ground_truth]
    return [str(r) for r in ground_truth]  # list, tuple or numpy array of strings


def _score(solutions, ground_truths):
    payload = {"completions": list(solutions), "references": [_references(g) for g in ground_truths]}
    request = urllib.request.Request(URL.rstrip("/") + "/score", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return json.loads(response.read())["rewards"]
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"refalign serve-reward: HTTP {e.code}: {e.read().decode(errors='replace')}") from None


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    return _score([solution_str], [ground_truth])[0]


def compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos=None, **kwargs):
    return _score(solution_strs, ground_truths)
