#!/usr/bin/env bash
# Runs the README's test command (scripts/test.sh) in a fresh Debian 12 root file system,
# as a new machine would: Debian's own Python and nothing installed but the Swift toolchain.
#
#   scripts/test-in-debian.sh [--keep] [--fresh-models]
#
# 1. The base images of scripts/build-image.sh (debootstrap bookworm, then the packages Swift
#    needs and this machine's toolchain and package mirror; made once, cached by podman).
# 2. `podman create` + `podman export` of the Swift base into a new folder (podman run is
#    refused on these machines), a clone of this repository's HEAD in it.
# 3. chroot: `CI=true bash scripts/test.sh` as root, with /proc, /sys and /dev mounted and the
#    host's resolv.conf (the package registries are reached as from the host). setup.sh
#    installs nginx, chromium, python3-venv and the test packages into .venv itself.
#
# --fresh-models: download the models inside (default: the host's ~/.cache/jeton/models is
#                 mounted, to save ~2 GB of downloads; `jeton pull` checks their sha256 anyway).
# --keep:         keep the root file system afterwards (default: removed).
# The log is $CACHE/debian12-test.log. Needs root. Exit status: scripts/test.sh's.
set -euo pipefail
cd "$(dirname "$0")/.."
KEEP=0 FRESH_MODELS=0
for a in "$@"; do
  case "$a" in
    --keep) KEEP=1 ;;
    --fresh-models) FRESH_MODELS=1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "test-in-debian: unknown argument $a" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "test-in-debian: run as root (chroot and mounts need it)" >&2; exit 1; }
CACHE=${JETON_IMAGE_CACHE:-/var/cache/jeton-image}
SWIFT_BASE=localhost/swift:6-bookworm
MODELS=${JETON_MODELS:-$HOME/.cache/jeton/models}

scripts/build-image.sh --base-only

root="$CACHE/debian12-test-root"
cname="jeton-debian12-test-$$"
mounted=()
cleanup() {
  for ((i=${#mounted[@]}-1; i>=0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
  podman rm -f "$cname" >/dev/null 2>&1 || true
  if [ "$KEEP" = 0 ]; then rm -rf "$root"; fi
  return 0
}
trap cleanup EXIT
rm -rf "$root"
mkdir -p "$root"
podman create --name "$cname" "$SWIFT_BASE" /bin/true >/dev/null
podman export "$cname" | tar -C "$root" -x
echo "test-in-debian: $(chroot "$root" cat /etc/debian_version) root file system in $root," \
     "python3: $(chroot "$root" sh -c 'command -v python3 || echo none')"

git clone -q "$PWD" "$root/src/jeton"
cp /etc/resolv.conf "$root/etc/resolv.conf"
for m in proc sys dev dev/pts; do
  mkdir -p "$root/$m"
  case "$m" in
    proc) mount -t proc proc "$root/proc" ;;
    sys) mount --rbind /sys "$root/sys" ;;
    dev) mount --rbind /dev "$root/dev" ;;
    dev/pts) continue ;;
  esac
  mounted+=("$root/$m")
done
mkdir -p "$root/tmp" && chmod 1777 "$root/tmp"
if [ "$FRESH_MODELS" = 0 ] && [ -d "$MODELS" ]; then
  mkdir -p "$root/root/.cache/jeton/models"
  mount --bind "$MODELS" "$root/root/.cache/jeton/models"
  mounted+=("$root/root/.cache/jeton/models")
fi

log="$CACHE/debian12-test.log"
echo "test-in-debian: running scripts/test.sh in the chroot; log: $log"
set +e
chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb CI=true \
  PATH=/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  bash -c 'cd /src/jeton && bash scripts/test.sh' >"$log" 2>&1
rc=$?
set -e
grep -E '^(Test Suite .All tests. (passed|failed)|\s+Executed [0-9]+ tests|[0-9]+ (passed|failed)|=+ .*(passed|failed).* =+$)' "$log" | tail -12 || true
echo "test-in-debian: scripts/test.sh exited $rc"
exit "$rc"
