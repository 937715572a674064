#!/usr/bin/env bash
# Builds the static binaries (scripts/build-static.sh) and checks what "small and embeddable"
# promises: size budgets, static linking, and that each binary runs.
#
#   coracle        (everything: CLI, HTTPS trackers and web seeds, create)  <= 3 MiB
#   coracle-notls  (the same without TLS)                                   <= 2 MiB
#
# Exits non-zero on any failure. `--no-build` checks binaries already in target/static.
set -euo pipefail

cd "$(dirname "$0")/.."

if [[ "${1:-}" != "--no-build" ]]; then
    bash scripts/build-static.sh
fi

MIB=1048576
fail=0

mib() { awk -v b="$1" 'BEGIN { printf "%.3f", b / 1048576 }'; }

# A static binary has no program interpreter; `file` calls it "statically linked" or, for a
# static PIE, "static-pie linked". readelf is the fallback when `file` is not installed.
is_static() {
    local bin=$1
    if command -v file >/dev/null; then
        file -L "$bin" | grep -Eq 'statically linked|static-pie linked'
    elif command -v readelf >/dev/null; then
        ! readelf -l "$bin" | grep -q 'INTERP'
    else
        ldd "$bin" 2>&1 | grep -Eq 'not a dynamic executable|statically linked'
    fi
}

check() { # check NAME BUDGET-MIB
    local name=$1 budget=$2 bin="target/static/$1" size
    size=$(stat -c %s "$bin")
    printf '%-14s %9d bytes  %s MiB  (budget %s MiB)\n' "$name" "$size" "$(mib "$size")" "$budget"
    if ((size > budget * MIB)); then
        echo "FAIL: $name is $((size - budget * MIB)) bytes over its budget" >&2
        fail=1
    fi
    if ! is_static "$bin"; then
        echo "FAIL: $name is not statically linked" >&2
        fail=1
    fi
    if ! "$bin" --version >/dev/null; then
        echo "FAIL: $name --version did not run" >&2
        fail=1
    fi
}

check coracle 3
check coracle-notls 2

# What TLS costs: the only difference between the two builds.
tls=$(($(stat -c %s target/static/coracle) - $(stat -c %s target/static/coracle-notls)))
printf '%-14s %9d bytes  %s MiB\n' "TLS" "$tls" "$(mib "$tls")"

if ((fail)); then
    echo "check-size: FAILED" >&2
    exit 1
fi
echo "check-size: ok"
