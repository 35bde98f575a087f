#!/usr/bin/env python3
"""Tiny random-weight encoder GGUFs (nomic-bert and bert) and float64 numpy reference embeddings,
for Tests/ModelTests/EncoderTinyModelTests.swift.

The reference is written below from llama.cpp's graph (src/models/bert.cpp, shared by both families),
independent of Jeton: embeddings = token row + token-type row 0 (+ learned position for bert), LayerNorm;
per block: fused (nomic) or separate (bert, with biases) Q/K/V, NeoX rotary (nomic, base from the file),
non-causal softmax attention, output projection, residual + LayerNorm, then SwiGLU (nomic) or GELU
(bert, tanh form, with biases) feed-forward, residual + LayerNorm; mean over each sequence's tokens,
L2 normalization. Matrices are stored F16; the reference multiplies the F16 values in float64.

Writes Tests/ModelTests/Fixtures/tiny/{nomic-bert,bert}.tiny.gguf and {nomic-bert,bert}.embeddings.json
({"architecture", "sequences": [{"ids", "embedding"}]}).

Usage: python3 scripts/make_tiny_encoders.py   (needs numpy, gguf)
"""
import json
import os

import gguf
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "ModelTests", "Fixtures", "tiny")
DIM, FFN, HEADS, LAYERS, CTX, EPS, BASE = 64, 96, 4, 2, 64, 1e-12, 1000.0
TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + ["\u2581" + c for c in "abcdefghijklmnopqrstuvwxyz.,!?"] \
    + list("abcdefghijklmnopqrstuvwxyz") + ["\u2581the", "\u2581hello", "\u2581world", "ing", "ed", "s"]
SEQUENCES = [[2, 5, 9, 3], [2, 61, 62, 50, 3], [2] + list(range(5, 40)) + [3], [2, 3], [2, 7, 40, 41, 42, 43, 44, 30, 3]]


def layer_norm(x, w, b):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + EPS) * w + b


def rope_neox(x, pos):  # x: [L, heads, hd]
    hd = x.shape[-1]
    half = hd // 2
    theta = pos[:, None] * BASE ** (-2.0 * np.arange(half) / hd)  # [L, half]
    c, s = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
    a, b = x[..., :half], x[..., half:]
    return np.concatenate([a * c - b * s, a * s + b * c], axis=-1)


def forward(arch, w, ids):
    L, hd = len(ids), DIM // HEADS
    x = w["token_embd.weight"][ids] + w["token_types.weight"][0]
    if arch == "bert":
        x = x + w["position_embd.weight"][:L]
    x = layer_norm(x, w["token_embd_norm.weight"], w["token_embd_norm.bias"])
    pos = np.arange(L, dtype=np.float64)
    for i in range(LAYERS):
        p = f"blk.{i}."
        if arch == "nomic-bert":
            qkv = x @ w[p + "attn_qkv.weight"].T
            q, k, v = qkv[:, :DIM], qkv[:, DIM:2 * DIM], qkv[:, 2 * DIM:]
        else:
            q, k, v = (x @ w[p + n + ".weight"].T + w[p + n + ".bias"] for n in ("attn_q", "attn_k", "attn_v"))
        q, k, v = (t.reshape(L, HEADS, hd) for t in (q, k, v))
        if arch == "nomic-bert":
            q, k = rope_neox(q, pos), rope_neox(k, pos)
        s = np.einsum("ihd,jhd->hij", q, k) / np.sqrt(hd)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        a = np.einsum("hij,jhd->ihd", s, v).reshape(L, DIM)
        o = a @ w[p + "attn_output.weight"].T
        if arch == "bert":
            o = o + w[p + "attn_output.bias"]
        x = layer_norm(x + o, w[p + "attn_output_norm.weight"], w[p + "attn_output_norm.bias"])
        if arch == "nomic-bert":
            g = x @ w[p + "ffn_gate.weight"].T
            h = (g / (1 + np.exp(-g))) * (x @ w[p + "ffn_up.weight"].T)
            f = h @ w[p + "ffn_down.weight"].T
        else:
            u = x @ w[p + "ffn_up.weight"].T + w[p + "ffn_up.bias"]
            h = 0.5 * u * (1 + np.tanh(np.sqrt(2 / np.pi) * (u + 0.044715 * u ** 3)))
            f = h @ w[p + "ffn_down.weight"].T + w[p + "ffn_down.bias"]
        x = layer_norm(x + f, w[p + "layer_output_norm.weight"], w[p + "layer_output_norm.bias"])
    e = x.mean(0)
    return e / np.linalg.norm(e)


