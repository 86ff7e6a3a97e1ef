#!/usr/bin/env python3
"""PyTorch CPU side of bench/kernels.mjs: median milliseconds per call of the seed network's conv2d
forward, conv2d backward (weight and bias gradients only, as for a first layer), max-pool forward
and backward, conv2d → ReLU → max-pool forward and its backward (what napinet's fused kernels do,
as PyTorch's own sequence of ops), and the Linear layer forward+backward (dx, dw, db), at batch 64.
Prints one JSON line."""
import json
import sys

import torch
import torch.nn.functional as F
from torch_timing import median_ms as timed_ms


def median_ms(fn):
    return timed_ms(fn, iters=200, warmup=20)


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.randn(64, 1, 28, 28)
    w = torch.randn(8, 1, 5, 5, requires_grad=True)
    b = torch.randn(8, requires_grad=True)
    dy = torch.randn(64, 8, 24, 24)
    p = torch.randn(64, 8, 24, 24)
    dyp = torch.randn(64, 8, 12, 12)
    xl = torch.randn(64, 1152)
    wl = torch.randn(10, 1152, requires_grad=True)
    bl = torch.randn(10, requires_grad=True)
    dyl = torch.randn(64, 10)

    def conv_backward():
        torch.ops.aten.convolution_backward(dy, x, w, [8], [1, 1], [0, 0], [1, 1], False, [0, 0], 1, [False, True, True])

    _, idx = F.max_pool2d(p, 2, return_indices=True)

    xl.requires_grad_(True)

    def linear_fb():
        y = F.linear(xl, wl, bl)
        torch.autograd.grad(y, (xl, wl, bl), dyl)

    z = F.conv2d(x, w, b).detach()
    yr, idx_r = F.max_pool2d(F.relu(z), 2, return_indices=True)

    def block_forward():
        F.max_pool2d(F.relu(F.conv2d(x, w, b)), 2, return_indices=True)

    def block_backward():
        dz = torch.ops.aten.max_pool2d_with_indices_backward(dyp, z, [2, 2], [2, 2], [0, 0], [1, 1], False, idx_r)
        dz = torch.ops.aten.threshold_backward(dz, z, 0)
        torch.ops.aten.convolution_backward(dz, x, w, [8], [1, 1], [0, 0], [1, 1], False, [0, 0], 1, [False, True, True])

    with torch.no_grad():
        result = {
            "conv2d forward": median_ms(lambda: F.conv2d(x, w, b)),
            "conv2d backward (dw, db)": median_ms(conv_backward),
            "max-pool forward": median_ms(lambda: F.max_pool2d(p, 2, return_indices=True)),
            "max-pool backward": median_ms(lambda: F.max_unpool2d(dyp, idx, 2, output_size=(24, 24))),
            "fused conv2d+ReLU+max-pool forward": median_ms(block_forward),
            "fused conv2d+ReLU+max-pool backward (dw, db)": median_ms(block_backward),
        }
    result["linear forward+backward"] = median_ms(linear_fb)
    print(json.dumps({"torch": torch.__version__, "threads": threads, "ms": result}))


if __name__ == "__main__":
    main()
