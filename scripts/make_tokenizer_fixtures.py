#!/usr/bin/env python3
"""Generates the Tokenizer test fixtures in Tests/TokenizerTests/Fixtures/.

- spm_bpe.json: a tiny SentencePiece BPE model (trained here, byte fallback, Llama-style
  options) as pieces/scores/types, and the ids sentencepiece itself gives for test strings.
- pretokenizer_splits.json: the splits Python `regex` gives for the gpt2, llama-bpe,
  qwen2 and smollm pre-tokenizer patterns on test strings.

Deterministic: the training text is embedded and training is single-threaded.
Needs: pip install sentencepiece regex
Run from the repository root: python3 scripts/make_tokenizer_fixtures.py
"""
import json
import os
import random
import tempfile

import regex
import sentencepiece as spm

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "TokenizerTests", "Fixtures")

# Public-domain text (Lincoln, Austen, Carroll, Melville), with a few digits and symbols.
TRAINING_TEXT = """\
Four score and seven years ago our fathers brought forth on this continent, a new nation,
conceived in Liberty, and dedicated to the proposition that all men are created equal.
Now we are engaged in a great civil war, testing whether that nation, or any nation so
conceived and so dedicated, can long endure. We are met on a great battle-field of that war.
We have come to dedicate a portion of that field, as a final resting place for those who here
gave their lives that that nation might live. It is altogether fitting and proper that we
should do this.
It is a truth universally acknowledged, that a single man in possession of a good fortune,
must be in want of a wife. However little known the feelings or views of such a man may be on
his first entering a neighbourhood, this truth is so well fixed in the minds of the
surrounding families, that he is considered the rightful property of some one or other of
their daughters.
"My dear Mr. Bennet," said his lady to him one day, "have you heard that Netherfield Park is
let at last?" Mr. Bennet replied that he had not.
Alice was beginning to get very tired of sitting by her sister on the bank, and of having
nothing to do: once or twice she had peeped into the book her sister was reading, but it had
no pictures or conversations in it, "and what is the use of a book," thought Alice "without
pictures or conversations?"
So she was considering in her own mind (as well as she could, for the hot day made her feel
very sleepy and stupid), whether the pleasure of making a daisy-chain would be worth the
trouble of getting up and picking the daisies, when suddenly a White Rabbit with pink eyes
ran close by her.
Call me Ishmael. Some years ago - never mind how long precisely - having little or no money
in my purse, and nothing particular to interest me on shore, I thought I would sail about a
little and see the watery part of the world. It is a way I have of driving off the spleen and
regulating the circulation.
In 1863 there were 36 states; in 1851 the book sold 3,215 copies at $1.50 each (about 50%).
    Indented lines keep    their spaces, and tabs\tare\there too.
"""

SPM_STRINGS = [
    "Hello world",
    "Four score and seven years ago",
    " leading space",
    "  two leading spaces",
    "multiple   inner    spaces",
    "trailing space ",
    " ",
    "a",
    "digits 1234567890 and 3.14",
    "line one\nline two\n\nline four",
    "tabs\tand\ttabs",
    "emoji: 🚀🔥 and a heart ❤️",
    "日本語のテキスト",
    "Ünïcödé àccents, naïve café",
    "ALL CAPS: THE WHITE RABBIT",
    "it's a truth, isn't it? \"Yes!\"",
    "Привет, мир!",
    "mixed 🤗 中文 ελληνικά",
    "<s> and </s> are written here",
    "\u00a0non-breaking\u00a0space",
    "zzzz qqqq xxxx",
    "",
]

GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
QWEN2 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

PRE_STRINGS = [
    "Hello world",
    "Hello, world! How are you today?",
    " leading space and  double  spaces",
    "trailing spaces   ",
    "don't won't I'm you're they'll we've he'd",
    "DON'T WON'T I'M YOU'RE THEY'LL WE'VE HE'D",
    "'s 'S 'x ''s",
    "1234567890 3.14159 2026-11-29 12,50 €",
    "abc123def 4567 x1",
    "²³ ½ Ⅻ ١٢٣٤",
    "tabs\tand\nnewlines\n\n\nmany",
    "a\r\nb\r\n\r\nc",
    "   \n   indented\n\tcode  \n",
    "  \n  x",
    "x  \t  y",
    "end with newline\n",
    " !!! ??\n\n...",
    "a !b ! c !!\n",
    "def add(a, b):\n    return a + b\n",
    "for (int i = 0; i < 10; ++i) { printf(\"%d\\n\", i); }",
    "emoji: 🚀🔥 and a heart ❤️",
    "日本語のテキストも扱えます。",
    "Привет, мир!",
    "L'intelligence artificielle générative",
    "e\u0301te\u0301 combining marks",
    "non\u00a0breaking\u3000ideographic\u2009thin",
    "zero\u200bwidth",
    "<|im_start|>user\nWhat is a token?<|im_end|>\n",
    "URL: https://example.com/path?query=1&b=2",
    "snake_case_identifier CamelCase",
    "    ",
    " ",
    "\n",
    "a",
    "",
]


