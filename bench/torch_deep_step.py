#!/usr/bin/env python3
"""The deep MNIST network's training step in PyTorch, driven step block by step block from
bench/deep-step.mjs so that napinet's and PyTorch's steps interleave in the same run (A B A B …):
a shared, loaded machine then slows both alike. Same network (torch_deep_mnist.deep_network), Adam
lr 0.002, batch 128, standardised MNIST without augmentation (the step's cost does not depend on it).

Reads commands on stdin, one a line: "run K" runs K steps and prints {"ms": [...]} (each step's
milliseconds: wall-clock, or with --clock cpu the process's CPU time), "quit" ends. Prints {"ready": true, "torch": version} once set up.

    python3 bench/torch_deep_step.py --threads 2 [--clock wall|cpu]
"""
import json
import sys
import time

import numpy as np
import torch
from torch import nn

from torch_deep_mnist import deep_network
from torch_recipe import load_mnist, recipe_arguments, set_up, train_step


def main():
    ap = recipe_arguments(epochs=1, batch_size=128)
    ap.add_argument("--clock", default="wall", choices=["wall", "cpu"])
    args = ap.parse_args()
    now = time.process_time if args.clock == "cpu" else time.perf_counter
    device = set_up(args)
    x, y, _, _ = load_mnist(args.data)
    mean, std = x.mean(), x.std()
    xs = torch.from_numpy(((x - mean) / std).reshape(-1, 1, 28, 28).astype(np.float32))
    ys = torch.from_numpy(y)
    net = deep_network().to(device)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=0.002)
    loss_fn = nn.CrossEntropyLoss()
    perm = torch.randperm(len(xs))
    at = 0
    print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        times = []
        for _ in range(int(words[1])):
            if at + args.batch_size > len(xs):
                perm, at = torch.randperm(len(xs)), 0
            idx = perm[at:at + args.batch_size]
            at += args.batch_size
            start = now()
            train_step(net, opt, loss_fn, xs[idx], ys[idx])
            times.append((now() - start) * 1000)
        print(json.dumps({"ms": times}), flush=True)


if __name__ == "__main__":
    main()
