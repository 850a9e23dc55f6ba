#!/usr/bin/env bash
# DNSSEC online signing against unsigned answers, same binary, same run: dnsperf over loopback
# against one `turnout serve` (release build, embedded store, one UDP worker) holding three
# zones of the same records (an A record, a two-address A record, a failover pair, a weighted
# pair, an MX and a wildcard TXT): plain.test (unsigned), ecdsa.test (signed with ECDSA P-256)
# and ed25519.test (signed with Ed25519). Mixes, each DURATION seconds (default 10), ROUNDS times
# interleaved (default 3):
#
#   unsigned            plain.test, DO set
#   signed, no DO       ecdsa.test, DO clear (what a non-validating client gets)
#   signed, warm        ecdsa.test / ed25519.test, DO set, the same names again and again:
#                       every signature comes from the cache
#   signed, all new     ecdsa.test / ed25519.test, DO set, every query a name never asked
#                       before under the wildcard: each answer is signed when asked, so answers
#                       per CPU-second is also signatures per CPU-second
#
# Prints the median answers per server CPU-second of each mix and its ratio to the unsigned one.
#
#   bench/dnssec.sh
#   DURATION=5 ROUNDS=1 bench/dnssec.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-8}
# Names for the all-new mixes: more than the server can answer in DURATION seconds, per round.
FRESH=${FRESH:-1000000}
work=$(mktemp -d /tmp/turnout-dnssec.XXXXXX)
trap 'kill "${pid:-}" 2>/dev/null || true; wait "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --release --locked -p turnout --manifest-path "$here/Cargo.toml" >&2
bin=$here/target/release/turnout
"$bin" serve --dns 127.0.0.1:0 --api 127.0.0.1:0 --controls 127.0.0.1:0 --data-dir "$work/data" --udp-workers 1 >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q 'serving store revision' "$work/serve.log" 2>/dev/null && break; sleep 0.05; done
port=$(grep -o 'UDP on 127.0.0.1:[0-9]*' "$work/serve.log" | head -1 | cut -d: -f2)
api=http://$(grep -o 'API on http://[0-9.:]*' "$work/serve.log" | cut -d/ -f3)
cli() { "$bin" "$@" --api "$api" --data-dir "$work/data" >/dev/null; }
{
  echo "health_checks:"
  echo "  - { name: up, type: tcp, ip: 127.0.0.1, port: 9, interval: 30s, failure_threshold: 3, disabled: true }"
  echo "zones:"
  for z in plain ecdsa ed25519; do
    cat <<YAML
  - name: $z.test
    records:
      - { name: www, type: A, ttl: 300, values: [192.0.2.1] }
      - { name: two, type: A, ttl: 300, values: [192.0.2.2, 192.0.2.3] }
      - { name: mail, type: MX, ttl: 300, values: ["10 www"] }
      - { name: fo, type: A, ttl: 60, set_id: p, failover: primary, health_check: up, values: [192.0.2.10] }
      - { name: fo, type: A, ttl: 60, set_id: s, failover: secondary, values: [192.0.2.11] }
      - { name: w, type: A, ttl: 60, set_id: a, weight: 30, values: [192.0.2.21] }
      - { name: w, type: A, ttl: 60, set_id: b, weight: 70, values: [192.0.2.22] }
      - { name: "*.wild", type: TXT, ttl: 300, values: ['"synthesized"'] }
YAML
  done
} > "$work/zones.yaml"
"$bin" apply -f "$work/zones.yaml" --yes --api "$api" --data-dir "$work/data" >/dev/null
cli dnssec enable ecdsa.test --algorithm ECDSAP256SHA256
cli dnssec enable ed25519.test --algorithm ED25519
for z in ecdsa ed25519; do
  for _ in $(seq 100); do
    dig +dnssec +short @127.0.0.1 -p "$port" "www.$z.test" A | grep -q RRSIG && break
    sleep 0.05
  done
done
for z in plain ecdsa ed25519; do
  printf '%s\n' "www.$z.test A" "two.$z.test A" "mail.$z.test MX" "fo.$z.test A" "w.$z.test A" \
    "x.wild.$z.test TXT" "nothing.$z.test A" "www.$z.test AAAA" > "$work/$z.txt"
done
fresh() { # fresh ZONE ROUND: names no query asked before
  awk -v z="$1" -v r="$2" -v n="$FRESH" 'BEGIN { for (i = 0; i < n; i++) printf "r%d-%d.wild.%s.test TXT\n", r, i, z }' > "$work/fresh-$1.txt"
}
run() { # label file [dnsperf options...]: appends "answers cpu_seconds" to $work/label
  local label=$1 file=$2 before after out
  shift 2
  before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  out=$(dnsperf -s 127.0.0.1 -p "$port" -d "$file" -c "$CLIENTS" -l "$DURATION" -q 100 "$@" 2>&1)
  after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  echo "$(awk '/Queries completed:/{print $3}' <<<"$out") $(awk -v a="$before" -v b="$after" -v hz="$(getconf CLK_TCK)" 'BEGIN{print (b-a)/hz}')" >> "$work/$label"
}
mixes=(unsigned signed-no-do ecdsa-warm ed25519-warm ecdsa-all-new ed25519-all-new)
for round in $(seq "$ROUNDS"); do
  fresh ecdsa "$round"
  fresh ed25519 "$round"
  run unsigned "$work/plain.txt" -D
  run signed-no-do "$work/ecdsa.txt" -e
  run ecdsa-warm "$work/ecdsa.txt" -D
  run ed25519-warm "$work/ed25519.txt" -D
  run ecdsa-all-new "$work/fresh-ecdsa.txt" -D
  run ed25519-all-new "$work/fresh-ed25519.txt" -D
done
median() { awk '$2 > 0 {print $1 / $2}' "$1" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
base=$(median "$work/unsigned")
printf '%-18s %16s %10s\n' "mix" "answers/cpu_s" "vs unsigned"
for m in "${mixes[@]}"; do
  awk -v m="$m" -v q="$(median "$work/$m")" -v b="$base" 'BEGIN { printf "%-18s %16.0f %9.1f%%\n", m, q, 100 * q / b }'
done
echo "check: $(dig +dnssec +short @127.0.0.1 -p "$port" fo.ecdsa.test A | tr '\n' ' ')" >&2
