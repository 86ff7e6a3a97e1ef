#!/usr/bin/env python3
"""The seed recipe in PyTorch, as the yardstick for bench/seed-recipe.mjs: MNIST standardised,
10% validation split, Conv2d(1,8,5) → ReLU → MaxPool2d(2) → Flatten → Linear(1152,10), Adam
lr 0.01 with StepLR(500, 0.9) stepped every iteration, batch 64. Prints one JSON line.

    python3 bench/torch_seed_recipe.py --epochs 1 --threads 2 [--device cpu|cuda] [--limit N]
"""
import json
import time

import numpy as np
import torch

from torch_recipe import load_mnist, logits_of, recipe_arguments, set_up, train_step


def main():
    ap = recipe_arguments(epochs=1, batch_size=64)
    ap.add_argument("--limit", type=int, default=None,
                    help="use only the first N training images (quick runs, as napinet train --limit)")
    ap.add_argument("--loader", choices=["tensor", "dataloader"], default="tensor",
                    help="tensor: batches indexed from one tensor (lean); dataloader: the usual "
                         "TensorDataset + DataLoader(shuffle=True)")
    args = ap.parse_args()
    device = set_up(args)

    x, y, xt, yt = load_mnist(args.data)
    if args.limit is not None:
        x, y = x[:args.limit], y[:args.limit]
    x, xt = x.reshape(-1, 1, 28, 28), xt.reshape(-1, 1, 28, 28)
    order = np.random.default_rng(args.seed).permutation(len(x))
    held = len(x) // 10
    val_idx, train_idx = order[:held], order[held:]
    mean, std = x[train_idx].mean(), x[train_idx].std()
    norm = lambda a: torch.from_numpy((a - mean) / std).to(device)
    xtr, ytr = norm(x[train_idx]), torch.from_numpy(y[train_idx]).to(device)
    xte, yte = norm(xt), torch.from_numpy(yt).to(device)

    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(1152, 10)).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.StepLR(opt, 500, 0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    epoch_seconds = []
    n = len(xtr)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xtr, ytr), batch_size=args.batch_size, shuffle=True)

    def batches():
        if args.loader == "dataloader":
            yield from loader
            return
        perm = torch.randperm(n, device=device)
        for i in range(0, n, args.batch_size):
            idx = perm[i:i + args.batch_size]
            yield xtr[idx], ytr[idx]

    for _ in range(args.epochs):
        net.train()
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for xb, yb in batches():
            train_step(net, opt, loss_fn, xb, yb)
            sched.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        epoch_seconds.append(time.perf_counter() - start)
    logits = logits_of(net, xte)
    with torch.no_grad():
        test_loss = loss_fn(logits, yte).item()
    test_acc = (logits.argmax(1) == yte).float().mean().item()
    print(json.dumps({"torch": torch.__version__, "device": args.device, "threads": args.threads, "loader": args.loader,
                      "epochSeconds": epoch_seconds, "testLoss": test_loss, "testAccuracy": test_acc}))


if __name__ == "__main__":
    main()
