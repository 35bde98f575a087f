"""Writes Tests/TokenizerTests/Fixtures/wordpiece_llama_cpp.jsonl (llama.cpp's ids for hard strings on
nomic-embed-text-v1.5) and nomic_bert_vocab.txt (the GGUF's vocabulary, one token per line), so the
WordPiece tests run without the model. Run by hand after `jeton pull nomic-embed-text-v1.5`:

    python3 Tests/cli/make_wordpiece_fixture.py <nomic gguf> <llama-tokenize binary>
"""
import json, os, subprocess, sys, tempfile

STRINGS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "search_query: What is TSNE?",
    "search_document: Jeton serves embeddings and chat from one process.",
    "  leading, trailing   and\tmultiple\n\nwhitespace  ",
    "Héllo, WÖRLD! Ça va? naïve café résumé São Paulo Ångström",
    "e\u0301 combining accent and \u00e9 precomposed",
    "ÀÉÎÕÜ àéîõü ßẞ İstanbul ǅ ﬁ ligature",
    "你好，世界！我爱自然语言处理。",
    "日本語のテキスト、カタカナとひらがな。",
    "한국어 텍스트 안녕하세요",
    "Привет, мир! Ελληνικά γράμματα. مرحبا بالعالم",
    "emoji 😀🎉👍🏽 mixed👨‍👩‍👧text and ❤️ hearts",
    "punctuation runs!!! ??? ... --- ((()))[[]]{{}} <<>> ~~~ ``` $$$ %%% ^^^",
    "a+b=c; x<y>z | p&q @home #tag ~tilde `tick` \\back/slash",
    "quotes “curly” ‘single’ «guillemets» — em dash – en dash … ellipsis",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    "x" * 250,
    "abcdefghijklmnopqrstuvwxyz" * 8,
    "unbelievably unrecognizable transformers tokenization wordpiece",
    "numbers 3.14159 1,000,000 2024-01-15 0xDEADBEEF 1e-10 ½ ² ①",
    "control\u0000chars\u0007and\u200bzero\u200dwidth\ufeffbom",
    "[CLS] special [SEP] tokens [MASK] in [UNK] text [PAD]",
    "tabs\tand\u00a0nbsp\u2003em\u3000ideographic space",
    "mathematical ∑∫∂√∞ ≤≥≠ ±×÷ arrows ←→↑↓ symbols ©®™ €£¥",
    "URLs https://example.com/path?query=1&b=2#frag and emails a.b@c.de",
    "code: def f(x): return x**2 if x>0 else -x  # comment",
    "MiXeD CaSe WoRdS AND ALLCAPS",
    "",
    "   ",
    "ZA̡͊͠͝LGΌ zalgo t̸̢e̵x̷t",
    "Straße Œuvre Æther Ørsted Łódź Dvořák Þór",
    "ﬀ ﬃ ℌ ℍ ㎏ ㍻ Ⅻ",
    "Hindi हिन्दी Thai ภาษาไทย Hebrew עברית",
]


def llama_ids(binary, model, text):
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        f.write(text)
        path = f.name
    try:
        env = dict(os.environ, LD_LIBRARY_PATH=os.path.dirname(binary))
        out = subprocess.run([binary, "-m", model, "-f", path, "--ids", "--log-disable"], env=env,
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])
    finally:
        os.unlink(path)


def main():
    import gguf

    model, binary = sys.argv[1], sys.argv[2]
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "TokenizerTests", "Fixtures")
    reader = gguf.GGUFReader(model)
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    assert all("\n" not in t for t in tokens)
    with open(os.path.join(here, "nomic_bert_vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(tokens) + "\n")
    with open(os.path.join(here, "wordpiece_llama_cpp.jsonl"), "w", encoding="utf-8") as f:
        for s in STRINGS:
            f.write(json.dumps({"text": s, "ids": llama_ids(binary, model, s)}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
