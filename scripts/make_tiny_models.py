#!/usr/bin/env python3
"""Tiny random-weight GGUF models and their reference logits, for Tests/ModelTests.

No real Qwen2, SentencePiece-Llama or small Gemma 3 file is reachable from these
machines' package registries, so the tests check Jeton's forward pass for those
architectures on tiny models made here (2 to 6 layers, dim 64, random weights,
fixed seed) against a float64 numpy implementation of each architecture written
below from llama.cpp's graphs (src/models/{llama,qwen2,gemma3}.cpp), independent
of Jeton.

Writes Tests/ModelTests/Fixtures/tiny/:
  llama-spm.tiny.gguf   llama, SentencePiece BPE vocabulary (sentencepiece-trained, byte fallback)
  qwen2.tiny.gguf       qwen2 (Q/K/V biases, NeoX RoPE), byte-level BPE with the Qwen2 pre-tokenizer
  gemma3.tiny.gguf      gemma3 (√dim embedding scale, QK-norm, post-norms, GeGLU, sliding window 4
                        on layers 0-4 with RoPE base 10 000, layer 5 global with base 1 000 000)
  <name>.logits.json    {"sequences": [{"ids", "logits": [[vocab floats] per position]}],
                         "tokenize": [{"text", "ids"}] from the reference tokenizer library}

Weights are F32/F16 plus quantized matrices (Q8_0, Q4_0). Where a matrix is stored
quantized, llama.cpp multiplies it by activations quantized to Q8_0 (blocks of 32,
d = max|x|/127, q = round-half-even(x/d)); the reference does the same there, so
it is the architecture as a quantized engine defines it, not Jeton's code.

Usage: python3 scripts/make_tiny_models.py   (needs numpy, gguf, sentencepiece, tokenizers)
"""
import json
import os
import tempfile

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "ModelTests", "Fixtures", "tiny")

CORPUS = """The quick brown fox jumps over the lazy dog. A tiny model has a tiny vocabulary.
Jeton serves language models on CPUs; it batches requests into one shared cache.
Sentence pieces merge characters into words, and bytes stand in for the rest.
Numbers like 12345 and 2024 are split into digits by some tokenizers.
Hello world! How are you today? I am fine, thank you. Llamas, Qwen and Gemma are families.
The capital of France is Paris. The capital of Italy is Rome. Once upon a time there was a robot.
"""

TOKENIZE_TEXTS = [
    "Hello world",
    "The quick brown fox",
    " leading space and  double  spaces",
    "numbers 12345 and punctuation!?",
    "unseen: zebra ñandú 東京 🙂",
    "line one\nline two\n\nend",
]


# ---------------------------------------------------------------- vocabularies

def spm_vocab():
    """A 420-piece SentencePiece BPE model with byte fallback, as Llama 2 / Mistral use."""
    import sentencepiece as spm
    with tempfile.TemporaryDirectory() as d:
        text = os.path.join(d, "corpus.txt")
        with open(text, "w") as f:
            f.write(CORPUS * 4)
        prefix = os.path.join(d, "tiny")
        spm.SentencePieceTrainer.train(
            input=text, model_prefix=prefix, model_type="bpe", vocab_size=420, byte_fallback=True,
            character_coverage=1.0, num_threads=1, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
            split_digits=True, minloglevel=2,
            # As Llama 2 and Mistral's models: no NFKC, spaces and newlines kept as they are.
            normalization_rule_name="identity", remove_extra_whitespaces=False)
        sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        if sp.is_unknown(i):
            types.append(2)
        elif sp.is_control(i):
            types.append(3)
        elif sp.is_byte(i):
            types.append(6)
        else:
            types.append(1)
    # llama.cpp's SentencePiece tokenizer (which Jeton follows) adds BOS and the "▁" prefix.
    cases = [{"text": t, "ids": [1] + sp.encode(t)} for t in TOKENIZE_TEXTS]
    meta = dict(model="llama", tokens=tokens, scores=scores, types=types, bos=1, eos=2, unk=0,
                add_bos=True, add_space_prefix=True)
    return meta, cases


QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def bpe_vocab():
    """A ~400-token byte-level BPE with Qwen2's pre-tokenizer and special tokens."""
    from tokenizers import Tokenizer, Regex, models, pre_tokenizers, decoders, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([CORPUS] * 4, trainer)
    data = json.loads(tok.to_str())
    vocab = data["model"]["vocab"]
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    types = [3 if t in specials else 1 for t in tokens]
    cases = [{"text": t, "ids": tok.encode(t).ids} for t in TOKENIZE_TEXTS]
    cases.append({"text": "<|im_start|>user\nhi<|im_end|>", "ids": tok.encode("<|im_start|>user\nhi<|im_end|>").ids})
    meta = dict(model="gpt2", pre="qwen2", tokens=tokens, types=types, merges=merges,
                eos=vocab["<|endoftext|>"], add_bos=False)
    return meta, cases


# ------------------------------------------------------------ numpy reference

def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def q8_activations(x):
    """x [n, cols] rounded as llama.cpp's quantize_row_q8_0 does, in float32, back to float64."""
    x32 = x.astype(np.float32).reshape(x.shape[0], -1, 32)
    amax = np.max(np.abs(x32), axis=-1, keepdims=True)
    d = (amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(amax > 0, np.float32(127) / amax, np.float32(0)).astype(np.float32)
    q = np.rint(x32 * inv)
    return (q * d).astype(np.float64).reshape(x.shape)


class Weights:
    """Float64 copies of the stored tensors (after F16 rounding or dequantization)."""

    def __init__(self):
        self.t = {}
        self.quantized = set()

    def linear(self, name, x):
        w = self.t[name]
        xin = q8_activations(x) if name in self.quantized else x
        return xin @ w.T


def rope(x, pos, base, neox):
    """x [n, heads, hs] rotated at positions pos [n]: adjacent pairs (llama.cpp NORMAL) or halves (NEOX)."""
    n, h, hs = x.shape
    inv = base ** (-np.arange(0, hs, 2, dtype=np.float64) / hs)       # [hs/2]
    ang = pos[:, None].astype(np.float64) * inv[None, :]                # [n, hs/2]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    if neox:
        a, b = x[..., : hs // 2], x[..., hs // 2:]
        return np.concatenate([a * c - b * s, a * s + b * c], axis=-1)
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = a * c - b * s
    out[..., 1::2] = a * s + b * c
    return out


def attention(q, k, v, scale, window):
    """Causal GQA for one sequence. q [n, H, hs], k/v [n, KV, hs]; window: keys within the last `window` positions."""
    n, H, hs = q.shape
    kvh = k.shape[1]
    out = np.zeros_like(q)
    for h in range(H):
        g = h // (H // kvh)
        sc = (q[:, h, :] @ k[:, g, :].T) * scale                       # [n, n]
        i, j = np.indices((n, n))
        mask = j > i
        if window is not None:
            mask |= (i - j) >= window
        sc = np.where(mask, -np.inf, sc)
        sc = np.exp(sc - sc.max(axis=1, keepdims=True))
        sc /= sc.sum(axis=1, keepdims=True)
        out[:, h, :] = sc @ v[:, g, :]
    return out


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def silu(x):
    return x / (1 + np.exp(-x))


def forward(cfg, W, ids):
    """Logits [n, vocab] of one sequence starting at position 0."""
    arch = cfg["arch"]
    H, KV, hs, eps = cfg["heads"], cfg["kv_heads"], cfg["head_size"], cfg["eps"]
    n = len(ids)
    pos = np.arange(n)
    x = W.t["token_embd.weight"][ids]                                    # [n, dim]
    if arch == "gemma3":
        x = x * np.sqrt(cfg["dim"])
    for l in range(cfg["layers"]):
        p = f"blk.{l}."
        h = rms_norm(x, W.t[p + "attn_norm.weight"], eps)
        q = W.linear(p + "attn_q.weight", h)
        k = W.linear(p + "attn_k.weight", h)
        v = W.linear(p + "attn_v.weight", h)
        if arch == "qwen2":
            q, k, v = q + W.t[p + "attn_q.bias"], k + W.t[p + "attn_k.bias"], v + W.t[p + "attn_v.bias"]
        q, k, v = q.reshape(n, H, hs), k.reshape(n, KV, hs), v.reshape(n, KV, hs)
        window, base, scale = None, cfg["rope_base"], 1 / np.sqrt(hs)
        if arch == "gemma3":
            q = rms_norm(q, W.t[p + "attn_q_norm.weight"], eps)
            k = rms_norm(k, W.t[p + "attn_k_norm.weight"], eps)
            if (l + 1) % 6 != 0:  # sliding layer
                window, base = cfg["window"], cfg["rope_base_local"]
        neox = arch in ("qwen2", "gemma3")
        q, k = rope(q, pos, base, neox), rope(k, pos, base, neox)
        a = attention(q, k, v, scale, window).reshape(n, H * hs)
        o = W.linear(p + "attn_output.weight", a)
        if arch == "gemma3":
            o = rms_norm(o, W.t[p + "post_attention_norm.weight"], eps)
        x = x + o
        h = rms_norm(x, W.t[p + "ffn_norm.weight"], eps)
        g, u = W.linear(p + "ffn_gate.weight", h), W.linear(p + "ffn_up.weight", h)
        f = (gelu_tanh(g) if arch == "gemma3" else silu(g)) * u
        d = W.linear(p + "ffn_down.weight", f)
        if arch == "gemma3":
            d = rms_norm(d, W.t[p + "post_ffw_norm.weight"], eps)
        x = x + d
    x = rms_norm(x, W.t["output_norm.weight"], eps)
    out = "output.weight" if "output.weight" in W.t else "token_embd.weight"
    return x @ W.t[out].T  # the logits matmul keeps float activations (llama.cpp: F32/Q8 output, Jeton: int16 or float)


# ------------------------------------------------------------------ writing

def make(name, cfg, vocab_meta, tokenize_cases, storage, rng):
    arch = cfg["arch"]
    dim, H, KV, hs, ffn, L = cfg["dim"], cfg["heads"], cfg["kv_heads"], cfg["head_size"], cfg["ffn"], cfg["layers"]
    V = len(vocab_meta["tokens"])
    shapes = {"token_embd.weight": (V, dim), "output_norm.weight": (dim,)}
    if cfg.get("untied"):
        shapes["output.weight"] = (V, dim)
    for l in range(L):
        p = f"blk.{l}."
        shapes.update({p + "attn_norm.weight": (dim,), p + "attn_q.weight": (H * hs, dim),
                       p + "attn_k.weight": (KV * hs, dim), p + "attn_v.weight": (KV * hs, dim),
                       p + "attn_output.weight": (dim, H * hs), p + "ffn_norm.weight": (dim,),
                       p + "ffn_gate.weight": (ffn, dim), p + "ffn_up.weight": (ffn, dim),
                       p + "ffn_down.weight": (dim, ffn)})
        if arch == "qwen2":
            shapes.update({p + "attn_q.bias": (H * hs,), p + "attn_k.bias": (KV * hs,), p + "attn_v.bias": (KV * hs,)})
        if arch == "gemma3":
            shapes.update({p + "attn_q_norm.weight": (hs,), p + "attn_k_norm.weight": (hs,),
                           p + "post_attention_norm.weight": (dim,), p + "post_ffw_norm.weight": (dim,)})

    path = os.path.join(OUT, f"{name}.tiny.gguf")
    w = gguf.GGUFWriter(path, arch)
    w.add_name(f"tiny {name}")
    w.add_context_length(cfg["context"])
    w.add_embedding_length(dim)
    w.add_block_count(L)
    w.add_feed_forward_length(ffn)
    w.add_head_count(H)
    w.add_head_count_kv(KV)
    w.add_key_length(hs)
    w.add_value_length(hs)
    w.add_layer_norm_rms_eps(cfg["eps"])
    w.add_rope_freq_base(cfg["rope_base"])
    if arch == "gemma3":
        w.add_sliding_window(cfg["window"])
    w.add_tokenizer_model(vocab_meta["model"])
    if "pre" in vocab_meta:
        w.add_tokenizer_pre(vocab_meta["pre"])
    w.add_token_list(vocab_meta["tokens"])
    w.add_token_types(vocab_meta["types"])
    if "scores" in vocab_meta:
        w.add_token_scores(vocab_meta["scores"])
    if "merges" in vocab_meta:
        w.add_token_merges(vocab_meta["merges"])
    if "bos" in vocab_meta:
        w.add_bos_token_id(vocab_meta["bos"])
    w.add_eos_token_id(vocab_meta["eos"])
    if "unk" in vocab_meta:
        w.add_unk_token_id(vocab_meta["unk"])
    w.add_add_bos_token(vocab_meta["add_bos"])
    if "add_space_prefix" in vocab_meta:
        w.add_add_space_prefix(vocab_meta["add_space_prefix"])

    W = Weights()
    for tname, shape in shapes.items():
        if len(shape) == 1:
            if tname.endswith(".bias"):
                data = rng.normal(0, 0.5, shape)
            else:  # norm weights; Gemma's already include its "+1", as converted GGUFs do
                data = 1 + rng.normal(0, 0.2, shape)
        elif tname == "token_embd.weight":
            data = rng.normal(0, 1, shape)
        else:
            data = rng.normal(0, 1 / np.sqrt(shape[1]), shape)
        kind = storage.get(tname, "F32" if len(shape) == 1 else cfg.get("matrices", "F32"))
        if kind == "F32":
            arr = data.astype(np.float32)
            w.add_tensor(tname, arr)
            W.t[tname] = arr.astype(np.float64)
        elif kind == "F16":
            arr = data.astype(np.float16)
            w.add_tensor(tname, arr)
            W.t[tname] = arr.astype(np.float64)
        else:
            qt = QT[kind]
            q = gguf.quants.quantize(data.astype(np.float32), qt)
            w.add_tensor(tname, q, raw_dtype=qt)
            W.t[tname] = gguf.quants.dequantize(q, qt).astype(np.float64).reshape(shape)
            if tname != "token_embd.weight":  # the embedding is only looked up (and, tied, multiplied in float)
                W.quantized.add(tname)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    seqs = []
    first = [vocab_meta["bos"]] if vocab_meta.get("add_bos") else []
    for length in cfg["lengths"]:
        ids = first + [int(i) for i in rng.integers(3, V, length - len(first))]
        logits = forward(cfg, W, np.array(ids))
        seqs.append({"ids": ids, "logits": [[float(f"{v:.7g}") for v in row] for row in logits]})
    with open(os.path.join(OUT, f"{name}.logits.json"), "w") as f:
        json.dump({"generator": "scripts/make_tiny_models.py", "architecture": arch,
                   "storage": storage, "sequences": seqs, "tokenize": tokenize_cases}, f, ensure_ascii=False)
        f.write("\n")
    print(f"{path}: {os.path.getsize(path)} bytes, vocab {V}")


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20260901)
    spm_meta, spm_cases = spm_vocab()
    bpe_meta, bpe_cases = bpe_vocab()
    base = dict(dim=64, heads=4, kv_heads=2, head_size=16, ffn=128, layers=2, context=256, lengths=[12, 40])

    make("llama-spm", dict(base, arch="llama", eps=1e-5, rope_base=10000.0, untied=True),
         spm_meta, spm_cases, {"token_embd.weight": "F16", "blk.1.ffn_down.weight": "Q8_0",
                               "blk.0.attn_q.weight": "F16"}, rng)
    make("qwen2", dict(base, arch="qwen2", eps=1e-6, rope_base=1000000.0),
         bpe_meta, bpe_cases, {"token_embd.weight": "Q8_0", "blk.1.ffn_up.weight": "Q4_0",
                               "blk.0.attn_output.weight": "F16"}, rng)
    # Gemma 3 needs 6 layers for one global layer (every 6th); MQA and head size 32 as in the 270M model.
    gemma_meta = dict(spm_meta, add_space_prefix=False)
    gemma_cases = []  # its tokenizer is the SentencePiece one above, tested there
    make("gemma3", dict(base, arch="gemma3", layers=6, kv_heads=1, head_size=32, eps=1e-6, rope_base=1000000.0,
                        rope_base_local=10000.0, window=4, matrices="F16"),
         gemma_meta, gemma_cases, {"token_embd.weight": "Q8_0", "blk.5.attn_q.weight": "Q8_0",
                                   "blk.2.ffn_down.weight": "Q4_0"}, rng)


if __name__ == "__main__":
    main()
