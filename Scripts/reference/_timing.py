"""The timing rule every reference benchmark shares with the Swift side: one warm-up call, then the median
of `repeats` timed calls of units per second. `body(i)` runs once (i = -1 for the warm-up) and returns the
units it did."""
import time


def median_rate(body, repeats):
    body(-1)
    values = []
    for i in range(repeats):
        start = time.perf_counter()
        units = body(i)
        values.append(units / (time.perf_counter() - start))
    return sorted(values)[len(values) // 2]
