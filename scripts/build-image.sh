#!/usr/bin/env bash
# Builds the Jeton container image (Dockerfile) with podman on a machine that
# reaches no container registry, then checks the image without `podman run`.
#
#   scripts/build-image.sh [--fetch-model] [--no-verify] [--rebuild-base] [--base-only]
#
# --base-only stops after step 1 (scripts/test-in-debian.sh uses the Swift base image).
#
# 1. Local base images, made once and cached (podman image store):
#    localhost/debian:bookworm-slim  debootstrap --variant=minbase bookworm
#    localhost/swift:6-bookworm      that + the packages Swift needs on Debian
#                                    + this machine's toolchain ($SWIFT_DIR) + its
#                                    git mirror of GitHub packages ($SWIFT_PACKAGES
#                                    with an insteadOf rule), so `swift package
#                                    resolve` works offline in the build.
# 2. podman build --isolation=chroot --format docker (docker format keeps HEALTHCHECK)
#    -t $JETON_IMAGE (default localhost/jeton:dev).
# 3. Verification (unless --no-verify): image config (user, port, health check,
#    entrypoint); then `podman create` + `podman export` of its filesystem and, in a
#    chroot as the image's user with the image's environment: the binary's shared
#    libraries, `jeton serve` on a loopback port with the model mounted (or baked),
#    the image's health check script, /ready, a completion, a streamed completion,
#    /metrics, and SIGTERM -> exit 0.
#
# Environment: JETON_IMAGE, JETON_IMAGE_CACHE (/var/cache/jeton-image), SWIFT_DIR
# (/opt/swift), SWIFT_PACKAGES (/opt/swift-packages), DEBIAN_MIRROR, JETON_MODELS
# (host model folder to mount, default ~/.cache/jeton/models). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

FETCH_MODEL=0 VERIFY=1 REBUILD_BASE=0 BASE_ONLY=0
for a in "$@"; do
  case "$a" in
    --fetch-model) FETCH_MODEL=1 ;;
    --no-verify) VERIFY=0 ;;
    --rebuild-base) REBUILD_BASE=1 ;;
    --base-only) BASE_ONLY=1 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "build-image: unknown argument $a" >&2; exit 2 ;;
  esac
done

IMAGE=${JETON_IMAGE:-localhost/jeton:dev}
CACHE=${JETON_IMAGE_CACHE:-/var/cache/jeton-image}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SWIFT_DIR=${SWIFT_DIR:-/opt/swift}
SWIFT_PACKAGES=${SWIFT_PACKAGES:-/opt/swift-packages}
MODELS=${JETON_MODELS:-$HOME/.cache/jeton/models}
MODEL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
RUNTIME_BASE=localhost/debian:bookworm-slim
SWIFT_BASE=localhost/swift:6-bookworm
PODMAN_BUILD=(podman build --isolation=chroot --format docker)

