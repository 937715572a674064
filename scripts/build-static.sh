#!/usr/bin/env bash
# Builds the statically linked, stripped release binaries:
#   target/static/coracle        default features (CLI + HTTPS trackers through rustls + create
#                                + web seeds)
#   target/static/coracle-notls  the same without TLS: plain-HTTP and UDP trackers and web seeds
#
# Linked against musl (x86_64-unknown-linux-musl, static PIE). Measured against glibc's static
# libc on the same code (2026-11-29): 2.88 MiB -> 2.16 MiB with TLS, 2.03 MiB -> 1.31 MiB without.
# Most of the difference is what glibc drags into a static binary and never uses here: NSS and
# iconv (gconv, transliteration tables), scanf/printf variants and the dynamic loader. A
# download of 256 MiB on loopback took the same CPU with either libc. Needs the musl target
# (`rustup target add x86_64-unknown-linux-musl`) and, for ring's C code in the TLS build, a musl
# C compiler (Debian's musl-tools); `.ci/run` installs both.
#
# `--target` is spelled out on purpose: with an explicit target, RUSTFLAGS apply only to the
# target crates, so build scripts and proc-macros stay host binaries.
set -euo pipefail

cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-musl
OUT=target/static
# A separate target dir so the static flags never invalidate the normal build's cache.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/static-build}"
# `-z pack-relative-relocs`: the static PIE's relative relocations as a compact RELR table
# instead of 24 bytes each in .rela.dyn (Rust's bundled musl start code applies RELR).
export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,-z,pack-relative-relocs"
# ring's C and assembly for musl.
export CC_x86_64_unknown_linux_musl="${CC_x86_64_unknown_linux_musl:-musl-gcc}"

if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
    echo "build-static: the $TARGET target is missing; run: rustup target add $TARGET" >&2
    exit 1
fi
command -v "$CC_x86_64_unknown_linux_musl" >/dev/null || {
    echo "build-static: $CC_x86_64_unknown_linux_musl not found (Debian: apt-get install musl-tools)" >&2
    exit 1
}

build() { # build NAME CARGO-ARGS...
    local name=$1
    shift
    echo "==> building $name ($*)" >&2
    cargo build --release --locked --target "$TARGET" "$@"
    mkdir -p "$OUT"
    # The unwind tables: with `panic = "abort"` nothing unwinds, so they only serve backtraces
    # of a panic (which then prints its message and location without the stack). A static PIE
    # does not register them at start (crtbeginS), so removing them is safe; checked with a
    # panicking program built the same way: message and location printed, exit 134.
    objcopy --remove-section=.eh_frame --remove-section=.eh_frame_hdr \
        --remove-section=.gcc_except_table \
        "$CARGO_TARGET_DIR/$TARGET/release/coracle" "$OUT/$name"
}

# `small-idna` keeps the ASCII-only idna back end out of library users' graphs; the binaries
# want it (see Cargo.toml).
build coracle --features small-idna
build coracle-notls --no-default-features --features cli,create,webseed,small-idna

ls -l "$OUT/coracle" "$OUT/coracle-notls" >&2
