#!/usr/bin/env bash
# What the DNS query counters and dnstap cost: answers per server CPU-second with the counters
# off and on (`dns.query_counters`), and with the counters and dnstap (every query and reply,
# `sample = 1`, to a file), dnsperf over loopback; Knot DNS beside them in the same run, with and
# without its mod-dnstap to a file. One UDP worker each; the CPU-seconds are the server
# process's, the dnstap writer thread's included. Prints a table; record it in
# docs/benchmarks.md. The dnstap files take about 1 GB per run while it lasts.
#
#   bench/metrics.sh                      # ~4 min after the build; needs dnsperf, knotd and
#                                         # knot-module-dnstap (Debian packages)
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
start_turnout counters+dnstap 5387 $'[dns.dnstap]\nfile = "tap.fstrm"\nsample = 1.0'
start_knot knot+dnstap 5388 "mod-dnstap:
  - id: bench
    sink: $work/knot-tap.fstrm
template:
  - id: default
    global-module: mod-dnstap/bench"
wait_answering 5384 5385 5386 5387 5388
write_queries
for r in $(seq "$RUNS"); do
  for s in counters-off:5384 counters-on:5385 counters+dnstap:5387 knot:5386 knot+dnstap:5388; do
    echo "run $r/$RUNS: ${s%%:*}" >&2
    measure "${s%%:*}" "${s##*:}"
  done
done
echo
echo "## Answers per server CPU-second (dnsperf -l $DURATION -c 10 -q 100, median of $RUNS)"
print_medians counters-off counters-on counters+dnstap knot knot+dnstap
# Whether dnstap kept up: messages written and dropped (queue full), from the node's /metrics.
api=$(grep -o 'listening for the API on http://[0-9.:]*' "$work/counters+dnstap/log" | head -1 | sed 's/.* //')
curl -s "$api/metrics" | grep '^turnout_dns_tap_messages_total' || true
for f in "$work/counters+dnstap/tap.fstrm" "$work/knot-tap.fstrm"; do
  echo "dnstap file $(basename "$(dirname "$f")")/$(basename "$f"): $(du -h "$f" | cut -f1)"
done
