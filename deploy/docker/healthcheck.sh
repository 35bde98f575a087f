#!/bin/bash
# Container health check without curl: GET a path (default /health) from the
# local Jeton over bash's /dev/tcp; healthy when the status is 200.
#   jeton-healthcheck            liveness  (/health: the process and its engine loop answer)
#   jeton-healthcheck /ready     readiness (/ready: model loaded and not draining)
# Port: $JETON_SERVER_PORT, else 8080 (set the port through the environment, not
# only in a mounted config file, or the check looks at the wrong port).
# Plain HTTP only: with tls.cert set, use the orchestrator's own HTTPS probe.
path="${1:-/health}"
port="${JETON_SERVER_PORT:-8080}"
exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$path" >&3
IFS= read -r -t 3 status <&3 || exit 1
case "$status" in
  "HTTP/1."?" 200 "*) exit 0 ;;
  *) echo "jeton-healthcheck: $path: ${status%$'\r'}" >&2; exit 1 ;;
esac
