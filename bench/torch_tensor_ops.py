#!/usr/bin/env python3
"""PyTorch CPU side of bench/tensor-ops.mjs: median milliseconds per call of the same tensor-maths
ops on the same shapes (broadcast adds, sums over dims, batched matmuls), with the given number of
threads. Prints one JSON line: {"torch", "threads", "ms": {case name: ms}}."""
import json
import sys

import torch
from torch_timing import median_ms


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    cases = json.loads(sys.argv[2])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    result = {}
    with torch.no_grad():
        for case in cases:
            kind = case["kind"]
            a = torch.rand(case["a"]) * 2 - 1
            if kind == "add":
                b = torch.rand(case["b"]) * 2 - 1
                out = torch.empty(torch.broadcast_shapes(a.shape, b.shape))
                fn = lambda a=a, b=b, out=out: torch.add(a, b, out=out)  # noqa: E731
            elif kind == "sum":
                dims = case["dims"]
                fn = lambda a=a, dims=dims: a.sum(dim=dims)  # noqa: E731
            else:
                b = torch.rand(case["b"]) * 2 - 1
                fn = lambda a=a, b=b: torch.matmul(a, b)  # noqa: E731
            result[case["name"]] = median_ms(fn, case["iters"], 5)
    print(json.dumps({"torch": torch.__version__, "threads": threads, "ms": result}))


if __name__ == "__main__":
    main()