say() { printf '\033[1mbuild-image:\033[0m %s\n' "$*"; }
die() { printf 'build-image: FAILED: %s\n' "$*" >&2; exit 1; }
VERIFIED=()
ok() { VERIFIED+=("$*"); say "ok: $*"; }
ctx="" rootfs="" server_pid="" cname="jeton-verify-$$"
mounted=()
cleanup() {
  [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null || true
  for ((i=${#mounted[@]}-1; i>=0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
  podman rm -f "$cname" >/dev/null 2>&1 || true
  [ -n "$ctx" ] && rm -rf "$ctx"
  return 0
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, chroot and mounts need it)"
mkdir -p "$CACHE"

# --- tools -------------------------------------------------------------------
need=()
for t in podman:podman buildah:buildah debootstrap:debootstrap curl:curl; do
  command -v "${t%%:*}" >/dev/null 2>&1 || need+=("${t#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- 1a. runtime base: debootstrap minbase bookworm ---------------------------
if [ "$REBUILD_BASE" = 1 ]; then
  podman rmi -f "$SWIFT_BASE" "$RUNTIME_BASE" >/dev/null 2>&1 || true
  rm -rf "$CACHE/rootfs-bookworm"
fi
if podman image exists "$RUNTIME_BASE"; then
  say "$RUNTIME_BASE: cached"
else
  root="$CACHE/rootfs-bookworm"
  if [ ! -f "$root/.complete" ]; then
    rm -rf "$root"
    say "debootstrap --variant=minbase bookworm (about a minute)"
    debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
      || die "debootstrap failed; see $CACHE/debootstrap.log"
    touch "$root/.complete"
  fi
  # This machine reaches HTTPS through an intercepting proxy whose CA is installed
  # locally; put the same extra CAs where update-ca-certificates (run when the
  # Dockerfile installs ca-certificates) picks them up, so pip works in the build.
  # Official base images need nothing of the sort.
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
  rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/archives/"*.deb
  say "importing $RUNTIME_BASE"
  tar --exclude=./.complete -C "$root" -c . \
    | podman import --change 'CMD ["/bin/bash"]' - "$RUNTIME_BASE" >/dev/null
fi
ok "base image $RUNTIME_BASE ($(podman image inspect --format '{{.Size}}' "$RUNTIME_BASE" | awk '{printf "%.0f MB", $1/1e6}'))"

# --- 1b. Swift builder base ---------------------------------------------------
if podman image exists "$SWIFT_BASE"; then
  say "$SWIFT_BASE: cached"
else
  [ -x "$SWIFT_DIR/usr/bin/swift" ] || die "no Swift toolchain at $SWIFT_DIR"
  ctx=$(mktemp -d)
  # The insteadOf rules this machine uses to resolve GitHub packages offline.
  cat >"$ctx/gitconfig" <<EOF
[url "/opt/swift-packages/"]
	insteadOf = https://github.com/
	insteadOf = git@github.com:
	insteadOf = ssh://git@github.com/
[safe]
	directory = *
EOF
  cat >"$ctx/Containerfile" <<EOF
FROM $RUNTIME_BASE
# What the official swift:*-bookworm images install, plus libssl-dev for Jeton.
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      binutils git ca-certificates libc6-dev libcurl4-openssl-dev libedit2 libgcc-12-dev \\
      libsqlite3-0 libstdc++-12-dev libxml2-dev libncurses-dev libz3-dev pkg-config \\
      tzdata zlib1g-dev libssl-dev \\
 && rm -rf /var/lib/apt/lists/*
# The host's toolchain without the debugger and editor tools (not needed to build).
RUN mkdir -p /opt/swift \\
 && tar -C /mnt/swift -c --exclude='./usr/bin/lldb*' --exclude='./usr/lib/liblldb*' \\
      --exclude='./usr/bin/sourcekit-lsp' --exclude='./usr/bin/clangd' --exclude='./usr/bin/docc' \\
      --exclude='./usr/lib/libsourcekitdInProc.so' --exclude='./usr/lib/libSwiftSourceKit*' . \\
    | tar -C /opt/swift -x \\
 && cp -a /mnt/swift-packages /opt/swift-packages
COPY gitconfig /etc/gitconfig
ENV PATH=/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN swift --version
EOF
  say "building $SWIFT_BASE from $SWIFT_DIR and $SWIFT_PACKAGES (a few minutes)"
  "${PODMAN_BUILD[@]}" -v "$SWIFT_DIR:/mnt/swift:ro" -v "$SWIFT_PACKAGES:/mnt/swift-packages:ro" \
    -t "$SWIFT_BASE" -f "$ctx/Containerfile" "$ctx" >"$CACHE/swift-base.log" 2>&1 \
    || die "building $SWIFT_BASE failed; see $CACHE/swift-base.log"
fi
ok "base image $SWIFT_BASE ($(podman image inspect --format '{{.Size}}' "$SWIFT_BASE" | awk '{printf "%.1f GB", $1/1e9}'))"
[ "$BASE_ONLY" = 0 ] || exit 0

# --- 2. the image ---------------------------------------------------------------
say "podman build $IMAGE (FETCH_MODEL=$FETCH_MODEL); log: $CACHE/build.log"
t0=$(date +%s)
set +e
"${PODMAN_BUILD[@]}" \
  --build-arg SWIFT_IMAGE="$SWIFT_BASE" --build-arg RUNTIME_IMAGE="$RUNTIME_BASE" \
  --build-arg FETCH_MODEL="$FETCH_MODEL" -t "$IMAGE" . 2>&1 | tee "$CACHE/build.log" \
  | grep --line-buffered -E '^(\[[0-9/]+\] )?(STEP [0-9]|COMMIT)' | awk '{ print substr($0, 1, 150); fflush() }'
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 0 ] || { tail -30 "$CACHE/build.log" >&2; die "podman build failed ($rc); see $CACHE/build.log"; }
# Untagged stage images of earlier builds (this build's stay: they are its cache).
podman image prune -f --filter "until=$t0" >/dev/null 2>&1 || true
ok "podman build $IMAGE in $(( $(date +%s) - t0 )) s, $(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"

[ "$VERIFY" = 1 ] || { say "skipping verification (--no-verify)"; exit 0; }

# --- 3. verification --------------------------------------------------------------
fmt() { podman image inspect --format "$1" "$IMAGE"; }
user=$(fmt '{{.Config.User}}')
[ -n "$user" ] && [ "${user%%:*}" != 0 ] && [ "${user%%:*}" != root ] || die "image user is '$user', not a non-root user"
ok "runs as user $user"
[[ "$(fmt '{{range $p, $v := .Config.ExposedPorts}}{{$p}} {{end}}')" == *8080/tcp* ]] || die "port 8080 not exposed"
ok "exposes 8080/tcp"
[[ "$(fmt '{{json .Config.Healthcheck}}')" == *jeton-healthcheck* ]] || die "no HEALTHCHECK in the image config"
ok "HEALTHCHECK: $(fmt '{{json .Config.Healthcheck.Test}}')"
entry=$(fmt '{{json .Config.Entrypoint}} {{json .Config.Cmd}}')
ok "entrypoint and command: $entry"

rootfs="$CACHE/verify-rootfs"
for m in proc dev models; do mountpoint -q "$rootfs/$m" 2>/dev/null && umount -l "$rootfs/$m"; done
mountpoint -q "$rootfs" 2>/dev/null && umount -l "$rootfs"
rm -rf "$rootfs"; mkdir -p "$rootfs"
podman create --name "$cname" "$IMAGE" >/dev/null
podman export "$cname" | tar -C "$rootfs" -x
podman rm "$cname" >/dev/null 2>&1
ok "podman create + export: $(du -sh "$rootfs" | cut -f1) filesystem in $rootfs"

missing=$(chroot "$rootfs" /usr/bin/ldd /usr/local/bin/jeton 2>&1 | grep 'not found' || true)
[ -z "$missing" ] || die "jeton misses shared libraries in the image: $missing"
libs=$(chroot "$rootfs" /usr/bin/ldd /usr/local/bin/jeton | awk '{print $1}' | xargs)
echo "$libs" | grep -q swiftCore && die "jeton links the Swift runtime dynamically"
ok "jeton's shared libraries all present, no Swift .so: $libs"

# Read-only root filesystem, as the Kubernetes manifest runs it.
mount --bind "$rootfs" "$rootfs"; mounted+=("$rootfs")
mount -o remount,bind,ro "$rootfs"
ok "root filesystem mounted read-only (readOnlyRootFilesystem)"
mount -t proc proc "$rootfs/proc"; mounted+=("$rootfs/proc")
mount --bind /dev "$rootfs/dev"; mounted+=("$rootfs/dev")
if [ -f "$rootfs/models/$MODEL_FILE" ]; then
  ok "model baked into the image: /models/$MODEL_FILE ($(du -h "$rootfs/models/$MODEL_FILE" | cut -f1))"
else
  [ -f "$MODELS/$MODEL_FILE" ] || die "no $MODELS/$MODEL_FILE to mount; run \`jeton pull default\` first"
  mkdir -p "$rootfs/models"
  mount --bind "$MODELS" "$rootfs/models"; mounted+=("$rootfs/models")
  mount -o remount,bind,ro "$rootfs/models"
  ok "model mounted read-only at /models from $MODELS"
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mapfile -t image_env < <(fmt '{{range .Config.Env}}{{println .}}{{end}}' | grep -v '^$')
mapfile -t cmd < <(podman image inspect --format '{{range .Config.Entrypoint}}{{println .}}{{end}}{{range .Config.Cmd}}{{println .}}{{end}}' "$IMAGE" | grep -v '^$')
# The image's environment and command, on a loopback port of this shared machine.
run_env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${image_env[@]}" HOME=/home/jeton JETON_SERVER_HOST=127.0.0.1 JETON_SERVER_PORT="$port"
         JETON_ENGINE_CACHE_TOKENS=4096)
log="$CACHE/verify-serve.log"
chroot --userspec="$user" "$rootfs" "${run_env[@]}" "${cmd[@]}" >"$log" 2>&1 &
server_pid=$!
ok "started in chroot as $user: ${cmd[*]} (port $port)"

base="http://127.0.0.1:$port"
for _ in $(seq 1 600); do
  kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; die "jeton serve exited early"; }
  chroot --userspec="$user" "$rootfs" "${run_env[@]}" jeton-healthcheck /ready 2>/dev/null && break
  sleep 0.2
done
chroot --userspec="$user" "$rootfs" "${run_env[@]}" jeton-healthcheck || die "the image's health check failed"
ok "image health check script (jeton-healthcheck) passes: GET /health 200"
ok "GET /ready: $(curl -sS "$base/ready")"
ok "GET /version: $(curl -sS "$base/version")"
body='{"model": "default", "prompt": "The capital of France is", "max_tokens": 12, "temperature": 0}'
resp=$(curl -sS -D "$CACHE/verify-headers.txt" -H 'Content-Type: application/json' -H 'X-Request-Id: verify-1' -d "$body" "$base/v1/completions")
echo "$resp" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["choices"][0]["text"].strip(), d' \
  || die "completion failed: $resp"
grep -qi '^x-request-id: verify-1' "$CACHE/verify-headers.txt" || die "X-Request-Id not echoed"
ok "POST /v1/completions: $(echo "$resp" | python3 -c 'import json,sys; print(repr(json.load(sys.stdin)["choices"][0]["text"]))'), X-Request-Id echoed"
chunks=$(curl -sSN -H 'Content-Type: application/json' \
  -d '{"model": "default", "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 16, "stream": true}' \
  "$base/v1/chat/completions" | grep -c '^data: ')
[ "$chunks" -ge 3 ] || die "streamed chat gave $chunks SSE events"
ok "POST /v1/chat/completions stream: $chunks SSE events"
metrics=$(curl -sS "$base/metrics")
grep -q '^jeton_requests_total' <<<"$metrics" || die "no jeton_requests_total in /metrics"
ok "GET /metrics has jeton_requests_total"
kill -TERM "$server_pid"
rc=0; wait "$server_pid" || rc=$?
server_pid=""
[ "$rc" = 0 ] || { tail -5 "$log" >&2; die "jeton exited $rc after SIGTERM"; }
ok "SIGTERM: drained and exited 0"

echo
say "verified:"
printf '  - %s\n' "${VERIFIED[@]}"
