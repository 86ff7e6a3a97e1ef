#!/usr/bin/env python3
"""napinet ⇄ PyTorch: the same network in torch.nn, built from a napinet model folder.

    python3 scripts/torch_roundtrip.py run  MODEL_DIR INPUTS SHAPE OUTPUTS
        builds the torch.nn.Sequential that MODEL_DIR/model.json describes, loads
        MODEL_DIR/weights.safetensors with load_state_dict(strict=True), and writes its logits
        (float32 [N, classes]) for the float32 images in INPUTS, of SHAPE "N,C,H,W", to OUTPUTS.
    python3 scripts/torch_roundtrip.py make MODEL_DIR INPUTS SHAPE OUTPUTS [SEED]
        builds the same network with PyTorch's own initialisation (torch.manual_seed(SEED)),
        saves its state_dict into MODEL_DIR/weights.safetensors, and writes its logits.

Weights go through the `safetensors` package when it is installed and otherwise through the small
reader/writer below (same format: 8-byte header length, JSON header, little-endian data).
Used by test/torch_roundtrip.test.ts; prints one JSON line (what it did).
"""
import json
import pathlib
import struct
import sys

import numpy as np
import torch


def build(config):
    kind = config["type"]
    if kind == "Sequential":
        return torch.nn.Sequential(*[build(layer) for layer in config["layers"]])
    if kind == "Conv2d":
        return torch.nn.Conv2d(config["inChannels"], config["outChannels"], tuple(config["kernelSize"]),
                               stride=tuple(config["stride"]), padding=tuple(config["padding"]), bias=config["bias"])
    if kind == "Linear":
        return torch.nn.Linear(config["inFeatures"], config["outFeatures"], bias=config["bias"])
    if kind == "MaxPool2d":
        return torch.nn.MaxPool2d(tuple(config["kernelSize"]), stride=tuple(config["stride"]), padding=tuple(config["padding"]))
    if kind == "AvgPool2d":
        return torch.nn.AvgPool2d(tuple(config["kernelSize"]), stride=tuple(config["stride"]), padding=tuple(config["padding"]),
                                  count_include_pad=config["countIncludePad"])
    if kind == "ReLU":
        return torch.nn.ReLU()
    if kind == "Flatten":
        return torch.nn.Flatten()
    if kind in ("BatchNorm1d", "BatchNorm2d"):
        layer = getattr(torch.nn, kind)
        return layer(config["numFeatures"], eps=config["eps"], momentum=config["momentum"], affine=config["affine"],
                     track_running_stats=config["trackRunningStats"])
    if kind == "Dropout":
        return torch.nn.Dropout(config["p"])
    raise ValueError(f"no torch.nn equivalent for napinet layer {kind}")


def load_file(path):
    try:
        from safetensors.torch import load_file as load
        return load(str(path)), "safetensors"
    except ImportError:
        pass
    data = pathlib.Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", entry
        begin, end = entry["data_offsets"]
        array = np.frombuffer(data[8 + n + begin:8 + n + end], dtype="<f4").reshape(entry["shape"])
        out[name] = torch.from_numpy(array.copy())
    return out, "built-in reader"


def save_file(tensors, path):
    try:
        from safetensors.torch import save_file as save
        save(tensors, str(path), metadata={"format": "pt"})
        return "safetensors"
    except ImportError:
        pass
    header, payload = {"__metadata__": {"format": "pt"}}, bytearray()
    for name, t in tensors.items():
        raw = t.detach().contiguous().float().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [len(payload), len(payload) + len(raw)]}
        payload += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    pathlib.Path(path).write_bytes(struct.pack("<Q", len(text)) + text + bytes(payload))
    return "built-in writer"


def main(argv):
    mode, model_dir, inputs, shape, outputs = argv[:5]
    model_dir = pathlib.Path(model_dir)
    architecture = json.loads((model_dir / "model.json").read_text())["architecture"]
    torch.manual_seed(int(argv[5]) if len(argv) > 5 else 0)
    net = build(architecture).eval()
    if mode == "run":
        state, how = load_file(model_dir / "weights.safetensors")
        net.load_state_dict(state, strict=True)
    elif mode == "make":
        how = save_file(net.state_dict(), model_dir / "weights.safetensors")
    else:
        raise SystemExit(f"unknown mode {mode}")
    x = torch.from_numpy(np.fromfile(inputs, dtype="<f4").reshape([int(d) for d in shape.split(",")]))
    with torch.no_grad():
        logits = net(x)
    logits.numpy().astype("<f4").tofile(outputs)
    print(json.dumps({"mode": mode, "weights": how, "torch": torch.__version__, "shape": list(logits.shape)}))


if __name__ == "__main__":
    main(sys.argv[1:])
