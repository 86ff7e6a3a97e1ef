#!/usr/bin/env python3
"""Inference throughput of PyTorch and onnxruntime (CPU), the yardsticks for bench/inference.mjs.

    python3 bench/inference.py MODEL_DIR MODEL.onnx IMAGES.u8 --threads 2

MODEL_DIR is a napinet model folder (model.json + weights.safetensors): PyTorch runs the same
torch.nn.Sequential with those weights (scripts/torch_roundtrip.py builds it); MODEL.onnx is the
same model exported by napinet with the standardisation and Softmax inside. Both do the same work
as napinet's Predictor: raw 0–255 pixels in, standardisation, network, softmax, argmax. Images
are uint8 [N, 28, 28]. Prints one JSON line: images/s at batch 1 and 256 for each, and versions.
"""
import argparse
import json
import pathlib
import sys

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from torch_roundtrip import build, load_file  # noqa: E402
from torch_timing import median_seconds  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("onnx")
    ap.add_argument("images")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup1", type=int, default=2000)
    ap.add_argument("--iters1", type=int, default=4000)
    ap.add_argument("--warmup256", type=int, default=20)
    ap.add_argument("--iters256", type=int, default=100)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    manifest = json.loads((pathlib.Path(a.model_dir) / "model.json").read_text())
    standardize = manifest["preprocessing"]["standardize"]
    mean, std = float(standardize["mean"][0]), float(standardize["std"][0])
    net = build(manifest["architecture"]).eval()
    net.load_state_dict(load_file(pathlib.Path(a.model_dir) / "weights.safetensors")[0], strict=True)
    images = np.fromfile(a.images, dtype=np.uint8).reshape(-1, 1, 28, 28)

    def torch_run(batch):
        with torch.inference_mode():
            x = (torch.from_numpy(batch).float() - mean) / std
            p = torch.softmax(net(x), dim=1)
            return p.argmax(dim=1).numpy()

    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = a.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(a.onnx, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def ort_run(batch):
        (p,) = session.run(None, {name: batch.astype(np.float32)})
        return p.argmax(axis=1)

    out = {"threads": a.threads, "versions": {"pytorch": torch.__version__, "onnxruntime": ort.__version__}}
    for label, run in [("pytorch", torch_run), ("onnxruntime", ort_run)]:
        cursor = [0]

        def one():
            i = cursor[0] = (cursor[0] + 1) % len(images)
            run(images[i:i + 1])

        b256 = images[:256]
        out[label] = {
            "batch1": 1 / median_seconds(one, a.iters1, a.warmup1),
            "batch256": 256 / median_seconds(lambda: run(b256), a.iters256, a.warmup256),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
