#!/usr/bin/env python3
"""Makes the GGUF reader's test fixtures and the fuzzer's seed corpus.

The expected floats come from the `gguf` Python package (gguf.quants.dequantize),
an implementation independent of ours, so the Swift tests check our reader and
dequantizer against it.

Regenerate (output is deterministic for a given gguf/numpy version):

    pip install gguf numpy          # made with gguf 0.19.0, numpy 2.x
    python3 scripts/make_gguf_fixtures.py

Writes:
    Tests/GGUFTests/Fixtures/all_types.gguf           every metadata value type, alignment 64,
                                                      tensors of the 15 supported tensor types
    Tests/GGUFTests/Fixtures/all_types.expected.json  tensor table as gguf.GGUFReader sees it,
                                                      where each tensor's floats start in the .bin
    Tests/GGUFTests/Fixtures/all_types.expected.bin   gguf's dequantized values, float32 LE
    Tests/GGUFTests/Fixtures/small_v2.gguf            a small file patched to GGUF version 2
    fuzz/gguf/corpus/seed_*                           seeds for libFuzzer (small files, truncations)

The other files of fuzz/gguf/corpus/ (named by hash) are small inputs libFuzzer found,
merged in by hand with `-merge=1` (see fuzz/gguf/run.sh); this script leaves them be.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q, GGUFValueType as V
from gguf.quants import quantize, dequantize

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "GGUFTests" / "Fixtures"
CORPUS = ROOT / "fuzz" / "gguf" / "corpus"

SEED = 20240611

# Where the f16 scale fields of each block sit, for types written as random bytes:
# the scales must be finite and small, or the expected values are inf/NaN noise.
HALF_FIELDS = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
    Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208], Q.Q3_K: [108], Q.Q2_K: [80, 82], Q.IQ4_XS: [0], Q.IQ4_NL: [0],
}
QUANTIZABLE = {Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0, Q.BF16}


def random_blocks(rng: np.random.Generator, qtype: Q, n_rows: int, row_len: int) -> np.ndarray:
    """Random bytes for n_rows x row_len elements with sane f16 scale fields."""
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    n_blocks = n_rows * row_len // block_size
    raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for off in HALF_FIELDS[qtype]:
        # Both signs: negative d and dmin must work too.
        h = (rng.uniform(-0.05, 0.05, size=n_blocks)).astype(np.float16)
        raw[:, off:off + 2] = h.view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(n_rows, row_len // block_size * type_size)


def tensors_for(rng: np.random.Generator) -> list[tuple[str, Q, np.ndarray, tuple[int, ...]]]:
    """(name, type, array to write, numpy shape of the floats) for every tensor."""
    out = []
    # Float types, with several shapes so the table has 1 to 4 dimensions.
    f32 = rng.standard_normal((3, 64)).astype(np.float32)
    f32[0, :4] = [0.0, -0.0, np.float32(1e-45), np.float32(3.4e38)]
    out.append(("t.f32", Q.F32, f32, f32.shape))
    f16 = (rng.standard_normal((2, 2, 32)) * 4).astype(np.float16)
    # Edge values of half: infinities, signed zero, smallest subnormal, largest finite.
    f16[0, 0, :6] = np.array([np.inf, -np.inf, -0.0, 6e-8, 65504, -1e-5], dtype=np.float16)
    out.append(("t.f16", Q.F16, f16, f16.shape))
    bf = rng.standard_normal((2, 1, 2, 32)).astype(np.float32) * 100
    out.append(("t.bf16", Q.BF16, quantize(bf, Q.BF16), bf.shape))
    # Legacy quants: quantized from random floats, and raw random blocks.
    for q in (Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1):
        x = rng.standard_normal((2, 64)).astype(np.float32) * rng.uniform(0.1, 3)
        if q in (Q.Q4_1, Q.Q5_1):
            x += 1.5  # an offset the min field must carry
        out.append((f"t.{q.name.lower()}", q, quantize(x, q), x.shape))
        out.append((f"r.{q.name.lower()}", q, random_blocks(rng, q, 2, 64), (2, 64)))
    # K-quants, IQ4_XS and IQ4_NL: gguf cannot quantize them, so random blocks with sane scales.
    for q in (Q.Q4_K, Q.Q5_K, Q.Q6_K, Q.Q3_K, Q.Q2_K, Q.IQ4_XS):
        out.append((f"t.{q.name.lower()}", q, random_blocks(rng, q, 2, 256), (2, 256)))
    out.append(("t.iq4_nl", Q.IQ4_NL, random_blocks(rng, Q.IQ4_NL, 2, 64), (2, 64)))
    return out


def add_all_metadata(w: gguf.GGUFWriter) -> None:
    # Extremes of every scalar type; the Swift test checks these exact values.
    w.add_uint8("test.u8", 255)
    w.add_int8("test.i8", -128)
    w.add_uint16("test.u16", 65535)
    w.add_int16("test.i16", -32768)
    w.add_uint32("test.u32", 4294967295)
    w.add_int32("test.i32", -2147483648)
    w.add_uint64("test.u64", 2**64 - 1)
    w.add_int64("test.i64", -(2**63))
    w.add_float32("test.f32", 3.14159274101257324)  # exactly representable in float32
    w.add_float64("test.f64", -2.5e-300)
    w.add_bool("test.bool_true", True)
    w.add_bool("test.bool_false", False)
    w.add_string("test.string", "h\u00e9llo \u2713 \U0001F30D")
    w.add_key_value("test.empty_string", "", V.STRING)  # add_string drops empty strings
    w.add_array("test.array_i32", [1, -2, 3, 2147483647])
    w.add_array("test.array_str", ["a", "", "\u00fc\u00df", "<|im_end|>"])
    w.add_array("test.array_f32", [0.5, -1.25, 1e-3])
    w.add_array("test.array_bool", [True, False, True])
    w.add_array("test.array_u8", b"\x00\x01\xfe\xff")
    w.add_key_value("test.array_u64", [0, 2**64 - 1], V.ARRAY, sub_type=V.UINT64)
    # Arrays of arrays: inner arrays may hold different types, and nest again.
    w.add_array("test.nested", [[1, 2, 3], ["x", "yz"], [[7], [8, 9]]])


def write_gguf(path: Path, tensors, alignment: int | None, metadata) -> None:
    w = gguf.GGUFWriter(str(path), arch="test")
    if alignment is not None:
        w.add_custom_alignment(alignment)
    metadata(w)
    for name, q, arr, _ in tensors:
        if q in (Q.F32, Q.F16):
            w.add_tensor(name, arr)
        else:
            w.add_tensor(name, arr, raw_dtype=q)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def expected_table(path: Path, tensors) -> tuple[dict, bytes]:
    """Reads the file back with gguf's own reader: tensor table and dequantized floats."""
    r = gguf.GGUFReader(str(path))
    by_name = {t.name: t for t in r.tensors}
    entries, blob = [], bytearray()
    for name, q, arr, shape in tensors:
        t = by_name[name]
        assert t.tensor_type == q, (name, t.tensor_type, q)
        floats = dequantize(np.asarray(t.data), q).astype("<f4").reshape(-1)
        assert floats.size == int(np.prod(shape)), (name, floats.size, shape)
        entries.append({
            "name": name,
            "type": int(q),
            "dims": [int(d) for d in t.shape],  # ggml order, row length first
            "offset": int(t.data_offset - r.data_offset),
            "bytes": int(t.n_bytes),
            "first": len(blob) // 4,
            "count": int(floats.size),
        })
        blob += floats.tobytes()
    table = {
        "alignment": int(r.alignment),
        "data_offset": int(r.data_offset),
        "tensors": entries,
    }
    return table, bytes(blob)


