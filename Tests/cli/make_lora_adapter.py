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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16)
    ap.add_argument("--b-std", type=float, default=0.06)
    a = ap.parse_args()

    reader = gguf.GGUFReader(a.model)
    arch = reader.fields["general.architecture"]
    arch = bytes(arch.parts[arch.data[0]]).decode()
    assert arch == "llama", "the q/k permutation here is llama's"

    def kv(key):
        f = reader.fields[key]
        return int(f.parts[f.data[0]][0])

    n_layer, n_head, n_head_kv = kv(f"{arch}.block_count"), kv(f"{arch}.attention.head_count"), kv(f"{arch}.attention.head_count_kv")
    shapes = {t.name: [int(d) for d in t.shape] for t in reader.tensors}  # ggml order: [cols, rows]

    rng = np.random.default_rng(a.seed)
    r = a.rank
    peft, gg = {}, []
    for i in range(n_layer):
        for gname, hname in TARGETS:
            cols, rows = shapes[f"blk.{i}.{gname}.weight"]
            A = (rng.standard_normal((r, cols)) / np.sqrt(cols)).astype(np.float16)   # [r, in]
            B = (rng.standard_normal((rows, r)) * a.b_std).astype(np.float16)        # [out, r]
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

    os.makedirs(os.path.join(a.out, "peft"), exist_ok=True)
    w = gguf.GGUFWriter(os.path.join(a.out, "adapter.gguf"), arch)
    w.add_type(gguf.GGUFType.ADAPTER)
    w.add_string(gguf.Keys.Adapter.TYPE, "lora")
    w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, a.alpha)
    for name, t in gg:
        w.add_tensor(name, t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    save_file(peft, os.path.join(a.out, "peft", "adapter_model.safetensors"), metadata={"format": "pt"})
    config = {"peft_type": "LORA", "r": r, "lora_alpha": a.alpha, "use_rslora": False, "bias": "none",
              "fan_in_fan_out": False, "task_type": "CAUSAL_LM",
              "target_modules": [h.split(".")[1] for _, h in TARGETS]}
    with open(os.path.join(a.out, "peft", "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)


if __name__ == "__main__":
    main()
