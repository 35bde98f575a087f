#!/usr/bin/env python3
"""Makes a random low-rank adapter for a llama-architecture GGUF model, deterministically from a
seed, in both of the forms Jeton reads:

  OUT/adapter.gguf         llama.cpp's adapter format (written with the `gguf` package)
  OUT/peft/                a PEFT directory: adapter_config.json, adapter_model.safetensors

PEFT holds Hugging Face's layout; the GGUF file holds what llama.cpp's convert_lora_to_gguf.py
would make of it: tensor names blk.N.<weight>.lora_a/.lora_b, and the rows of the q and k B
matrices permuted as llama's conversion permutes the base q/k weights. The values are rounded
to float16 first, so the F16 safetensors and the F32 GGUF hold exactly the same numbers.

  make_lora_adapter.py --model SmolLM2.gguf --seed 1 --out DIR [--rank 8] [--alpha 16]
"""
import argparse
import functools
import json
import os

import numpy as np
import gguf
from safetensors.numpy import save_file

TARGETS = [  # (GGUF weight, PEFT module)
    ("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj"), ("attn_v", "self_attn.v_proj"),
    ("attn_output", "self_attn.o_proj"), ("ffn_gate", "mlp.gate_proj"), ("ffn_up", "mlp.up_proj"),
    ("ffn_down", "mlp.down_proj"),
]


def llama_permute(w, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute, on the rows of w."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


@functools.lru_cache(maxsize=None)
def model_shape(path):
    """(architecture, layers, heads, KV heads, {tensor: [cols, rows]}): reading the GGUF's metadata
    takes seconds (its vocabulary arrays), so a test making several adapters reads it once."""
    reader = gguf.GGUFReader(path)
    arch = reader.fields["general.architecture"]
    arch = bytes(arch.parts[arch.data[0]]).decode()
    assert arch == "llama", "the q/k permutation here is llama's"

    def kv(key):
        f = reader.fields[key]
        return int(f.parts[f.data[0]][0])

    shapes = {t.name: [int(d) for d in t.shape] for t in reader.tensors}  # ggml order: [cols, rows]
    return arch, kv(f"{arch}.block_count"), kv(f"{arch}.attention.head_count"), kv(f"{arch}.attention.head_count_kv"), shapes


def write_adapter(model, seed, out, rank=8, alpha=16.0, b_std=0.06):
    """Writes OUT/adapter.gguf and OUT/peft/ for `model` (a GGUF path) from `seed`."""
    arch, n_layer, n_head, n_head_kv, shapes = model_shape(model)
    out, alpha, b_std = str(out), float(alpha), float(b_std)
    rng = np.random.default_rng(seed)
    r = rank
    peft, gg = {}, []
    for i in range(n_layer):
        for gname, hname in TARGETS:
            cols, rows = shapes[f"blk.{i}.{gname}.weight"]
            A = (rng.standard_normal((r, cols)) / np.sqrt(cols)).astype(np.float16)   # [r, in]
            B = (rng.standard_normal((rows, r)) * b_std).astype(np.float16)          # [out, r]
            prefix = f"base_model.model.model.layers.{i}.{hname}"
            peft[prefix + ".lora_A.weight"] = A
            peft[prefix + ".lora_B.weight"] = B
            Bg = B.astype(np.float32)
            if gname == "attn_q":
                Bg = llama_permute(Bg, n_head)
            elif gname == "attn_k":
                Bg = llama_permute(Bg, n_head_kv)
            gg.append((f"blk.{i}.{gname}.weight.lora_a", A.astype(np.float32)))
            gg.append((f"blk.{i}.{gname}.weight.lora_b", np.ascontiguousarray(Bg)))

    os.makedirs(os.path.join(out, "peft"), exist_ok=True)
    w = gguf.GGUFWriter(os.path.join(out, "adapter.gguf"), arch)
    w.add_type(gguf.GGUFType.ADAPTER)
    w.add_string(gguf.Keys.Adapter.TYPE, "lora")
    w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for name, t in gg:
        w.add_tensor(name, t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    save_file(peft, os.path.join(out, "peft", "adapter_model.safetensors"), metadata={"format": "pt"})
    config = {"peft_type": "LORA", "r": r, "lora_alpha": alpha, "use_rslora": False, "bias": "none",
              "fan_in_fan_out": False, "task_type": "CAUSAL_LM",
              "target_modules": [h.split(".")[1] for _, h in TARGETS]}
    with open(os.path.join(out, "peft", "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16)
    ap.add_argument("--b-std", type=float, default=0.06)
    a = ap.parse_args()
    write_adapter(a.model, a.seed, a.out, a.rank, a.alpha, a.b_std)


if __name__ == "__main__":
    main()
