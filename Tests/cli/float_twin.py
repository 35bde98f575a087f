#!/usr/bin/env python3
"""The float twin of a GGUF file: every tensor dequantized to F32 (or F16), metadata unchanged.

A quantization is judged against its twin (`jeton perplexity --kl-divergence-base` on the twin,
then `--kl-divergence` on the quantized file; llama-perplexity the same way). F32 is the default
because it holds every quantized value exactly; F16 halves the size but rounds them.

    python3 Tests/cli/float_twin.py IN.gguf OUT.gguf [--type f16]

Needs the `gguf` and `numpy` packages (pip install gguf). Tensors are written one at a time, so
a 1.5B model needs little more memory than its largest tensor.
"""
import argparse
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT, GGUFValueType as VT
from gguf.quants import dequantize


def make_twin(src: str, dst: str, float_type: str = "f32") -> None:
    reader = gguf.GGUFReader(src)
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(dst, arch=arch)
    for name, field in reader.fields.items():
        # The writer adds the header fields and the architecture itself.
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        if name == "general.alignment":
            writer.add_custom_alignment(int(field.contents()))
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == VT.ARRAY else None
        writer.add_key_value(name, field.contents(), vtype, sub_type=sub)

    out_type = QT.F16 if float_type == "f16" else QT.F32
    dtype = np.float16 if out_type == QT.F16 else np.float32

    def as_float(t):
        # Norms and biases stay F32 as llama.cpp's converters keep them; matrices take the chosen type.
        values = dequantize(t.data, t.tensor_type).astype(np.float32)
        shape = [int(d) for d in reversed(t.shape)]  # numpy order: [rows, cols]
        values = values.reshape(shape)
        return values.astype(dtype) if len(shape) > 1 else values

    # Tensor infos first (types and sizes only), then the data one tensor at a time.
    for t in reader.tensors:
        shape = [int(d) for d in reversed(t.shape)]
        tt = out_type if len(shape) > 1 else QT.F32
        nbytes = int(np.prod(shape)) * (2 if tt == QT.F16 else 4)
        writer.add_tensor_info(t.name, shape, np.dtype(np.float16 if tt == QT.F16 else np.float32), nbytes, raw_dtype=tt)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in reader.tensors:
        writer.write_tensor_data(as_float(t))
    writer.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--type", choices=["f32", "f16"], default="f32")
    a = ap.parse_args()
    make_twin(a.src, a.dst, a.type)
    return 0


if __name__ == "__main__":
    sys.exit(main())
