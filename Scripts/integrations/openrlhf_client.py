"""OpenRLHF's remote-reward HTTP clients, re-implemented faithfully for tests (OpenRLHF itself needs its GPU
stack: deepspeed, vllm, ray). Both read from github.com/OpenRLHF/OpenRLHF:

* `fetch_rewards_via_http`: v0.11.0 (commit 3c3be6234e0cb353e76bb8019947db9dfe99fca7),
  openrlhf/utils/agent.py, SingleTurnAgentExecutor._fetch_rewards_via_http and the lines of
  SingleTurnAgentExecutor.execute that read its answer (`--reward.remote_url`, possibly several URLs,
  one sample per call, aiohttp, 5 tries, 180 s timeout).
* `get_rewards_batched`: v0.9.0-6 (commit 591b148c, the last with openrlhf/utils/remote_rm_utils.py),
  request_api_wrapper and RemoteRewardModel.get_rewards (`--remote_rm_url`, whole batches split over the
  servers, requests.post; the @ray.remote tasks become threads here).
Only logging, ray and the retry sleep's length are changed (retries sleep 0.1 s instead of 1 s).
"""
import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import requests


# --- v0.11.0, openrlhf/utils/agent.py -------------------------------------------------------------
async def fetch_rewards_via_http(reward_endpoints, queries_list, prompts_list, labels_list, session=None):
    """HTTP fallback: shard requests across servers. (`session`: reuse one aiohttp session; OpenRLHF opens one per try.)"""
    num_servers = len(reward_endpoints)
    batch_size = (len(queries_list) + num_servers - 1) // num_servers
    timeout = aiohttp.ClientTimeout(total=180)

    tasks = []
    for i, rm in enumerate(reward_endpoints):
        start_idx = i * batch_size
        end_idx = min((i + 1) * batch_size, len(queries_list))
        payload = {
            "query": queries_list[start_idx:end_idx],
            "prompts": prompts_list[start_idx:end_idx],
            "labels": labels_list[start_idx:end_idx],
        }

        async def _post_request(url, data, try_max_times=5):
            for _ in range(try_max_times):
                try:
                    if session is not None:
                        async with session.post(url, json=data) as response:
                            response.raise_for_status()
                            return await response.json()
                    async with aiohttp.ClientSession(timeout=timeout) as s:
                        async with s.post(url, json=data) as response:
                            response.raise_for_status()
                            return await response.json()
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            raise RuntimeError(f"Request error for {try_max_times} times, returning None. Please check the API server.")

        tasks.append(asyncio.create_task(_post_request(rm, payload)))
    return await asyncio.gather(*tasks)


async def single_turn_reward(reward_endpoints, query, prompt, label, session=None):
    """What SingleTurnAgentExecutor.execute stores for one sample: (reward, scores, extra_logs)."""
    rewards_info_list = await fetch_rewards_via_http(reward_endpoints, [query], [prompt], [label], session)
    rewards_info = rewards_info_list[0] if rewards_info_list else None
    score_value = rewards_info.get("scores")
    if score_value is None:
        score_value = rewards_info.get("rewards")
    return rewards_info.get("rewards"), score_value, rewards_info.get("extra_logs") or {}


# --- v0.9.0-6, openrlhf/utils/remote_rm_utils.py ----------------------------------------------------
def request_api_wrapper(url, data, try_max_times=5):
    """Synchronous request API wrapper"""
    headers = {"Content-Type": "application/json"}
    for _ in range(try_max_times):
        try:
            response = requests.post(url=url, json=data, headers=headers, timeout=180)
            response.raise_for_status()  # Raise an HTTPError for bad responses
            return response.json()
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise Exception(f"Request error for {try_max_times} times, returning None. Please check the API server.")


def get_rewards_batched(remote_rm_url, queries_list, prompts_list, labels_list):
    """RemoteRewardModel.get_rewards without ray: one call per server, concurrently."""
    num_servers = len(remote_rm_url)
    batch_size = (len(queries_list) + num_servers - 1) // num_servers
    with ThreadPoolExecutor(num_servers) as pool:
        futures = []
        for i in range(num_servers):
            start_idx = i * batch_size
            end_idx = min((i + 1) * batch_size, len(queries_list))
            futures.append(pool.submit(request_api_wrapper, remote_rm_url[i],
                                       {"query": queries_list[start_idx:end_idx], "prompts": prompts_list[start_idx:end_idx],
                                        "labels": labels_list[start_idx:end_idx]}))
        return [f.result() for f in futures]
