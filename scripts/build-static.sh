#!/usr/bin/env bash
# Builds the statically linked, stripped release binaries:
#   target/static/coracle        default features (CLI + HTTPS trackers through rustls)
#   target/static/coracle-notls  CLI only, plain-HTTP and UDP trackers
#
# glibc static linking (`+crt-static`) keeps the toolchain we already have; musl would need an
# extra target. `--target` is spelled out on purpose: with an explicit target, RUSTFLAGS apply
# only to the target crates, so build scripts and proc-macros stay dynamic (a static proc-macro
# cannot be loaded by rustc).
set -euo pipefail

cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-gnu
OUT=target/static
# A separate target dir so the static flags never invalidate the normal build's cache.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/static-build}"
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"

build() { # build NAME CARGO-ARGS...
    local name=$1
    shift
    echo "==> building $name ($*)" >&2
    cargo build --release --locked --target "$TARGET" "$@"
    mkdir -p "$OUT"
    cp "$CARGO_TARGET_DIR/$TARGET/release/coracle" "$OUT/$name"
}

build coracle
build coracle-notls --no-default-features --features cli

ls -l "$OUT/coracle" "$OUT/coracle-notls" >&2
