"""Timing for the PyTorch side of the benchmarks: the median of timed calls after warm-up calls,
the same median bench/common.mjs takes of napinet's (the mean of the two middle samples for an
even count)."""
import statistics
import time


def sample_seconds(fn, iters, warmup, clock="wall"):
    """Seconds of each of `iters` calls after `warmup` calls: wall-clock time, or with clock "cpu"
    the process's CPU time (all threads), as bench/common.mjs sampleMs."""
    for _ in range(warmup):
        fn()
    now = time.process_time if clock == "cpu" else time.perf_counter
    times = []
    for _ in range(iters):
        t = now()
        fn()
        times.append(now() - t)
    return times


def median_seconds(fn, iters, warmup):
    return statistics.median(sample_seconds(fn, iters, warmup))


def median_ms(fn, iters, warmup):
    return 1000 * median_seconds(fn, iters, warmup)
