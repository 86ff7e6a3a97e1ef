#!/usr/bin/env python3
"""The fast recipe (lib/chapter/fast_recipe.ts, `napinet train --recipe fast`) in PyTorch, as the
yardstick for bench/fast-recipe.mjs: MNIST standardised with the training split's mean and std, 10%
held out (not used: the validation pass is outside the timed training in both), the network

    Conv2d(1,12,5) → ReLU → MaxPool2d(2) → Conv2d(12,24,3) → MaxPool2d(2) → BatchNorm2d → ReLU →
    Flatten → Linear(600,10)

Adam under OneCycleLR(max_lr 0.02, pct_start 0.35, cosine, cycle_momentum False: napinet's
OneCycleLR cycles the rate only) stepped every iteration, CrossEntropyLoss(label_smoothing=0.05),
batch 128, 2 epochs, batches indexed out of one tensor (PyTorch's fastest way to feed them).
Prints one JSON line: the seconds of each epoch's training and the test accuracy.

    python3 bench/torch_fast_recipe.py --epochs 2 --threads 2 --seed 0
"""
import json
import math

import numpy as np
import torch

from torch_recipe import load_mnist, logits_of, recipe_arguments, set_up, train_epoch


def fast_network(channels=(12, 24), classes=10):
    c1, c2 = channels
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, c1, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3), nn.MaxPool2d(2), nn.BatchNorm2d(c2), nn.ReLU(),
        nn.Flatten(), nn.Linear(c2 * 5 * 5, classes))


def main():
    ap = recipe_arguments(epochs=2, batch_size=128)
    ap.add_argument("--lr", type=float, default=0.02, help="the one-cycle schedule's peak rate")
    ap.add_argument("--pct-start", type=float, default=0.35)
    ap.add_argument("--label-smoothing", type=float, default=0.05)
    ap.add_argument("--channels", default="12,24", help="output channels of the two convolutions")
    args = ap.parse_args()
    device = set_up(args)

    x, y, xt, yt = load_mnist(args.data)
    x, xt = x.reshape(-1, 1, 28, 28) / 255, xt.reshape(-1, 1, 28, 28) / 255
    order = np.random.default_rng(args.seed).permutation(len(x))
    train_idx = order[len(x) // 10:]
    mean, std = x[train_idx].mean(), x[train_idx].std()
    norm = lambda a: torch.from_numpy(((a - mean) / std).astype(np.float32)).to(device)
    xtr, ytr = norm(x[train_idx]), torch.from_numpy(y[train_idx]).to(device)
    xte, yte = norm(xt), torch.from_numpy(yt).to(device)

    net = fast_network(tuple(int(c) for c in args.channels.split(","))).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    n = len(xtr)
    steps_per_epoch = math.ceil(n / args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch,
                                                pct_start=args.pct_start, cycle_momentum=False)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    epoch_seconds = [train_epoch(net, opt, loss_fn, xtr, ytr, args.batch_size, after_step=sched.step) for _ in range(args.epochs)]
    test_acc = (logits_of(net, xte).argmax(1) == yte).float().mean().item()
    print(json.dumps({"torch": torch.__version__, "device": args.device, "threads": args.threads, "seed": args.seed,
                      "epochSeconds": epoch_seconds, "testAccuracy": test_acc}))


if __name__ == "__main__":
    main()
