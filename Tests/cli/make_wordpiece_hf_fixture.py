"""Writes Tests/TokenizerTests/Fixtures/wordpiece_hf.jsonl: the ids Hugging Face's BERT WordPiece
tokenizer (the `tokenizers` package, the tokenizer nomic-embed-text-v1.5 was trained with: lowercase,
accents stripped, CJK split, 100 characters a word at most) gives for make_wordpiece_fixture.py's hard
strings and a few more, on the GGUF's vocabulary (nomic_bert_vocab.txt, turned back into BERT's
vocab.txt form: "▁piece" is "piece", a plain "piece" is "##piece"). Run by hand:

    python3 -m pip install tokenizers && python3 Tests/cli/make_wordpiece_hf_fixture.py
"""
import json, os, re, sys

from tokenizers import BertWordPieceTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_wordpiece_fixture import STRINGS  # noqa: E402

MORE = [
    "한국 호감 학교",  # syllables that share a first jamo
    "한국어 텍스트",
    "हिन्दी भाषा",  # Devanagari vowel signs (Mc) and virama (Mn)
    "বাংলা ভাষা তামিল தமிழ் മലയാളം",
    "x" * 100,
    "y" * 101,
    "naïve " + "z" * 120 + " end",
    "a\x0bb a\x0cb c\x85d",  # control characters that are also white space: removed, not spaces
    "tab\tline\nreturn\rend\x1cfile\x1fsep",
    "enclosing \u0489 mark and \u20dd circle",
]


def main():
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "TokenizerTests", "Fixtures")
    with open(os.path.join(here, "nomic_bert_vocab.txt"), encoding="utf-8") as f:
        tokens = f.read().split("\n")[:-1]
    vocab = {}
    for i, t in enumerate(tokens):
        if re.fullmatch(r"\[[^\]]+\]", t):
            piece = t
        elif t.startswith("\u2581"):
            piece = t[1:]
        else:
            piece = "##" + t
        vocab.setdefault(piece, i)
    tok = BertWordPieceTokenizer(vocab, unk_token="[UNK]", sep_token="[SEP]", cls_token="[CLS]", pad_token="[PAD]",
                                 mask_token="[MASK]", clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                 lowercase=True)
    with open(os.path.join(here, "wordpiece_hf.jsonl"), "w", encoding="utf-8") as f:
        for s in STRINGS + MORE:
            f.write(json.dumps({"text": s, "ids": tok.encode(s).ids}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
