#!/usr/bin/env bash
# Turnout side by side with gdnsd, PowerDNS, Knot and NSD on the shared peer benchmark
# (dnsperf over loopback, same zone, same run). Prints the harness's table; record the result
# in docs/benchmarks.md with the date, the machine and this command line.
#
#   bench/peers.sh                                   # full run (~10 min)
#   DURATION=5 RUNS=1 FAILOVER=0 bench/peers.sh      # quick look
#
# Any knob of the harness passes through (see its README). PEERS_RUN points at the harness
# when it is not at ../shared/bench/peers/run.sh next to this checkout. Run as root: the
# harness installs the peers with apt-get.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
run=${PEERS_RUN:-$here/../shared/bench/peers/run.sh}
[ -f "$run" ] || { echo "bench/peers.sh: peer harness not found at $run (set PEERS_RUN)" >&2; exit 1; }
cargo build --release --locked -p turnout --manifest-path "$here/Cargo.toml" >&2
export EXTRA_SERVER=${EXTRA_SERVER:-turnout:5305}
# Static zone for now: Turnout is compared with the static servers (knot, nsd) until health
# checks land, then it joins the failover test with ":fo".
data=$(mktemp -d /tmp/turnout-peers-data.XXXXXX)
export EXTRA_CMD_turnout="$here/target/release/turnout serve --dns 127.0.0.1:\$BENCH_PORT --api 127.0.0.1:0 --data-dir $data --zone-file \$BENCH_ZONE_FILE"
exec bash "$run" "$@"
