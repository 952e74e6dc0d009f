#!/usr/bin/env python3
"""Reference (de)quantization with the `gguf` package, for Monologue's tests.

    gguf_quants.py dequantize TYPE BLOCKS.bin OUT.f32   # raw blocks -> little-endian f32
    gguf_quants.py quantize   TYPE VALUES.f32 OUT.bin   # f32 values -> raw blocks

TYPE is a GGML type name such as Q4_1. Needs `pip install gguf numpy`.
"""
import sys

import numpy as np
from gguf import GGMLQuantizationType
from gguf.quants import dequantize, quantize


def main() -> None:
    if len(sys.argv) != 5 or sys.argv[1] not in ("dequantize", "quantize"):
        sys.exit(__doc__)
    op, type_name, src, dst = sys.argv[1:]
    qtype = GGMLQuantizationType[type_name]
    if op == "dequantize":
        blocks = np.fromfile(src, dtype=np.uint8)
        values = dequantize(blocks, qtype).astype("<f4")
        values.tofile(dst)
    else:
        values = np.fromfile(src, dtype="<f4")
        blocks = quantize(values, qtype)
        blocks.astype(np.uint8).tofile(dst)


if __name__ == "__main__":
    main()
