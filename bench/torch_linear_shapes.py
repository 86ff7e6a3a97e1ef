#!/usr/bin/env python3
"""PyTorch CPU side of bench/linear-shapes.mjs: median milliseconds per call of the deep MNIST
network's Linear layers (batch 128): forward (torch.addmm), dW = dyᵀ·x alone, and dx + dW + db,
each into preallocated outputs as napinet's calls. Prints one JSON line.
Arguments: threads, iterations, clock ("wall" or "cpu": the process's CPU time, as napinet's)."""
import json
import statistics
import sys

import torch
from torch_timing import sample_seconds

SHAPES = [(1024, 256), (256, 128)]
N = 128


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    iters = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    clock = sys.argv[3] if len(sys.argv) > 3 else "wall"

    def median_ms(fn):
        return 1000 * statistics.median(sample_seconds(fn, iters, 5, clock))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    result = {}
    for in_f, out_f in SHAPES:
        name = f"{in_f}→{out_f}"
        x = torch.randn(N, in_f)
        w = torch.randn(out_f, in_f)
        b = torch.randn(out_f)
        dy = torch.randn(N, out_f)
        y = torch.empty(N, out_f)
        dx = torch.empty(N, in_f)
        dw = torch.empty(out_f, in_f)
        db = torch.empty(out_f)

        def backward():
            torch.mm(dy, w, out=dx)
            torch.mm(dy.t(), x, out=dw)
            torch.sum(dy, 0, out=db)

        result[f"{name} forward"] = median_ms(lambda: torch.addmm(b, x, w.t(), out=y))
        result[f"{name} dW"] = median_ms(lambda: torch.mm(dy.t(), x, out=dw))
        result[f"{name} dx+dW+db"] = median_ms(backward)
    print(json.dumps({"torch": torch.__version__, "threads": threads, "ms": result}))


if __name__ == "__main__":
    main()
