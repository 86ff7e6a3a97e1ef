"""Timing for the PyTorch side of the benchmarks: the median of timed calls after warm-up calls,
the same median bench/common.mjs takes of napinet's (the mean of the two middle samples for an
even count)."""
import statistics
import time


def median_seconds(fn, iters, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def median_ms(fn, iters, warmup):
    return 1000 * median_seconds(fn, iters, warmup)
