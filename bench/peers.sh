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
# Turnout joins as a failover server: www is a failover pair whose primary is health-checked
# over HTTP every second with threshold 1 (bench/peers-turnout-fo.sh sets it up through the
# API). TURNOUT_STATIC=1 serves the zone file as is instead (www static, like knot and nsd).
export TURNOUT_BIN=$here/target/release/turnout
if [ "${TURNOUT_STATIC:-0}" = 1 ]; then
  export EXTRA_SERVER=${EXTRA_SERVER:-turnout:5305}
  data=$(mktemp -d /tmp/turnout-peers-data.XXXXXX)
  export EXTRA_CMD_turnout="$TURNOUT_BIN serve --dns 127.0.0.1:\$BENCH_PORT --api 127.0.0.1:0 --controls 127.0.0.1:0 --data-dir $data --zone-file \$BENCH_ZONE_FILE"
else
  export EXTRA_SERVER=${EXTRA_SERVER:-turnout:5305:fo}
  export EXTRA_CMD_turnout="$here/bench/peers-turnout-fo.sh"
  export EXTRA_HC_INTERVAL_turnout=1
fi
exec bash "$run" "$@"
