#!/usr/bin/env python3
"""The deep MNIST network (examples/deep-mnist, `napinet train --model deep`) in PyTorch, as the
yardstick for bench/deep-mnist.mjs. Same data preparation (one scalar mean/std from the training
split, 10% held out for validation), same architecture, optimizer, schedule and augmentation
(random rotation and shift of each training image every epoch, bilinear, the same sampling rule as
lib/data/augment.ts; the random numbers differ). Prints one JSON line; epochSeconds is the training
part of each epoch, augmentSeconds the (numpy) augmentation before it, as napinet reports them.

    python3 bench/torch_deep_mnist.py --epochs 12 --threads 2 [--no-augment] [--device cpu|cuda]
"""
import json
import time

import numpy as np
import torch
from torch import nn

from torch_recipe import load_mnist, logits_of, recipe_arguments, set_up, train_epoch


def deep_network():
    """The layers of lib/chapter/models.ts deepNetwork(): 3×3 convolutions with BatchNorm2d and ReLU,
    two max-pools, then FC-BN-ReLU-Dropout twice and a final Linear."""
    def conv(cin, cout):
        return [nn.Conv2d(cin, cout, 3, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    def fc(fin, fout):
        return [nn.Linear(fin, fout, bias=False), nn.BatchNorm1d(fout), nn.ReLU(), nn.Dropout(0.25)]

    return nn.Sequential(
        *conv(1, 32), *conv(32, 32), nn.MaxPool2d(2),     # 28 → 26 → 24 → 12
        *conv(32, 64), *conv(64, 64), nn.MaxPool2d(2),    # 12 → 10 → 8 → 4
        nn.Flatten(),
        *fc(64 * 4 * 4, 256), *fc(256, 128),
        nn.Linear(128, 10))


def augment(images, rng, max_degrees, max_shift, fill):
    """images [n, 28, 28] → each rotated by U(−max_degrees, max_degrees) about the centre and
    shifted by U(−max_shift, max_shift) pixels per axis; bilinear, `fill` outside the image."""
    n, h, w = images.shape
    angle = np.deg2rad(rng.uniform(-max_degrees, max_degrees, n)).astype(np.float32)
    tx = rng.uniform(-max_shift, max_shift, n).astype(np.float32)
    ty = rng.uniform(-max_shift, max_shift, n).astype(np.float32)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    # Output pixel (y, x) samples the source at R(−θ)·((y, x) − centre − t) + centre.
    dy = yy[None] - cy - ty[:, None, None]
    dx = xx[None] - cx - tx[:, None, None]
    sx = cos * dx + sin * dy + cx
    sy = -sin * dx + cos * dy + cy
    x0, y0 = np.floor(sx), np.floor(sy)
    fx, fy = sx - x0, sy - y0
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    out = np.zeros_like(images)
    base = np.arange(n)[:, None, None]

    def tap(yi, xi):
        inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
        v = images[base, np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
        return np.where(inside, v, fill)

    out = ((1 - fy) * ((1 - fx) * tap(y0, x0) + fx * tap(y0, x0 + 1))
           + fy * ((1 - fx) * tap(y0 + 1, x0) + fx * tap(y0 + 1, x0 + 1)))
    return out.astype(np.float32)


def main():
    ap = recipe_arguments(epochs=12, batch_size=128)
    ap.add_argument("--lr", type=float, default=0.002)
    ap.add_argument("--gamma", type=float, default=0.7, help="lr × gamma after every epoch")
    ap.add_argument("--rotation", type=float, default=10.0)
    ap.add_argument("--shift", type=float, default=2.0)
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training images")
    ap.add_argument("--log", action="store_true", help="print a line per epoch on stderr")
    args = ap.parse_args()
    device = set_up(args)
    rng = np.random.default_rng(args.seed)

    x, y, xt, yt = load_mnist(args.data)
    if args.limit:
        x, y = x[:args.limit], y[:args.limit]
    order = rng.permutation(len(x))
    held = round(len(x) * 0.1)
    val_idx, train_idx = np.sort(order[:held]), np.sort(order[held:])
    mean, std = x[train_idx].mean(), x[train_idx].std()
    clean = (x[train_idx] - mean) / std
    fill = (0 - mean) / std
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a).reshape(-1, 1, 28, 28)).to(device)
    ytr = torch.from_numpy(y[train_idx]).to(device)
    xva, yva = as_tensor((x[val_idx] - mean) / std), torch.from_numpy(y[val_idx]).to(device)
    xte, yte = as_tensor((xt - mean) / std), torch.from_numpy(yt).to(device)

    net = deep_network().to(device)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1, args.gamma)
    loss_fn = nn.CrossEntropyLoss()

    def accuracy(xs, ys):
        logits = logits_of(net, xs)
        return loss_fn(logits, ys).item(), (logits.argmax(1) == ys).float().mean().item()

    epoch_seconds, augment_seconds, history = [], [], []
    for epoch in range(args.epochs):
        start = time.perf_counter()
        xtr = as_tensor(clean if args.no_augment else augment(clean, rng, args.rotation, args.shift, fill))
        augment_seconds.append(time.perf_counter() - start)
        epoch_seconds.append(train_epoch(net, opt, loss_fn, xtr, ytr, args.batch_size))
        sched.step()
        val_loss, val_acc = accuracy(xva, yva)
        history.append({"epoch": epoch, "seconds": epoch_seconds[-1], "valLoss": val_loss, "valAccuracy": val_acc})
        if args.log:
            print(f"epoch {epoch}: {epoch_seconds[-1]:.1f} s, val loss {val_loss:.4f}, accu {val_acc:.4f}", file=__import__("sys").stderr)
    test_loss, test_acc = accuracy(xte, yte)
    print(json.dumps({"torch": torch.__version__, "device": args.device, "threads": args.threads,
                      "epochs": args.epochs, "augment": not args.no_augment, "epochSeconds": epoch_seconds,
                      "augmentSeconds": augment_seconds, "history": history,
                      "parameters": sum(p.numel() for p in net.parameters()),
                      "testLoss": test_loss, "testAccuracy": test_acc}))


if __name__ == "__main__":
    main()
