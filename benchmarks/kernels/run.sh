#!/usr/bin/env bash
# Jeton against llama.cpp on the same model, same thread count, one after the other, figure by
# figure (never concurrently: on 2 cores a second job ruins both numbers).
#
#   LLAMA_CPP_BIN=/path/to/llama.cpp/build/bin benchmarks/kernels/run.sh [model.gguf]
#
# llama.cpp is built once outside the repo (never committed) by benchmarks/llama-cpp.sh,
# from the PyPI source package llama-cpp-python, into ~/.cache/jeton/llama.cpp ($LLAMA_CPP_DIR).
# PARALLEL=1 also runs the many-sequence comparison (llama-batched-bench; NPL=16 sequences, NTG=64 tokens).
#   benchmarks/kernels/run.sh --model qwen2.5-coder-1.5b      (a catalog name, pulled if missing, or a path)
# JETON_KERNELS=avx2 compares the AVX2 paths of both on an AVX-512 machine (llama.cpp built for
# AVX2 alone, benchmarks/llama-cpp.sh with LLAMA_CPP_AVX2=1).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x /opt/swift/usr/bin/swift ] && export PATH=/opt/swift/usr/bin:$PATH
ROUNDS=${ROUNDS:-3}
case "$ROUNDS" in ''|*[!0-9]*|0*) echo "ROUNDS must be a positive integer" >&2; exit 2 ;; esac
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

# The machine is shared and its speed drifts: each round measures a figure of both engines back to
# back (pp in one order, tg in the other, the first engine changing by round), and the summary
# takes the ratios round by round (median, range), every round printed. A record of JSON lines
# (RECORD, default a temporary file) keeps the figures; benchmarks/kernels/summary.py reads it.
RECORD=${RECORD:-$(mktemp "${TMPDIR:-/tmp}/jeton-kernels.XXXXXX.jsonl")}
: > "$RECORD"
: > "$RECORD.log"  # the engines' stderr, for a figure that came out n/a
NPL=${NPL:-16}; NTG=${NTG:-64}  # many sequences: NPL of 128 prompt tokens, NTG generated each

