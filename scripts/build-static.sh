#!/usr/bin/env bash
# Builds the statically linked, stripped release binaries:
#   target/static/coracle        default features (CLI + HTTPS trackers through rustls + create)
#   target/static/coracle-notls  CLI only: plain-HTTP and UDP trackers, no `create`, no web seeds
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
# `-z pack-relative-relocs`: the static PIE's relative relocations as a compact RELR table
# (glibc >= 2.36, binutils >= 2.38) instead of 24 bytes each in .rela.dyn: about 66 KB less.
# `--icf=all`: the linker (rust-lld) folds functions whose machine code is identical (generic
# instances over same-layout types, mostly): about 14 KB less. Rust promises no distinct function
# addresses, so nothing may compare them.
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs -C link-arg=-Wl,--icf=all"

build() { # build NAME CARGO-ARGS...
    local name=$1
    shift
    echo "==> building $name ($*)" >&2
    cargo build --release --locked --target "$TARGET" "$@"
    mkdir -p "$OUT"
    # The unwind tables: with `panic = "abort"` nothing unwinds, so they only serve backtraces
    # of a panic (which then prints its message and location without the stack): about 0.27
    # MiB. A static PIE does not register them at start (crtbeginS), so removing them is safe;
    # a non-PIE static binary (crtbeginT) would crash.
    objcopy --remove-section=.eh_frame --remove-section=.eh_frame_hdr \
        --remove-section=.gcc_except_table \
        "$CARGO_TARGET_DIR/$TARGET/release/coracle" "$OUT/$name"
}

# `small-idna` keeps the ASCII-only idna back end out of library users' graphs; the binaries
# want it (see Cargo.toml).
build coracle --features small-idna
build coracle-notls --no-default-features --features cli,small-idna

ls -l "$OUT/coracle" "$OUT/coracle-notls" >&2
