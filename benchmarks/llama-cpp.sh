#!/usr/bin/env bash
# Builds llama.cpp tools (the peer we measure against) once, outside the repo,
# from the PyPI source package llama-cpp-python, and prints their folder.
#   benchmarks/llama-cpp.sh llama-bench llama-batched-bench llama-server
# LLAMA_CPP_AVX2=1 builds for AVX2 alone (into build-avx2/), the peer of `JETON_KERNELS=avx2`
# on a machine with AVX-512: both engines then run the kernels of an AVX2-only CPU.
# Never run in CI: benchmarks only.
set -euo pipefail
VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
CACHE=${LLAMA_CPP_DIR:-$HOME/.cache/jeton/llama.cpp}
SRC=$CACHE/llama_cpp_python-$VERSION/vendor/llama.cpp
BUILD=$SRC/build
[ -z "${LLAMA_CPP_AVX2:-}" ] || BUILD=$SRC/build-avx2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(llama-bench llama-batched-bench llama-server)

if [ ! -f "$SRC/CMakeLists.txt" ]; then
  command -v cmake >/dev/null || { apt-get update -qq && apt-get install -y -qq cmake >/dev/null; }
  mkdir -p "$CACHE"
  python3 -m pip download --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$CACHE" -q >&2
  tar -C "$CACHE" -xzf "$CACHE/llama_cpp_python-$VERSION.tar.gz"
fi
missing=()
for t in "${targets[@]}"; do [ -x "$BUILD/bin/$t" ] || missing+=("$t"); done
if [ ${#missing[@]} -gt 0 ]; then
  # -march=native turns on AMX where the CPU lists it, but a VM may not grant the tile
  # state (llama-bench then dies with SIGILL on its first batched matmul): on such CPUs
  # build for the AVX-512 features alone.
  native=(-DGGML_NATIVE=ON)
  if [ -n "${LLAMA_CPP_AVX2:-}" ]; then
    native=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF)
  elif grep -qw amx_tile /proc/cpuinfo; then
    native=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
            -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON)
  fi
  cmake -S "$SRC" -B "$BUILD" "${native[@]}" -DLLAMA_CURL=OFF -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_BUILD_TESTS=OFF >&2
  cmake --build "$BUILD" -j"$(nproc)" --target "${missing[@]}" >&2
fi
echo "$BUILD/bin"
