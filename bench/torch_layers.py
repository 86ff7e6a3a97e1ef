#!/usr/bin/env python3
"""PyTorch CPU side of bench/deep-layers.mjs: the deep MNIST network's layers (batch 128) timed on
request, so that napinet's and PyTorch's timings of each layer interleave in the same run. Reads one
command a line on stdin, "CASE ITERS" (or "quit"), and prints {"ms": [each call's ms]} for it; prints
{"ready": true, "torch": version} once set up. Cases (C channels, H×H input, K outputs):
  bn-forward C H, bn-backward C H         BatchNorm2d in training (aten native_batch_norm and its
                                          backward with dx, dweight, dbias)
  block-forward C K H POOL, block-backward C K H POOL
                                          Conv2d 3×3 (no bias) → BatchNorm2d → ReLU (→ MaxPool2d 2) as
                                          nn.Sequential in training: forward, and backward of the
                                          recorded forward (dx unless C = 1, dW, dweight, dbias);
                                          block-backward times forward + backward

    python3 bench/torch_layers.py --threads 2 [--clock wall|cpu]
"""
import argparse
import json
import sys

import torch
from torch import nn
from torch_timing import sample_seconds

N = 128


def bn_case(c, h):
    x = torch.randn(N, c, h, h)
    dy = torch.randn(N, c, h, h)
    weight, bias = torch.rand(c) + 0.5, torch.randn(c)
    running_mean, running_var = torch.zeros(c), torch.ones(c)

    def forward():
        return torch.ops.aten.native_batch_norm(x, weight, bias, running_mean, running_var, True, 0.1, 1e-5)

    _, save_mean, save_invstd = forward()

    def backward():
        return torch.ops.aten.native_batch_norm_backward(dy, x, weight, running_mean, running_var, save_mean,
                                                         save_invstd, True, 1e-5, [True, True, True])

    return forward, backward


def block_case(c, k, h, pool):
    layers = [nn.Conv2d(c, k, 3, bias=False), nn.BatchNorm2d(k), nn.ReLU()]
    if pool:
        layers.append(nn.MaxPool2d(2))
    block = nn.Sequential(*layers).train()
    x = torch.randn(N, c, h, h, requires_grad=c > 1)
    out = block(x)
    dy = torch.randn_like(out)

    def forward():  # a training forward: the graph is recorded
        return block(x)

    def forward_backward():  # bench/deep-layers.mjs subtracts the forward
        forward().backward(dy)

    return forward, forward_backward


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clock", default="wall", choices=["wall", "cpu"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cases = {}
    print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        name, iters = " ".join(words[:-1]), int(words[-1])
        if name not in cases:
            kind, *sizes = name.split()
            sizes = [int(s) for s in sizes]
            if kind.startswith("bn-"):
                forward, backward = bn_case(*sizes)
            else:
                forward, backward = block_case(*sizes)
            cases[f"{kind.split('-')[0]}-forward {' '.join(words[1:-1])}"] = forward
            cases[f"{kind.split('-')[0]}-backward {' '.join(words[1:-1])}"] = backward
        print(json.dumps({"ms": [1000 * t for t in sample_seconds(cases[name], iters, 2, args.clock)]}), flush=True)


if __name__ == "__main__":
    main()