def patch_version(data: bytes, version: int) -> bytes:
    return data[:4] + struct.pack("<I", version) + data[8:]


def small_metadata(w: gguf.GGUFWriter) -> None:
    w.add_uint32("test.n", 7)
    w.add_array("test.tokens", ["<s>", "</s>", "hi"])


def main() -> int:
    rng = np.random.default_rng(SEED)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    CORPUS.mkdir(parents=True, exist_ok=True)

    tensors = tensors_for(rng)
    all_path = FIXTURES / "all_types.gguf"
    write_gguf(all_path, tensors, 64, add_all_metadata)
    table, blob = expected_table(all_path, tensors)
    assert table["alignment"] == 64 and table["data_offset"] % 64 == 0
    (FIXTURES / "all_types.expected.json").write_text(json.dumps(table, indent=1) + "\n")
    (FIXTURES / "all_types.expected.bin").write_bytes(blob)

    # Version 2 has the same layout as 3 for little-endian files (v3 only added
    # big-endian files; v1 had 32-bit counts and lengths). The writer only writes v3.
    small_tensors = [
        ("a.q8_0", Q.Q8_0, quantize(rng.standard_normal((1, 32)).astype(np.float32), Q.Q8_0), (1, 32)),
        ("b.f32", Q.F32, rng.standard_normal(5).astype(np.float32), (5,)),
    ]
    tmp = FIXTURES / "small_v3.tmp"
    write_gguf(tmp, small_tensors, None, small_metadata)
    v3 = tmp.read_bytes()
    tmp.unlink()
    v2 = patch_version(v3, 2)
    (FIXTURES / "small_v2.gguf").write_bytes(v2)
    r2 = gguf.GGUFReader(str(FIXTURES / "small_v2.gguf"))  # gguf's reader accepts v2 too
    assert [t.name for t in r2.tensors] == ["a.q8_0", "b.f32"]

    # Fuzz seeds: whole small files and a few cuts through header, metadata and table.
    for old in CORPUS.glob("seed_*"):
        old.unlink()
    (CORPUS / "seed_small_v3.gguf").write_bytes(v3)
    (CORPUS / "seed_small_v2.gguf").write_bytes(v2)
    (CORPUS / "seed_all_types.gguf").write_bytes(all_path.read_bytes())
    for cut in (8, 24, 60, len(v3) // 2, len(v3) - 1):
        (CORPUS / f"seed_small_cut{cut}").write_bytes(v3[:cut])
    size = sum(p.stat().st_size for p in FIXTURES.iterdir()) + sum(p.stat().st_size for p in CORPUS.iterdir())
    print(f"wrote {len(tensors)} tensors; fixtures and corpus total {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
