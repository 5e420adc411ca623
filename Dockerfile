# realtime-strategies image: a release build of the host on debian bookworm-slim, running as an unprivileged user.
#
#   docker build -t yurisa2/petrosa-realtime-strategies:0.1.0 .
#   docker run --rm -p 8080:8080 yurisa2/petrosa-realtime-strategies:0.1.0      # standalone replay, no NATS
#   docker run --rm -p 8080:8080 -e NATS_URL=nats://host.docker.internal:4222 yurisa2/petrosa-realtime-strategies:0.1.0
#
# Dependencies are compiled in their own cached layer with cargo-chef: the recipe depends only on the manifests
# and Cargo.lock, so a change to the sources rebuilds the workspace crates, not the ~400 dependencies.
#
# No BuildKit frontend is needed (no `# syntax=` line: nothing here uses its extensions, and it would pull a
# frontend image from a registry). The runtime image gets the binary without debug info; the debug info is split
# into /out/realtime-strategies.debug in the builder stage (`docker build --target builder`, then copy it out, to
# symbolize a core dump or a perf profile; the binary carries a .gnu_debuglink to it).

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim
ARG CARGO_CHEF_VERSION=0.1.78

# --- cargo-chef, installed once ----------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS chef
ARG CARGO_CHEF_VERSION
RUN cargo install cargo-chef --locked --version "=${CARGO_CHEF_VERSION}"
WORKDIR /build

# --- recipe: the dependency graph of the workspace (manifests + lock only) --------------------------------------
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# --- builder ------------------------------------------------------------------------------------------------------
FROM chef AS builder
# Dependency layer: cached until Cargo.toml / Cargo.lock of a workspace member change.
COPY --from=planner /build/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json --package realtime-strategies --bin realtime-strategies
# The workspace itself (the bundled replay recording under tests/data is compiled into the binary).
COPY . .
# objcopy (binutils, part of the Rust image's C toolchain) splits the line tables off the release binary.
RUN cargo build --release --locked --package realtime-strategies --bin realtime-strategies \
    && install -D -m 0755 target/release/realtime-strategies /out/realtime-strategies \
    && cd /out \
    && objcopy --only-keep-debug realtime-strategies realtime-strategies.debug \
    && objcopy --strip-debug --add-gnu-debuglink=realtime-strategies.debug realtime-strategies

# --- runtime ------------------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG COMMIT_SHA=unknown
LABEL org.opencontainers.image.title="realtime-strategies" \
      org.opencontainers.image.description="Plugin-based host for real-time crypto trading strategies (NATS in, trading intents out)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT_SHA}" \
      org.opencontainers.image.licenses="MIT"
# ca-certificates: TLS to MongoDB Atlas and the external quote feeds; curl: the HEALTHCHECK below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /var/lib/realtime-strategies --shell /usr/sbin/nologin app \
    && install -d -o app -g app -m 0750 /var/lib/realtime-strategies
COPY --from=builder /out/realtime-strategies /usr/local/bin/realtime-strategies
# The embedded configuration store (used when MONGODB_URI is unset) lives in the app user's writable directory;
# Kubernetes mounts an emptyDir there because the root filesystem is read-only.
WORKDIR /var/lib/realtime-strategies
ENV LOG_FORMAT=json \
    HEALTH_CHECK_PORT=8080 \
    CONFIG_DB_PATH=/var/lib/realtime-strategies/config.redb
USER 10001:10001
EXPOSE 8080
# Liveness only (/ready also needs the NATS connection). Uses the default port: if HEALTH_CHECK_PORT is changed,
# override the healthcheck too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:8080/healthz || exit 1
# SIGTERM: stop intake, finish in-flight messages, flush published signals, exit.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/realtime-strategies"]
