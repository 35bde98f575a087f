#!/usr/bin/env python3
"""Hugging Face `tokenizers` on the same text and vocabulary as the Swift benchmark.

Builds a byte-level BPE from the GGUF's tokens and merges with SmolLM's pre-tokenizer
(each \\p{N} alone, then the GPT-2 pattern), checks it against the reference ids, times
encode on the text, and writes the ids for the Swift test to compare.

Usage: hf_bench.py MODEL.gguf TEXT_PATH IDS_OUT_JSON REFERENCE_JSONL
Needs: pip install tokenizers gguf
"""
import json
import sys
import time

from gguf import GGUFReader
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from tokenizers import AddedToken


def main():
    model_path, text_path, ids_out, reference = sys.argv[1:5]
    r = GGUFReader(model_path)
    tokens = r.fields["tokenizer.ggml.tokens"].contents()
    types = r.fields["tokenizer.ggml.token_type"].contents()
    merges = r.fields["tokenizer.ggml.merges"].contents()
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m.split(" ", 1)) for m in merges]))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\p{N}"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types) if ty == 3])
    with open(reference, encoding="utf-8") as f:
        for line in f:
            c = json.loads(line)
            got = tok.encode(c["text"], add_special_tokens=False).ids
            assert got == c["ids"], (c["text"], got, c["ids"])

    text = open(text_path, encoding="utf-8").read()
    nbytes = len(text.encode("utf-8"))
    t0 = time.perf_counter()
    ids = tok.encode(text, add_special_tokens=False).ids
    cold = time.perf_counter() - t0
    best = cold
    for _ in range(3):
        t0 = time.perf_counter()
        tok.encode(text, add_special_tokens=False)
        best = min(best, time.perf_counter() - t0)
    # Many short calls, as a server sees prompts: one call per paragraph.
    paragraphs = text.split("\n\n")
    para_best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for p in paragraphs:
            tok.encode(p, add_special_tokens=False)
        para_best = min(para_best, time.perf_counter() - t0)
    with open(ids_out, "w") as f:
        json.dump(ids, f)
    mb = nbytes / 1e6
    print("JETON_BENCH hf cold_mbps=%.2f warm_mbps=%.2f paragraphs_mbps=%.2f tokens=%d warm_tokens_per_s=%.0f"
          % (mb / cold, mb / best, mb / para_best, len(ids), len(ids) / best))


if __name__ == "__main__":
    main()
