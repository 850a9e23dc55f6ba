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
cargo build --release --locked -p turnout --manifest-path "$here/Cargo.toml" >&2
bin=$here/target/release/turnout
work=$(mktemp -d /tmp/turnout-metrics.XXXXXX)
pids=()
declare -A pid
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM
zone=$here/examples/example.test.zone
start_turnout() {  # start_turnout NAME PORT CONFIG-BODY
  mkdir -p "$work/$1"
  printf '%s\n' "$3" > "$work/$1/turnout.toml"
  "$bin" serve --dns "127.0.0.1:$2" --udp-workers 1 --api 127.0.0.1:0 --controls 127.0.0.1:0 \
    --data-dir "$work/$1/data" --zone-file "$zone" --config "$work/$1/turnout.toml" 2>"$work/$1/log" &
  pids+=($!)
  pid[$1]=$!
}
mkdir -p "$work/knot"
cat > "$work/knot/knot.conf" <<CONF
server:
    listen: 127.0.0.1@5386
    rundir: $work/knot
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: $work/knot
zone:
  - domain: example.test
    file: $zone
CONF
start_turnout counters-off 5384 $'[dns]\nquery_counters = false'
start_turnout counters-on 5385 ''
knotd -c "$work/knot/knot.conf" 2>"$work/knot/log" &
pids+=($!)
pid[knot]=$!
for port in 5384 5385 5386; do
  ok=
  for _ in $(seq 100); do
    if dig @127.0.0.1 -p "$port" +time=1 +tries=1 +short www.example.test A >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.1
  done
  [ -n "$ok" ] || { echo "bench/metrics.sh: the server on port $port did not answer" >&2; cat "$work"/*/log >&2; exit 1; }
done
printf '%s\n' 'www.example.test A' 'example.test MX' 'mail.example.test A' 'nothing.example.test A' \
  'app.example.test A' 'example.test TXT' > "$work/queries.txt"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() {  # run NAME PORT -> "answers cpu_seconds"
  local before after out answers
  before=$(cpu_ticks "${pid[$1]}")
  out=$(dnsperf -s 127.0.0.1 -p "$2" -d "$work/queries.txt" -l "$DURATION" -c 10 -q 100 2>&1)
  after=$(cpu_ticks "${pid[$1]}")
  answers=$(awk '/Queries completed:/{print $3}' <<<"$out")
  echo "$answers $(awk -v a="$before" -v b="$after" -v hz="$(getconf CLK_TCK)" 'BEGIN{print (b-a)/hz}')"
}
declare -A results
for r in $(seq "$RUNS"); do
  for s in counters-off:5384 counters-on:5385 knot:5386; do
    name=${s%%:*} port=${s##*:}
    echo "run $r/$RUNS: $name" >&2
    results[$name]+="$(run "$name" "$port");"
  done
done
echo
echo "## Answers per server CPU-second (dnsperf -l $DURATION -c 10 -q 100, median of $RUNS)"
printf '%-14s %12s %12s %14s\n' server answers cpu_s 'answers/cpu_s'
for name in counters-off counters-on knot; do
  tr ';' '\n' <<<"${results[$name]}" | awk 'NF==2 && $2>0 {print $1, $2, $1/$2}' | sort -k3 -n |
    awk -v n="$name" '{a[NR]=$0} END{split(a[int((NR+1)/2)], m, " "); printf "%-14s %12d %12.2f %14.0f\n", n, m[1], m[2], m[3]}'
done
