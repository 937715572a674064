#!/usr/bin/env bash
# Runs a command inside a new network namespace whose only interface is loopback, with multicast
# on and a route for 239.0.0.0/8 (BEP 14 local discovery). Nothing run this way can reach another
# machine, so a default that points outside (a DHT bootstrap router, a public tracker) fails here
# instead of leaving the machine. Needs root (or unprivileged user namespaces: then it maps the
# caller to root in a user namespace first).
#
#   scripts/loopback-only.sh cargo test
#
# Cargo runs offline inside: fetch crates first (`cargo fetch`, or any build outside).
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
command -v unshare >/dev/null || { echo "unshare not found (util-linux)" >&2; exit 2; }
command -v ip >/dev/null || { echo "ip not found (iproute2)" >&2; exit 2; }

inner='set -e
ip link set lo up
ip link set lo multicast on
ip route add 239.0.0.0/8 dev lo 2>/dev/null || true
export CARGO_NET_OFFLINE=true
exec "$@"'

if [ "$(id -u)" = 0 ]; then
    exec unshare --net -- bash -c "$inner" loopback-only "$@"
else
    exec unshare --user --map-root-user --net -- bash -c "$inner" loopback-only "$@"
fi