# Random strings over characters where the patterns' alternatives meet (contractions,
# space kinds, newlines, letters, digits of several scripts, marks, symbols).
FUZZ_ALPHABET = [" ", " ", " ", "\t", "\n", "\r", "\u00a0", "\u3000", "a", "Z", "é", "ß", "日", "1", "7",
                 "\u0663", "\u00b2", "'", "'", "s", "t", "S", "L", "l", "r", "e", "v", "d", "m", "D", "!",
                 ".", "\U0001F600", "\u0301", "_", "-", "\u200b"]


def fuzz_strings(count, seed):
    rng = random.Random(seed)
    return ["".join(rng.choice(FUZZ_ALPHABET) for _ in range(rng.randint(1, 24))) for _ in range(count)]


def split_smollm(text):
    out = []
    for seg in regex.findall(r"\p{N}|[^\p{N}]+", text):
        if regex.fullmatch(r"\p{N}", seg):
            out.append(seg)
        else:
            out.extend(regex.findall(GPT2, seg))
    return out


def make_spm():
    with tempfile.TemporaryDirectory() as d:
        corpus = os.path.join(d, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write(TRAINING_TEXT)
        prefix = os.path.join(d, "tiny")
        # Llama 2's tokenizer options: identity normalization, no whitespace cleanup,
        # dummy prefix, digits split, byte fallback.
        spm.SentencePieceTrainer.train(
            input=corpus, model_prefix=prefix, model_type="bpe", vocab_size=520,
            character_coverage=1.0, byte_fallback=True, split_digits=True,
            normalization_rule_name="identity", remove_extra_whitespaces=False,
            add_dummy_prefix=True, allow_whitespace_only_pieces=True,
            num_threads=1, minloglevel=2,
            unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        )
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
        elif sp.is_unused(i):
            types.append(5)
        else:
            types.append(1)
    words = TRAINING_TEXT.split()[:120] + ["🚀", "日本", "ü", "zz", "\n", "  ", "\t", "9", "'"]
    rng = random.Random(2)
    fuzz = ["".join(rng.choice(words) + rng.choice(["", " ", " ", "  ", "\n"]) for _ in range(rng.randint(1, 8)))
            for _ in range(40)]
    cases = [{"text": s, "ids": sp.encode(s, out_type=int)} for s in SPM_STRINGS + fuzz]
    for c in cases:
        assert sp.decode(c["ids"]) == c["text"], c
    return {
        "source": "sentencepiece %s, trained by scripts/make_tokenizer_fixtures.py" % spm.__version__,
        "tokens": tokens, "scores": scores, "token_types": types,
        "bos_id": 1, "eos_id": 2, "unknown_id": 0, "add_space_prefix": True,
        "cases": cases,
    }


def make_pre():
    cases = []
    for s in PRE_STRINGS + fuzz_strings(300, 1):
        cases.append({
            "text": s,
            "gpt2": regex.findall(GPT2, s),
            "llama3": regex.findall(LLAMA3, s),
            "qwen2": regex.findall(QWEN2, s),
            "smollm": split_smollm(s),
        })
    for c in cases:
        for k in ("gpt2", "llama3", "qwen2", "smollm"):
            assert "".join(c[k]) == c["text"], (k, c)
    return {
        "source": "regex %s" % regex.__version__,
        "patterns": {"gpt2": GPT2, "llama3": LLAMA3, "qwen2": QWEN2, "smollm": "\\p{N} then gpt2"},
        "cases": cases,
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "spm_bpe.json"), "w", encoding="utf-8") as f:
        json.dump(make_spm(), f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(os.path.join(OUT, "pretokenizer_splits.json"), "w", encoding="utf-8") as f:
        json.dump(make_pre(), f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
