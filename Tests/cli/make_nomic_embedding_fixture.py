"""Writes Tests/ModelTests/Fixtures/nomic/llama_cpp_embeddings.jsonl: for each sentence of a reference set
(short and long inputs, non-ASCII text), llama.cpp's token ids and its mean-pooled, L2-normalized embedding
of nomic-embed-text-v1.5 (stored as little-endian float16, base64: 1.5 KB a vector, and the rounding moves
the cosine by ~1e-7). Run by hand against a llama-server started as

    llama-server --embedding --pooling mean -m nomic-embed-text-v1.5.f16.gguf -c 8192 -b 2048 -ub 2048 --port 18917

    python3 Tests/cli/make_nomic_embedding_fixture.py http://127.0.0.1:18917
"""
import base64, json, os, sys, urllib.request

import numpy as np

PARAGRAPH = ("Retrieval-augmented generation embeds documents once, stores the vectors, and at query time embeds "
             "the question, finds the nearest documents by cosine similarity and puts them into the prompt. ")
MIXED = ("Les modèles d'embedding transforment un texte en vecteur. 日本語の文章も同じ空間に入ります。"
         "Ελληνικά, русский, español: ¿funciona? Emoji 😀 and CJK 中文 mixed together. ")

SENTENCES = [
    "search_query: What is TSNE?",
    "search_query: Who is Laurens van der Maaten?",
    "search_document: TSNE is a dimensionality reduction algorithm created by Laurens van der Maaten",
    "search_document: The quick brown fox jumps over the lazy dog.",
    "Hello world",
    "a",
    "",
    "search_query: Où se trouve la tour Eiffel ? À Paris, naïve café résumé.",
    "search_document: 東京は日本の首都です。人口は約千四百万人です。",
    "search_document: 你好，世界！我爱自然语言处理。",
    "search_document: Привет, мир! Ελληνικά γράμματα. مرحبا بالعالم. עברית. हिन्दी.",
    "search_query: emoji 😀🎉👍🏽 and symbols ∑∫√∞ ≤≥ €£¥ ©®™",
    "search_document: punctuation!!! ??? ... --- ((()))[[]]{{}} <<>> a+b=c; x<y>z",
    "search_document: def embed(texts): return [model(t) for t in texts]  # Python code",
    "search_document: supercalifragilisticexpialidocious " + "x" * 300,
    "search_document: " + PARAGRAPH * 4,
    "search_document: " + PARAGRAPH * 20,
    "search_document: " + MIXED * 15,
    "search_document: " + PARAGRAPH * 50,
    "search_document: " + PARAGRAPH * 50 + "The last words bring this input to just under the context of 2048 tokens of the model here.",
]


def post(url, path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def main():
    url = sys.argv[1].rstrip("/")
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ModelTests", "Fixtures", "nomic")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "llama_cpp_embeddings.jsonl"), "w", encoding="utf-8") as f:
        for s in SENTENCES:
            ids = post(url, "/tokenize", {"content": s, "add_special": True})["tokens"]
            assert len(ids) <= 2048, (len(ids), s[:40])
            emb = np.array(post(url, "/embedding", {"content": s})[0]["embedding"][0], dtype=np.float64)
            assert abs(np.linalg.norm(emb) - 1) < 1e-4
            b64 = base64.b64encode(emb.astype("<f2").tobytes()).decode()
            f.write(json.dumps({"text": s, "ids": ids, "embedding_f16": b64}, ensure_ascii=False) + "\n")
            print(len(ids), s[:60])


if __name__ == "__main__":
    main()
