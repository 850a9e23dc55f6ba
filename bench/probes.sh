#!/usr/bin/env bash
# Health-probe throughput: CHECKS http string-match checks (default 12,000) at a 1 s interval
# against one local HTTP target (axum, loopback, deep accept queue), measured for 10 s after
# start-up. Prints the probes per second achieved, the failures and the schedule's lag (mean
# time per probe cycle against the interval). Loopback only.
#
#   bench/probes.sh                 # 12000 checks, 1000 ms, 10 s
#   bench/probes.sh 5000 1000 20
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --locked -p turnout-health --example probe_load --manifest-path "$here/Cargo.toml" >&2
exec "$here/target/release/examples/probe_load" "${1:-12000}" "${2:-1000}" "${3:-10}"
