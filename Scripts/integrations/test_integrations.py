"""Real-client tests of `refalign serve-reward` (run by Scripts/test-serve-reward; needs a built refalign and
.venv-ref): OpenRLHF's two HTTP clients (openrlhf_client.py), the TRL and verl integration functions, TRL's
GRPOTrainer for two steps calling the TRL function, bad input, and shutdown on SIGTERM.
Expected rewards come from `refalign score` on the same texts.

    .venv-ref/bin/python -m unittest Scripts/integrations/test_integrations.py
"""
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
os.environ["HF_HUB_OFFLINE"] = "1"

import openrlhf_client  # noqa: E402
import trl_reward  # noqa: E402
import verl_reward  # noqa: E402
from serve_reward import ROOT, RewardServer, refalign_binary  # noqa: E402

CHATML = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
SAMPLES = [  # (question, response, references)
    ("What is the capital of France?", "The capital of France is Paris.", ["Paris is the capital of France."]),
    ("Name a primary colour.", "Red is a primary colour.", ["Red.", "Blue is one of the primary colours."]),
    ("Say hello in German.", "Hallo! Schön, dich zu sehen.", ["Hallo."]),
    ("Empty answer?", "", ["Something."]),
    ("Unicode?", "naïve café – 東京 🙂", ["naive cafe in Tokyo"]),
]


def refalign_score(metric, rows, field="score"):
    """`refalign score` on (completion, references) rows: the value the server must return."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for completion, references in rows:
            f.write(json.dumps({"hypothesis": completion, "references": references}) + "\n")
    out = subprocess.run([refalign_binary(), "score", "--metric", metric, "--input", f.name], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    os.unlink(f.name)
    return [json.loads(line)[field] for line in out.splitlines()]


def post(url, body, content_type="application/json"):
    """(status, decoded JSON) for a raw body."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


class OpenRLHFClients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = RewardServer("bleu")
        cls.url = cls.server.__enter__()
        cls.expected = refalign_score("bleu", [(r, refs) for _, r, refs in SAMPLES])

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def test_v0_11_one_sample_per_request_over_two_servers(self):
        # --reward.remote_url url1,url2: the first server gets the sample, the second an empty batch.
        endpoints = [self.url + "/get_reward", self.url + "/"]

        async def run():
            labels = [refs[0] if len(refs) == 1 else refs for _, _, refs in SAMPLES]
            return await asyncio.gather(*[
                openrlhf_client.single_turn_reward(endpoints, CHATML.format(q) + r + "<|im_end|>", CHATML.format(q), label)
                for (q, r, _), label in zip(SAMPLES, labels)])

        results = asyncio.run(run())
        self.assertEqual([reward for reward, _, _ in results], [[e] for e in self.expected])
        self.assertEqual([scores for _, scores, _ in results], [[e] for e in self.expected])
        self.assertEqual(results[0][2], {"bleu": [self.expected[0]]})
        empty = asyncio.run(openrlhf_client.fetch_rewards_via_http([self.url + "/get_reward"], [], [], []))
        self.assertEqual(empty, [{"rewards": [], "scores": [], "extra_logs": {}}])

    def test_v0_9_whole_batches_split_over_servers(self):
        queries = [CHATML.format(q) + r + "<|im_end|>" for q, r, _ in SAMPLES]
        prompts = [CHATML.format(q) for q, _, _ in SAMPLES]
        labels = [refs for _, _, refs in SAMPLES]
        answers = openrlhf_client.get_rewards_batched([self.url + "/get_reward", self.url + "/"], queries, prompts, labels)
        self.assertEqual(len(answers), 2)
        self.assertEqual(answers[0]["rewards"] + answers[1]["rewards"], self.expected)
        self.assertEqual(answers[0]["extra_logs"]["bleu"] + answers[1]["extra_logs"]["bleu"], self.expected)

    def test_bad_input_is_400_naming_the_field_and_serving_goes_on(self):
        url = self.url + "/get_reward"
        cases = [
            (b'{"query": [', "body: malformed JSON"),
            (b'{"query": ["\xff"], "prompts": [""], "labels": ["r"]}', "body: not valid UTF-8"),
            (b'{"query": "x", "prompts": [""], "labels": ["r"]}', "query: expected a list of strings, got a string"),
            (b'{"query": ["x"], "prompts": ["", ""], "labels": ["r"]}', "prompts: 2 items, but query has 1"),
            (b'{"query": ["x"], "prompts": [""], "labels": [5]}', "labels[0]: expected a string or a list of strings, got a number or boolean"),
            (b'{"query": ["x"], "prompts": ["y"], "labels": ["r"]}', "query[0]: does not start with prompts[0]"),
            (b'{"query": ["x"], "prompts": [""], "labels": [""]}',
             'labels[0]: empty reference (OpenRLHF sends "" without --data.label_key)'),
        ]
        for body, message in cases:
            self.assertEqual(post(url, body), (400, {"error": message}), body)
        self.assertEqual(post(self.url + "/score", b'{"completions": ["a"], "references": ["b"], "prompts": [1]}'),
                         (400, {"error": "prompts[0]: expected a string, got a number or boolean"}))
        status, reply = post(url, json.dumps({"query": ["a b"], "prompts": ["a "], "labels": ["b"]}).encode())
        self.assertEqual(status, 200)
        with urllib.request.urlopen(self.url + "/health") as r:
            self.assertEqual(json.loads(r.read()), {"status": "ok", "metric": "bleu"})
        with urllib.request.urlopen(self.url + "/metrics") as r:
            text = r.read().decode()
        self.assertIn('refalign_reward_requests_total{path="/get_reward",code="400"}', text)
        self.assertIn("refalign_reward_queue_items 0", text)