# A number, or null (a run that failed or printed nothing gives n/a, never a figure).
num() { [[ "${1:-}" =~ ^(0|[1-9][0-9]*)(\.[0-9]+)?$ ]] && echo "$1" || echo null; }
# emit ROUND ENGINE FIGURE VALUE [LIMIT SHARE]
emit() {  # emit ROUND ENGINE FIGURE VALUE [LIMIT SHARE [LIMIT-KIND]]
    local v s l k
    v=$(num "$4"); l=$(num "${5:-}"); s=$(num "${6:-}")
    case "${7:-}" in int8|f32|amx) k="\"$7\"" ;; *) k=null ;; esac
    printf '{"round": %d, "engine": "%s", "figure": "%s", "value": %s, "limit": %s, "share": %s, "limit_kind": %s}\n' \
        "$1" "$2" "$3" "$v" "$l" "$s" "$k" >> "$RECORD"
    [ "$v" = null ] && v="n/a (stderr: $RECORD.log)"
    [ "$s" = null ] && s="" || s=" ($s% of ${l/null/?})"
    printf '  %-9s %-10s %s%s\n' "$2" "$3" "$v" "$s"
}
# llama-bench's CSV: avg_ts of its one row.
llama_bench() {
    "$LLAMA_CPP_BIN/llama-bench" -m "$MODEL" "$@" -t "$THREADS" -r 2 -o csv 2>>"$RECORD.log" \
        | python3 -c 'import csv,sys
for r in csv.DictReader(sys.stdin): print(r["avg_ts"])' || true
}
measure() {  # measure ROUND ENGINE pp|tg|par
    local r=$1 e=$2 out
    case "$e/$3" in
      llama/pp) emit "$r" llama pp512 "$(llama_bench -p 512 -n 0)" ;;
      llama/tg) emit "$r" llama tg128 "$(llama_bench -p 0 -n 128)" ;;
      jeton/pp)
        out=$("$JETON" bench --model "$MODEL" -p 512 -n 0 -t "$THREADS" -r 2 2>>"$RECORD.log" || true)
        # "int8 peak 295 GMAC/s (2 threads), ...: limit 2777 t/s, pp512 at 27%" ("f32 peak" for a
        # model of float weights), and where AMX tiles serve the Q4_K matrices "amx int8 peak 1200
        # GMAC/s ...": theirs is the ceiling, so it wins.
        local peak kind=amx
        peak=$(echo "$out" | awk '$1=="amx" && $2=="int8" && $3=="peak"{print; exit}')
        if [ -z "$peak" ]; then
            peak=$(echo "$out" | awk '($1=="int8" || $1=="f32") && $2=="peak"{print "amx " $0; exit}')
            kind=$(echo "$peak" | awk '{print $2}')
        fi
        emit "$r" jeton pp512 "$(echo "$out" | awk '$1=="pp512"{print $2}')" \
            "$(echo "$peak" | awk '{print $4}')" "$(echo "$peak" | awk '{sub(/%$/,"",$NF); print $NF}')" "$kind" ;;
      jeton/tg)
        out=$("$JETON" bench --model "$MODEL" -p 0 -n 128 -t "$THREADS" -r 2 2>>"$RECORD.log" || true)
        # "bandwidth 25.3 GB/s (2 threads), 96 MB read per token: limit 262.8 t/s, tg128 at 64%"
        emit "$r" jeton tg128 "$(echo "$out" | awk '$1=="tg128"{print $2}')" \
            "$(echo "$out" | awk '$1=="bandwidth"{print $2}')" "$(echo "$out" | awk '$1=="bandwidth"{sub(/%$/,"",$NF); print $NF}')" ;;
      llama/par)
        # batched-bench table row: | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |
        out=$("$LLAMA_CPP_BIN/llama-batched-bench" -m "$MODEL" -c 16384 -b 2048 -ub 512 -npp 128 -ntg "$NTG" -npl "$NPL" -t "$THREADS" 2>>"$RECORD.log" \
            | awk -F'|' 'NF>10 && $2 ~ /[0-9]/ {print}' | tail -1 || true)
        emit "$r" llama "pp128x$NPL" "$(echo "$out" | awk -F'|' '{gsub(/ /,"",$7); print $7}')"
        emit "$r" llama "tg${NTG}x$NPL" "$(echo "$out" | awk -F'|' '{gsub(/ /,"",$9); print $9}')" ;;
      jeton/par)
        out=$("$JETON" bench --model "$MODEL" -p 128 -n "$NTG" --parallel "$NPL" -t "$THREADS" -r 1 2>>"$RECORD.log" || true)
        emit "$r" jeton "pp128x$NPL" "$(echo "$out" | awk -v k="pp128x$NPL" '$1==k{print $2}')"
        emit "$r" jeton "tg${NTG}x$NPL" "$(echo "$out" | awk -v k="tg${NTG}x$NPL" '$1==k{print $2}')" ;;
    esac
}
for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then a=llama; b=jeton; else a=jeton; b=llama; fi
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    printf '{"round": %d, "rounds": %d, "load": "%s", "first": "%s"}\n' "$round" "$ROUNDS" "$load" "$a" >> "$RECORD"
    echo "== round $round of $ROUNDS: $a first, load $load"
    measure "$round" "$a" pp; measure "$round" "$b" pp
    measure "$round" "$b" tg; measure "$round" "$a" tg
    if [ "${PARALLEL:-0}" = 1 ]; then measure "$round" "$a" par; measure "$round" "$b" par; fi
done
echo "== load: $(cut -d' ' -f1-3 /proc/loadavg); record: $RECORD"
python3 benchmarks/kernels/summary.py "$RECORD"
