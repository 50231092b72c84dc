"""HF evaluate's "bleu" metric (smooth=True), transcribed: evaluate loads the metric's code from the hub,
which is unreachable offline. It is the TensorFlow-NMT compute_bleu over sacrebleu's Tokenizer13a (the
tokenizer evaluate copies), as `evaluate.load("bleu")` fetches it from tensorflow/nmt master (the "# From:" URL of
its `from .nmt_bleu import compute_bleu`). When the hypothesis or the shortest reference has no tokens, evaluate
raises ZeroDivisionError; this returns None there (RefAlign's rule for those cases is 0: BLEUBERI returns 0 for an
empty completion, and an empty reference must not pay)."""
import collections
import math

from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

tokenize_13a = Tokenizer13a()


def ngrams(tokens, max_order=4):
    counts = collections.Counter()
    for order in range(1, max_order + 1):
        for i in range(len(tokens) - order + 1):
            counts[tuple(tokens[i:i + order])] += 1
    return counts


def evaluate_bleu(hypothesis, references):
    translation = tokenize_13a(hypothesis).split()
    refs = [tokenize_13a(r).split() for r in references]
    if not translation or min(len(r) for r in refs) == 0:
        return None  # evaluate raises ZeroDivisionError here (bp divides by the hypothesis/shortest-reference length)
    merged = collections.Counter()
    for r in refs:
        merged |= ngrams(r)
    overlap = ngrams(translation) & merged
    matches, possible = [0] * 4, [0] * 4
    for gram, count in overlap.items():
        matches[len(gram) - 1] += count
    for order in range(1, 5):
        if len(translation) - order + 1 > 0:
            possible[order - 1] += len(translation) - order + 1
    precisions = [(matches[i] + 1.0) / (possible[i] + 1.0) for i in range(4)]
    geo = math.exp(sum(0.25 * math.log(p) for p in precisions))
    ratio = len(translation) / min(len(r) for r in refs)
    return geo * (1.0 if ratio > 1.0 else math.exp(1 - 1.0 / ratio))
