#!/usr/bin/env python3
"""PyTorch CPU side of bench/conv-shapes.mjs: median milliseconds per call of the deep MNIST
network's four 3×3 convolutions (no bias, padding 0, batch 128): forward, backward dW alone,
backward dx + dW, and dx (the difference, as napinet reports it). Prints one JSON line.
Arguments: threads, iterations, clock ("wall" or "cpu": the process's CPU time, as napinet's)."""
import json
import statistics
import sys

import torch
import torch.nn.functional as F
from torch_timing import sample_seconds

SHAPES = [(1, 32, 28), (32, 32, 26), (32, 64, 12), (64, 64, 10)]
N = 128


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    iters = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    clock = sys.argv[3] if len(sys.argv) > 3 else "wall"

    def median_ms(fn, iters, warmup):
        return 1000 * statistics.median(sample_seconds(fn, iters, warmup, clock))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    result = {}
    with torch.no_grad():
        for c, k, h in SHAPES:
            o = h - 2
            name = f"{c}→{k} {h}×{h}"
            x = torch.randn(N, c, h, h)
            w = torch.randn(k, c, 3, 3)
            dy = torch.randn(N, k, o, o)

            def backward(mask):
                return lambda: torch.ops.aten.convolution_backward(
                    dy, x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1, mask)

            result[f"{name} forward"] = median_ms(lambda: F.conv2d(x, w), iters, 3)
            result[f"{name} dW"] = median_ms(backward([False, True, False]), iters, 3)
            if c > 1:
                result[f"{name} dx+dW"] = median_ms(backward([True, True, False]), iters, 3)
                result[f"{name} dx"] = result[f"{name} dx+dW"] - result[f"{name} dW"]
    print(json.dumps({"torch": torch.__version__, "threads": threads, "ms": result}))


if __name__ == "__main__":
    main()