class Limits(unittest.TestCase):
    def test_oversized_body_is_400(self):
        with RewardServer("bleu", "--max-body-bytes", "1000") as url:
            body = json.dumps({"completions": ["x" * 2000], "references": ["y"]}).encode()
            self.assertEqual(post(url + "/score", body),
                             (400, {"error": "body: larger than the limit of 1000 bytes (--max-body-bytes)"}))
            self.assertEqual(post(url + "/score", b'{"completions": ["x"], "references": ["x"]}')[0], 200)

    def test_sigterm_finishes_in_flight_requests(self):
        server = RewardServer("bleu", "--batch-window-ms", "1500")
        url = server.__enter__()
        result = {}
        thread = threading.Thread(target=lambda: result.update(
            reply=post(url + "/score", b'{"completions": ["a b c"], "references": ["a b c"]}')))
        thread.start()
        time.sleep(0.5)  # the request waits in its batching window
        code, out = server.stop()
        thread.join()
        self.assertEqual(result["reply"][0], 200)
        self.assertEqual(code, 0)
        self.assertIn("serve-reward: stopped", out)

    def test_weighted_sum_with_bertscore(self):
        rows = [(r, refs) for _, r, refs in SAMPLES]
        bleu, f1 = refalign_score("bleu", rows), refalign_score("bertscore", rows, "f1")
        with RewardServer("bleu:0.25,bertscore:0.75") as url:
            status, reply = post(url + "/score", json.dumps({"completions": [r for r, _ in rows],
                                                            "references": [refs for _, refs in rows]}).encode())
        self.assertEqual(status, 200)
        self.assertEqual(reply["components"]["bleu"], bleu)
        for got, want in zip(reply["components"]["bertscore_f"], f1):
            self.assertAlmostEqual(got, want, delta=1e-6)  # one batch here, another in `refalign score`
        for got, b, f in zip(reply["rewards"], bleu, reply["components"]["bertscore_f"]):
            self.assertAlmostEqual(got, 0.25 * b + 0.75 * f, delta=1e-12)


