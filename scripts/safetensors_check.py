#!/usr/bin/env python3
"""What the reference safetensors loader (the Rust crate, through the `safetensors` Python package)
says of each file named on the command line: prints one JSON object {file: "accepted" | error}.
Used by test/safetensors.test.ts to check that napinet refuses exactly what the reference refuses.
"""
import json
import sys

from safetensors._safetensors_rust import deserialize

verdicts = {}
for name in sys.argv[1:]:
    with open(name, "rb") as f:
        data = f.read()
    try:
        deserialize(data)
        verdicts[name] = "accepted"
    except Exception as error:  # SafetensorError and the header's JSON errors alike
        verdicts[name] = str(error)
print(json.dumps(verdicts))