def make(arch, seed):
    rng = np.random.default_rng(seed)
    V = len(TOKENS)
    w = {}

    def mat(name, rows, cols, scale=0.15):  # stored F16: the reference uses the rounded values
        w[name] = (rng.standard_normal((rows, cols)) * scale).astype(np.float16)

    def vec(name, n, mean=0.0, scale=0.1):
        w[name] = (mean + rng.standard_normal(n) * scale).astype(np.float32)

    mat("token_embd.weight", V, DIM, 0.5)
    w["token_types.weight"] = (rng.standard_normal((2, DIM)) * 0.1).astype(np.float32)
    if arch == "bert":
        w["position_embd.weight"] = (rng.standard_normal((CTX, DIM)) * 0.1).astype(np.float16)
    vec("token_embd_norm.weight", DIM, 1.0)
    vec("token_embd_norm.bias", DIM)
    for i in range(LAYERS):
        p = f"blk.{i}."
        if arch == "nomic-bert":
            mat(p + "attn_qkv.weight", 3 * DIM, DIM)
        else:
            for n in ("attn_q", "attn_k", "attn_v"):
                mat(p + n + ".weight", DIM, DIM)
                vec(p + n + ".bias", DIM)
            vec(p + "attn_output.bias", DIM)
            vec(p + "ffn_up.bias", FFN)
            vec(p + "ffn_down.bias", DIM)
        mat(p + "attn_output.weight", DIM, DIM)
        vec(p + "attn_output_norm.weight", DIM, 1.0)
        vec(p + "attn_output_norm.bias", DIM)
        mat(p + "ffn_up.weight", FFN, DIM)
        if arch == "nomic-bert":
            mat(p + "ffn_gate.weight", FFN, DIM)
        mat(p + "ffn_down.weight", DIM, FFN)
        vec(p + "layer_output_norm.weight", DIM, 1.0)
        vec(p + "layer_output_norm.bias", DIM)

    path = os.path.join(OUT, f"{arch}.tiny.gguf")
    gw = gguf.GGUFWriter(path, arch)
    gw.add_name(f"tiny-{arch}")
    gw.add_block_count(LAYERS)
    gw.add_context_length(CTX)
    gw.add_embedding_length(DIM)
    gw.add_feed_forward_length(FFN)
    gw.add_head_count(HEADS)
    gw.add_layer_norm_eps(EPS)
    gw.add_causal_attention(False)
    gw.add_pooling_type(gguf.PoolingType.MEAN)
    if arch == "nomic-bert":
        gw.add_rope_freq_base(BASE)
    gw.add_tokenizer_model("bert")
    gw.add_token_list(TOKENS)
    gw.add_token_types([3 if t.startswith("[") else 1 for t in TOKENS])
    gw.add_bos_token_id(2)
    gw.add_sep_token_id(3)
    gw.add_unk_token_id(1)
    gw.add_pad_token_id(0)
    for name, t in w.items():
        gw.add_tensor(name, t)
    gw.write_header_to_file()
    gw.write_kv_data_to_file()
    gw.write_tensors_to_file()
    gw.close()

    ref = {k: v.astype(np.float64) for k, v in w.items()}
    seqs = [{"ids": ids, "embedding": forward(arch, ref, np.array(ids)).tolist()} for ids in SEQUENCES]
    with open(os.path.join(OUT, f"{arch}.embeddings.json"), "w") as f:
        json.dump({"architecture": arch, "sequences": seqs}, f)


if __name__ == "__main__":
    make("nomic-bert", 17)
    make("bert", 18)
