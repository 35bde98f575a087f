#!/usr/bin/env bash
# Jeton against llama.cpp on the same model, same thread count, one after the other
# (never concurrently: on 2 cores a second job ruins both numbers).
#
#   LLAMA_CPP_BIN=/path/to/llama.cpp/build/bin benchmarks/kernels/run.sh [model.gguf]
#
# llama.cpp is built once outside the repo (never committed) by benchmarks/llama-cpp.sh,
# from the PyPI source package llama-cpp-python, into ~/.cache/jeton/llama.cpp ($LLAMA_CPP_DIR).
# PARALLEL=1 also runs the 32-sequence batched comparison (llama-batched-bench).
#   benchmarks/kernels/run.sh --model qwen2.5-coder-1.5b      (a catalog name, pulled if missing, or a path)
# JETON_KERNELS=avx2 compares the AVX2 paths of both on an AVX-512 machine (llama.cpp built for
# AVX2 alone, benchmarks/llama-cpp.sh with LLAMA_CPP_AVX2=1).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x /opt/swift/usr/bin/swift ] && export PATH=/opt/swift/usr/bin:$PATH
MODEL=${MODEL:-default}
case "${1:-}" in
  --model) MODEL=${2:?--model needs a name or a path} ;;
  --model=*) MODEL=${1#--model=} ;;
  "") ;;
  *) MODEL=$1 ;;
esac
[ "${JETON_KERNELS:-}" != avx2 ] || export LLAMA_CPP_AVX2=1
LLAMA_CPP_BIN=${LLAMA_CPP_BIN:-$(benchmarks/llama-cpp.sh llama-bench llama-batched-bench)}
THREADS=${THREADS:-2}
JETON=${JETON:-.build-perf/release/jeton}
[ -x "$JETON" ] || swift build -c release --scratch-path .build-perf --product jeton >&2
# Both engines read the same file: a catalog name becomes its path (`jeton show` prints it first).
if [ ! -f "$MODEL" ]; then
  "$JETON" pull "$MODEL" >/dev/null
  MODEL=$("$JETON" show "$MODEL" | awk -F': ' 'NR==1 && $1=="file" {print $2}')
fi
[ -f "$MODEL" ] || { echo "model file not found" >&2; exit 1; }
echo "model: $MODEL"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), AVX-512 VNNI: $(grep -qw avx512_vnni /proc/cpuinfo && echo yes || echo no)${JETON_KERNELS:+, JETON_KERNELS=$JETON_KERNELS}"
[ -x "$LLAMA_CPP_BIN/llama-bench" ] || { echo "llama-bench not found; set LLAMA_CPP_BIN" >&2; exit 1; }

# The machine is shared: alternate short runs of each engine ROUNDS times and compare
# the best of each (interference only ever slows a run down), printing every round.
ROUNDS=${ROUNDS:-3}
best() { sort -g | tail -1; }
lpps=(); ltgs=(); jpps=(); jtgs=()
for round in $(seq "$ROUNDS"); do
    echo "== round $round, load: $(cut -d' ' -f1-3 /proc/loadavg)"
    # llama-bench CSV: the avg_ts column of the pp and tg rows.
    lcsv=$("$LLAMA_CPP_BIN/llama-bench" -m "$MODEL" -p 512 -n 128 -t "$THREADS" -r 2 -o csv 2>/dev/null)
    lpp=$(echo "$lcsv" | python3 -c 'import csv,sys
for r in csv.DictReader(sys.stdin):
    if r["n_prompt"]!="0" and r["n_gen"]=="0": print(r["avg_ts"])')
    ltg=$(echo "$lcsv" | python3 -c 'import csv,sys
for r in csv.DictReader(sys.stdin):
    if r["n_prompt"]=="0" and r["n_gen"]!="0": print(r["avg_ts"])')
    jout=$("$JETON" bench --model "$MODEL" -p 512 -n 128 -t "$THREADS" -r 2 2>/dev/null)
    echo "$jout" | grep -E '^(bandwidth|int8 peak|amx int8 peak)' || true
    jpp=$(echo "$jout" | awk '$1=="pp512"{print $2}')
    jtg=$(echo "$jout" | awk '$1=="tg128"{print $2}')
    echo "llama.cpp pp512 $lpp  tg128 $ltg"
    echo "jeton     pp512 $jpp  tg128 $jtg"
    lpps+=("$lpp"); ltgs+=("$ltg"); jpps+=("$jpp"); jtgs+=("$jtg")
done
lpp=$(printf '%s\n' "${lpps[@]}" | best); ltg=$(printf '%s\n' "${ltgs[@]}" | best)
jpp=$(printf '%s\n' "${jpps[@]}" | best); jtg=$(printf '%s\n' "${jtgs[@]}" | best)
echo "best of $ROUNDS: llama.cpp pp512 $lpp tg128 $ltg | jeton pp512 $jpp tg128 $jtg"
python3 -c "print('ratio     pp512 %.2fx (goal 2x)   tg128 %.2fx (goal 1.1x)' % ($jpp/$lpp, $jtg/$ltg))"

if [ "${PARALLEL:-0}" = 1 ]; then
    # NPL sequences of 128 prompt tokens, NTG generated each (issue 13: 16 and 64 on the 1.5B).
    NPL=${NPL:-16}; NTG=${NTG:-64}
    echo "== load: $(cut -d' ' -f1-3 /proc/loadavg)"
    # batched-bench table row: | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |
    brow=$("$LLAMA_CPP_BIN/llama-batched-bench" -m "$MODEL" -c 16384 -b 2048 -ub 512 -npp 128 -ntg "$NTG" -npl "$NPL" -t "$THREADS" 2>/dev/null \
        | awk -F'|' 'NF>10 && $2 ~ /[0-9]/ {print}' | tail -1)
    lspp=$(echo "$brow" | awk -F'|' '{gsub(/ /,"",$7); print $7}')
    lstg=$(echo "$brow" | awk -F'|' '{gsub(/ /,"",$9); print $9}')
    echo "llama.cpp pp128x$NPL $lspp"
    echo "llama.cpp tg${NTG}x$NPL $lstg"
    pout=$("$JETON" bench --model "$MODEL" -p 128 -n "$NTG" --parallel "$NPL" -t "$THREADS" -r 1 2>/dev/null)
    jspp=$(echo "$pout" | awk -v k="pp128x$NPL" '$1==k{print $2}')
    jstg=$(echo "$pout" | awk -v k="tg${NTG}x$NPL" '$1==k{print $2}')
    echo "jeton     pp128x$NPL $jspp"
    echo "jeton     tg${NTG}x$NPL $jstg"
    python3 -c "print('ratio     pp128x$NPL %.2fx   tg${NTG}x$NPL %.2fx (goal 2x)' % ($jspp/$lspp, $jstg/$lstg))"
fi
echo "== load: $(cut -d' ' -f1-3 /proc/loadavg)"
