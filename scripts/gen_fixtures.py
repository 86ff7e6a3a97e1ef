#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures under test/fixtures/ (the only place PyTorch appears).

Each op family has a module in scripts/fixtures/ with a `cases()` generator. A case records its
float32 inputs and the reference outputs and gradients, computed by PyTorch in float64 from those
same float32 inputs, so the tests compare napinet's float32 result with an exact-as-possible value.

    pip install torch            # the CPU wheel installs from the local wheel cache
    python3 scripts/gen_fixtures.py            # all op families
    python3 scripts/gen_fixtures.py conv2d     # one family

File format (little-endian), read by test/helpers/fixtures.ts:
    8 bytes  b"NAPINETF"
    u32      format version (FORMAT_VERSION below; the reader names this script on a mismatch)
    u32      header length in bytes
    header   UTF-8 JSON: {"op", "version", "torch", "cases": [{"name", "params", "tensors":
             {name: {"dtype", "shape", "offset"}}}]}
    payload  the tensors' bytes, each 8-byte aligned; offsets count from the payload's start
"""
import importlib
import json
import pathlib
import pkgutil
import struct
import sys

import numpy as np
import torch

FORMAT_VERSION = 1
ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "test" / "fixtures"
DTYPES = {np.float32: "float32", np.float64: "float64", np.int32: "int32"}


def write_fixture(op, cases):
    header_cases = []
    payload = bytearray()
    for case in cases:
        tensors = {}
        for name, value in case["tensors"].items():
            array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            if array.dtype == np.int64:
                array = array.astype(np.int32)
            # (ascontiguousarray makes a 0-d array 1-d: keep the shape PyTorch gave, [] for a scalar)
            array = np.ascontiguousarray(array).reshape(array.shape)
            dtype = DTYPES.get(array.dtype.type)
            if dtype is None:
                raise TypeError(f"{op}/{case['name']}/{name}: unsupported dtype {array.dtype}")
            while len(payload) % 8:
                payload.append(0)
            tensors[name] = {"dtype": dtype, "shape": list(array.shape), "offset": len(payload)}
            payload += array.astype(array.dtype.newbyteorder("<")).tobytes()
        header_cases.append({"name": case["name"], "params": case.get("params", {}), "tensors": tensors})
    header = json.dumps(
        {"op": op, "version": FORMAT_VERSION, "torch": torch.__version__, "cases": header_cases},
        separators=(",", ":"),
    ).encode()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{op}.fixture"
    with open(path, "wb") as f:
        f.write(b"NAPINETF")
        f.write(struct.pack("<II", FORMAT_VERSION, len(header)))
        f.write(header)
        f.write(payload)
    print(f"{path.relative_to(ROOT)}: {len(header_cases)} cases, {len(payload) / 1e6:.2f} MB")


def main(argv):
    sys.path.insert(0, str(ROOT / "scripts"))
    import fixtures  # noqa: E402  (scripts/fixtures, one module per op family)

    names = argv or sorted(m.name for m in pkgutil.iter_modules(fixtures.__path__) if not m.name.startswith("_"))
    for name in names:
        module = importlib.import_module(f"fixtures.{name}")
        torch.manual_seed(0)
        np.random.seed(0)
        write_fixture(name, list(module.cases()))


if __name__ == "__main__":
    main(sys.argv[1:])