class Integrations(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = RewardServer("bleu")
        cls.url = cls.server.__enter__()
        cls.rows = [(r, refs) for _, r, refs in SAMPLES]
        cls.expected = refalign_score("bleu", cls.rows)

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def test_trl_reward_function(self):
        reward = trl_reward.make_refalign_reward(self.url, reference_key="reference")
        self.assertTrue(asyncio.iscoroutinefunction(reward))
        conversational = [[{"role": "assistant", "content": r}] for r, _ in self.rows]
        got = asyncio.run(reward(prompts=[q for q, _, _ in SAMPLES], completions=conversational,
                                 reference=[refs for _, refs in self.rows]))
        self.assertEqual(got, self.expected)

    def test_verl_compute_score(self):
        verl_reward.URL = self.url
        self.assertEqual([verl_reward.compute_score("mt_bench", r, refs if len(refs) > 1 else refs[0]) for r, refs in self.rows],
                         self.expected)
        self.assertEqual(verl_reward.compute_score_batch(["mt_bench"] * len(self.rows), [r for r, _ in self.rows],
                                                         [refs for _, refs in self.rows], [{}] * len(self.rows)), self.expected)
        with self.assertRaisesRegex(RuntimeError, "HTTP 400.*references"):
            verl_reward.compute_score_batch(["x"], ["a"], [[]], [{}])

    def test_trl_grpo_trainer_two_steps(self):
        import torch
        from datasets import Dataset
        from tokenizers import Tokenizer, models, pre_tokenizers
        from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
        from trl import GRPOConfig, GRPOTrainer

        torch.manual_seed(0)
        torch.set_num_threads(1)
        words = [f"w{i}" for i in range(3, 64)]
        vocab = {"<pad>": 0, "<bos>": 1, "<eos>": 2, **{w: i for i, w in enumerate(words, 3)}}
        backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<pad>"))
        backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>",
                                            bos_token="<bos>", padding_side="left")
        config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                             num_key_value_heads=1, max_position_embeddings=64, bos_token_id=1, eos_token_id=2, pad_token_id=0)
        workdir = tempfile.mkdtemp(prefix="serve-reward-grpo-")
        LlamaForCausalLM(config).save_pretrained(os.path.join(workdir, "model"))
        tokenizer.save_pretrained(os.path.join(workdir, "model"))
        dataset = Dataset.from_dict({"prompt": ["w3 w7 w9", "w5 w11 w8", "w4 w4 w6", "w10 w12 w13"],
                                     "reference": [["w7 w9 w3"], ["w11 w8"], ["w4 w6", "w6"], ["w12 w13 w10"]]})
        args = GRPOConfig(output_dir=os.path.join(workdir, "out"), use_cpu=True, report_to=[], bf16=False,
                          num_generations=4, per_device_train_batch_size=4, max_completion_length=6, max_steps=2,
                          logging_steps=1, save_strategy="no", seed=0, disable_tqdm=True, model_init_kwargs={"dtype": torch.float32})
        reward = trl_reward.make_refalign_reward(self.url, reference_key="reference")
        trainer = GRPOTrainer(model=os.path.join(workdir, "model"), reward_funcs=[reward], args=args,
                              train_dataset=dataset, processing_class=tokenizer)
        before = self.items_scored()
        trainer.train()
        self.assertEqual(trainer.state.global_step, 2)
        logged = [h for h in trainer.state.log_history if "rewards/refalign/mean" in h]
        self.assertEqual(len(logged), 2)
        self.assertEqual(self.items_scored() - before, 2 * 4)  # two steps × 4 completions, each scored once

    def items_scored(self):
        with urllib.request.urlopen(self.url + "/metrics") as r:
            line = next(l for l in r.read().decode().splitlines() if l.startswith("refalign_reward_items_total"))
        return int(line.split()[1])


if __name__ == "__main__":
    unittest.main()
