#!/usr/bin/env bash
# wrk benchmark: Jeton's HTTP layer vs nginx, both serving a fixed 2-byte body on loopback,
# one worker (event loop) per core, 64 keep-alive connections. Not part of the tests.
# Usage: benchmarks/http/run.sh [SECONDS per run, default 10] [ROUNDS, default 2]
# Needs: wrk, nginx (apt-get install wrk nginx). The machine should be otherwise quiet.
set -euo pipefail
seconds="${1:-10}"
rounds="${2:-2}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d /tmp/jeton-http-bench.XXXXXX)"
cores="$(nproc)"
jeton_port="${JETON_PORT:-18089}"
nginx_port="${NGINX_PORT:-18090}"
epoll_port="${EPOLL_PORT:-18088}"
connections=64
threads=2
for tool in wrk nginx; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install wrk nginx" >&2; exit 1; }
done

# Build the bench server: the SwiftPM product if Package.swift has it, else swiftc directly.
server="$work/http-bench-server"
if grep -q '"http-bench-server"' "$root/Package.swift" && \
   swift build -c release --package-path "$root" --scratch-path "$root/.build-http-bench" --product http-bench-server >"$work/build.log" 2>&1; then
    server="$root/.build-http-bench/release/http-bench-server"
else
    swiftc -O -wmo -module-name BenchServer -D HTTP_SINGLE_MODULE "$root"/Sources/HTTP/*.swift \
        "$root/benchmarks/http/BenchServer/main.swift" -I "$root/Sources/CZlib" -I "$root/Sources/COpenSSL" \
        -lz -lssl -lcrypto -o "$server"
fi

mkdir -p "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes $cores;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        location / { default_type text/plain; return 200 "ok"; }
    }
}
CONF

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    [ -f "$work/nginx/nginx.pid" ] && kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true
    sleep 0.3
    rm -rf "$work"
}
trap cleanup EXIT

nginx -p "$work/nginx" -c "$work/nginx/nginx.conf"
# Two Jeton servers: the default delivery (a DispatchSource per connection) and epoll per loop.
"$server" "$jeton_port" "$cores" >"$work/server.log" 2>&1 &
jeton_pid=$!
pids+=("$jeton_pid")
JETON_HTTP_EVENTS=epoll "$server" "$epoll_port" "$cores" >"$work/server-epoll.log" 2>&1 &
epoll_pid=$!
pids+=("$epoll_pid")
sleep 1
for p in "$jeton_pid" "$epoll_pid"; do
    kill -0 "$p" 2>/dev/null || { echo "bench server did not start:" >&2; cat "$work"/server*.log >&2; exit 1; }
done
curl -fsS "http://127.0.0.1:$epoll_port/" >/dev/null
nginx_workers=($(pgrep -P "$(cat "$work/nginx/nginx.pid")"))
curl -fsS "http://127.0.0.1:$jeton_port/" >/dev/null
curl -fsS "http://127.0.0.1:$nginx_port/" >/dev/null

# CPU time (user+system, in clock ticks) used so far by the given processes, all threads.
cpu_ticks() {
    local total=0 p
    for p in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
    echo "$total"
}

# Prints "requests_per_second p99_ms cpu_us_per_request" for one wrk run against port $1,
# charging the CPU of processes $2... (CPU per request is what stays comparable on a noisy machine).
measure() {
    local port=$1; shift
    local before after out rps p99 requests
    before="$(cpu_ticks "$@")"
    out="$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "http://127.0.0.1:$port/")"
    after="$(cpu_ticks "$@")"
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    requests="$(awk '/requests in/ {print $1}' <<<"$out")"
    p99="$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")"
    echo "$rps $p99 $(awk "BEGIN{printf \"%.1f\", ($after - $before) * 1e6 / $(getconf CLK_TCK) / $requests}")"
}

echo "cores=$cores connections=$connections wrk_threads=$threads seconds=$seconds rounds=$rounds load=$(cut -d' ' -f1-3 /proc/loadavg)"
best_j=0; best_e=0; best_n=0; p99_j=0; p99_e=0; p99_n=0; cpu_j=0; cpu_e=0; cpu_n=0
min_of() { awk "BEGIN{print ($1 == 0 || $2 < $1) ? $2 : $1}"; }
for round in $(seq 1 "$rounds"); do
    # Warm-up so all run with hot caches, then alternate so noise hits them alike.
    wrk -t1 -c8 -d1s "http://127.0.0.1:$jeton_port/" >/dev/null
    read -r j jp jc <<<"$(measure $jeton_port "$jeton_pid")"
    wrk -t1 -c8 -d1s "http://127.0.0.1:$epoll_port/" >/dev/null
    read -r e ep ec <<<"$(measure $epoll_port "$epoll_pid")"
    wrk -t1 -c8 -d1s "http://127.0.0.1:$nginx_port/" >/dev/null
    read -r n np nc <<<"$(measure $nginx_port "${nginx_workers[@]}")"
    printf "round %d: jeton(dispatch) %7.0f req/s p99 %6.2f ms %5.1f us CPU/req | jeton(epoll) %7.0f req/s p99 %6.2f ms %5.1f us CPU/req | nginx %7.0f req/s p99 %6.2f ms %5.1f us CPU/req\n" \
        "$round" "$j" "$jp" "$jc" "$e" "$ep" "$ec" "$n" "$np" "$nc"
    if awk "BEGIN{exit !($j > $best_j)}"; then best_j=$j; p99_j=$jp; fi
    if awk "BEGIN{exit !($e > $best_e)}"; then best_e=$e; p99_e=$ep; fi
    if awk "BEGIN{exit !($n > $best_n)}"; then best_n=$n; p99_n=$np; fi
    cpu_j="$(min_of "$cpu_j" "$jc")"; cpu_e="$(min_of "$cpu_e" "$ec")"; cpu_n="$(min_of "$cpu_n" "$nc")"
done
ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
echo "best req/s: jeton(dispatch) $best_j (p99 ${p99_j} ms), jeton(epoll) $best_e (p99 ${p99_e} ms), nginx $best_n (p99 ${p99_n} ms)"
echo "throughput ratio vs nginx: dispatch $(ratio "$best_j" "$best_n")x, epoll $(ratio "$best_e" "$best_n")x (goal >= 0.60)"
echo "CPU per request (lowest): dispatch ${cpu_j} us, epoll ${cpu_e} us, nginx ${cpu_n} us; efficiency vs nginx: dispatch $(ratio "$cpu_n" "$cpu_j")x, epoll $(ratio "$cpu_n" "$cpu_e")x"
