#!/usr/bin/env python3
"""Runs an ONNX file with onnxruntime (CPU) after onnx.checker (when the onnx package is present).

    python3 scripts/onnx_check.py MODEL.onnx INPUTS SHAPE OUTPUTS
        INPUTS: float32 little-endian values of SHAPE "N,C,H,W"; OUTPUTS: the model's one output
        as float32. Prints one JSON line: input/output names and shapes, onnxruntime's version.

Used by test/onnx.test.ts (napinet's export gives the same outputs as napinet).
"""
import json
import sys

import numpy as np
import onnxruntime as ort


def main(model, inputs, shape, outputs):
    checked = False
    try:
        import onnx
        onnx.checker.check_model(onnx.load(model), full_check=True)
        checked = True
    except ImportError:
        pass
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    x = np.fromfile(inputs, dtype="<f4").reshape([int(d) for d in shape.split(",")])
    (y,) = session.run(None, {session.get_inputs()[0].name: x})
    y.astype("<f4").tofile(outputs)
    print(json.dumps({
        "input": session.get_inputs()[0].name, "output": session.get_outputs()[0].name,
        "outputShape": list(y.shape), "onnxruntime": ort.__version__, "checked": checked,
    }))


if __name__ == "__main__":
    main(*sys.argv[1:5])
