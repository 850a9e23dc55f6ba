#!/usr/bin/env bash
# What the DNS query counters cost: answers per server CPU-second with them on and off
# (`dns.query_counters`), dnsperf over loopback, Knot DNS beside them in the same run, each
# server with one UDP worker. Prints a table; record it in docs/benchmarks.md.
#
#   bench/metrics.sh                      # ~2 min after the build; needs dnsperf and knotd
#   DURATION=5 RUNS=1 bench/metrics.sh    # quick look
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
for tool in dnsperf knotd dig; do
  command -v "$tool" >/dev/null || { echo "bench/metrics.sh: needs $tool (apt-get install dnsperf knot bind9-dnsutils)" >&2; exit 1; }
done
zone=$here/examples/example.test.zone
# shellcheck source=bench/dnsperf-lib.sh
. "$here/bench/dnsperf-lib.sh"
dnsperf_setup metrics
start_turnout counters-off 5384 $'[dns]\nquery_counters = false'
start_turnout counters-on 5385 ''
start_knot knot 5386 ''
wait_answering 5384 5385 5386
write_queries
for r in $(seq "$RUNS"); do
  for s in counters-off:5384 counters-on:5385 knot:5386; do
    echo "run $r/$RUNS: ${s%%:*}" >&2
    measure "${s%%:*}" "${s##*:}"
  done
done
echo
echo "## Answers per server CPU-second (dnsperf -l $DURATION -c 10 -q 100, median of $RUNS)"
print_medians counters-off counters-on knot
