#!/usr/bin/env python3
"""Writes about 1 MiB of varied English-like text, the same bytes on every run.

Usage: make_text.py OUT_PATH
"""
import random
import sys

WORDS = """the of and to a in is it you that he was for on are with as I his they be at one have
this from or had by not word but what some we can out other were all there when up use your how
said an each she which do their time if will way about many then them write would like so these
her long make thing see him two has look more day could go come did number sound no most people
my over know water than call first who may down side been now find any new work part take get
place made live where after back little only round man year came show every good me give our
under name very through just form sentence great think say help low line differ turn cause much
mean before move right boy old too same tell does set three want air well also play small end put
home read hand port large spell add even land here must big high such follow act why ask men
change went light kind off need house picture try us again animal point mother world near build
self earth father head stand own page should country found answer school grow study still learn
plant cover food sun four between state keep eye never last let thought city tree cross farm
hard start might story saw far sea draw left late run while press close night real life few
north open seem together next white children begin got walk example ease paper group always music
those both mark often letter until mile river car feet care second book carry took science eat
room friend began idea fish mountain stop once base hear horse cut sure watch color face wood main
enough plain girl usual young ready above ever red list though feel talk bird soon body dog family
direct pose leave song measure door product black short numeral class wind question happen complete
ship area half rock order fire south problem piece told knew pass since top whole king space heard
best hour better true during hundred five remember step early hold west ground interest reach fast
verb sing listen six table travel less morning ten simple several vowel toward war lay against
pattern slow center love person money serve appear road map rain rule govern pull cold notice voice
unit power town fine certain fly fall lead cry dark machine note wait plan figure star box noun
field rest correct able pound done beauty drive stood contain front teach week final gave green
quick develop ocean warm free minute strong special mind behind clear tail produce fact street inch
multiply nothing course stay wheel full force blue object decide surface deep moon island foot
system busy test record boat common gold possible plane stead dry wonder laugh thousand ago ran
check game shape equate hot miss brought heat snow tire bring yes distant fill east paint language
among tokenizer inference server request latency throughput kernel quantized attention""".split()
RARE = ["café", "naïve", "Zürich", "façade", "résumé", "coöperate", "東京", "日本語", "Привет",
        "ελληνικά", "🚀", "🤗", "—", "…", "€", "½"]
NAMES = ["Alice", "Bennet", "Ishmael", "London", "Paris", "OpenAI", "Swift", "Linux", "Jeton"]


def sentence(rng):
    n = rng.randint(4, 24)
    out = []
    for i in range(n):
        r = rng.random()
        if r < 0.02:
            w = rng.choice(RARE)
        elif r < 0.06:
            w = rng.choice(NAMES)
        elif r < 0.09:
            w = str(rng.choice([rng.randint(0, 99), rng.randint(1800, 2030), rng.randint(100, 99999)]))
            if rng.random() < 0.2:
                w += "." + str(rng.randint(0, 99))
        elif r < 0.11:
            w = rng.choice(WORDS) + rng.choice(["'s", "n't", "'ll", "'re", "'ve"])
        else:
            w = rng.choice(WORDS)
        if i == 0:
            w = w[:1].upper() + w[1:]
        out.append(w)
        if i < n - 1 and rng.random() < 0.08:
            out[-1] += rng.choice([",", ",", ";", ":", " -"])
    s = " ".join(out) + rng.choice([".", ".", ".", "?", "!"])
    if rng.random() < 0.1:
        s = '"' + s + '"'
    if rng.random() < 0.03:
        s = "(" + s + ")"
    return s


def main():
    rng = random.Random(20261129)
    target = 1 << 20
    parts, size = [], 0
    while size < target:
        para = " ".join(sentence(rng) for _ in range(rng.randint(2, 8)))
        if rng.random() < 0.05:
            para = "    " + para  # indented block
        parts.append(para)
        size += len(para.encode("utf-8")) + 2
    data = "\n\n".join(parts).encode("utf-8")[:target]
    data = data[: data.rindex(b" ")]  # end on a character boundary
    with open(sys.argv[1], "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
