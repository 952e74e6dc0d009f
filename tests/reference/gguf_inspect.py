#!/usr/bin/env python3
"""Describe a GGUF file with the `gguf` package's reader, printed as JSON in
the shape of `monologue inspect --json`, so the two can be compared.

Usage: gguf_inspect.py MODEL.gguf
Offsets are absolute file offsets; shapes are outermost first.
"""
import json
import sys

try:
    from gguf import GGUFReader
except ImportError:
    sys.exit("error: the Python `gguf` package is missing (pip install gguf)")


def main(path):
    reader = GGUFReader(path)
    metadata = {}
    for name, field in reader.fields.items():
        # The reader lists the header's own numbers as pseudo-fields.
        if name.startswith("GGUF."):
            continue
        metadata[name] = field.contents()
    tensors = [
        {
            "name": t.name,
            "dtype": t.tensor_type.name,
            # GGUF stores dimensions innermost first.
            "shape": [int(d) for d in reversed(t.shape.tolist())],
            "offset": int(t.data_offset),
            "bytes": int(t.n_bytes),
        }
        for t in reader.tensors
    ]
    json.dump({"format": "gguf", "metadata": metadata, "tensors": tensors}, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
