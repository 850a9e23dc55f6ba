#!/usr/bin/env bash
# Policy answers against static ones, same binary, same run: dnsperf over loopback against one
# `turnout serve` (release build, embedded store) holding a zone with static A records and
# policy records (weighted, geolocation with EDNS Client Subnet, latency, a three-level alias
# tree, failover with health checks). Each mix runs DURATION seconds (default 10) with
# CLIENTS dnsperf clients, ROUNDS times (default 3, interleaved, since dnsperf shares the two
# cores); prints the median queries per second per mix and its ratio to the static mix with
# the same EDNS options.
#
#   bench/policies.sh
#   DURATION=5 ROUNDS=1 bench/policies.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-8}
ROUNDS=${ROUNDS:-3}
work=$(mktemp -d /tmp/turnout-policies.XXXXXX)
trap 'kill "${pid:-}" 2>/dev/null || true; wait "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --release --locked -p turnout --manifest-path "$here/Cargo.toml" >&2
cargo run --quiet --locked -p turnout-testkit --example geo_db --manifest-path "$here/Cargo.toml" -- "$work/geo.mmdb" 2>/dev/null
bin=$here/target/release/turnout
cat > "$work/latency.json" <<'JSON'
{"regions": {"us-west": {"latitude": 37.4, "longitude": -122.1}, "eu-west": {"latitude": 53.3, "longitude": -6.3}},
 "networks": [{"network": "192.0.2.0/24", "rtt_ms": {"us-west": 8, "eu-west": 140}},
              {"network": "198.51.100.0/24", "rtt_ms": {"us-west": 150, "eu-west": 12}}]}
JSON
cat > "$work/turnout.toml" <<'TOML'
[routing]
geo_database = "geo.mmdb"
latency_map = "latency.json"
TOML
"$bin" serve --config "$work/turnout.toml" --dns 127.0.0.1:0 --api 127.0.0.1:0 --controls 127.0.0.1:0 --data-dir "$work/data" --udp-workers 2 >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q 'serving store revision' "$work/serve.log" 2>/dev/null && break; sleep 0.05; done
port=$(grep -o 'UDP on 127.0.0.1:[0-9]*' "$work/serve.log" | head -1 | cut -d: -f2)
api=http://$(grep -o 'API on http://[0-9.:]*' "$work/serve.log" | cut -d/ -f3)
cat > "$work/zone.yaml" <<'YAML'
health_checks:
  - { name: up, type: tcp, ip: 127.0.0.1, port: 9, interval: 30s, failure_threshold: 3, disabled: true }
zones:
  - name: bench.test
    records:
      - { name: static, type: A, ttl: 300, values: [192.0.2.1] }
      - { name: static2, type: A, ttl: 300, values: [192.0.2.2, 192.0.2.3] }
      - { name: w, type: A, ttl: 60, set_id: a, weight: 30, health_check: up, values: [192.0.2.11] }
      - { name: w, type: A, ttl: 60, set_id: b, weight: 70, values: [192.0.2.12] }
      - { name: geo, type: A, ttl: 60, set_id: ca, geo: { country: US, subdivision: CA }, values: [192.0.2.21] }
      - { name: geo, type: A, ttl: 60, set_id: eu, geo: { continent: EU }, values: [192.0.2.22] }
      - { name: geo, type: A, ttl: 60, set_id: any, geo: { country: "*" }, values: [192.0.2.29] }
      - { name: lat, type: A, ttl: 60, set_id: usw, region: us-west, values: [192.0.2.31] }
      - { name: lat, type: A, ttl: 60, set_id: euw, region: eu-west, values: [192.0.2.32] }
      - { name: pool, type: A, ttl: 60, set_id: blue, weight: 1, health_check: up, values: [192.0.2.41] }
      - { name: pool, type: A, ttl: 60, set_id: green, weight: 1, values: [192.0.2.42] }
      - { name: site, type: A, set_id: p, failover: primary, alias: { target: pool, evaluate_target_health: true } }
      - { name: site, type: A, ttl: 60, set_id: s, failover: secondary, values: [192.0.2.49] }
      - { name: tree, type: A, set_id: usw, region: us-west, alias: { target: site, evaluate_target_health: true } }
      - { name: tree, type: A, set_id: euw, region: eu-west, alias: { target: lat, evaluate_target_health: true } }
YAML
"$bin" apply -f "$work/zone.yaml" --yes --api "$api" --data-dir "$work/data" >/dev/null
for _ in $(seq 100); do [ -n "$(dig +short @127.0.0.1 -p "$port" tree.bench.test A)" ] && break; sleep 0.05; done
printf 'static.bench.test A\nstatic2.bench.test A\n' > "$work/static.txt"
printf 'w.bench.test A\ngeo.bench.test A\nlat.bench.test A\ntree.bench.test A\nsite.bench.test A\n' > "$work/mix.txt"
printf 'geo.bench.test A\nlat.bench.test A\n' > "$work/ecs.txt"
# ECS 192.0.2.0/24: family 1, source 24, scope 0, address 192.0.2.
ecs=8:00011800c00002
run() { # label file [dnsperf options...]
  local label=$1 file=$2; shift 2
  local out
  out=$(dnsperf -s 127.0.0.1 -p "$port" -d "$file" -c "$CLIENTS" -T 2 -l "$DURATION" -q 200 "$@" 2>&1)
  awk '/Queries per second/ {print $4}' <<<"$out" >> "$work/$label.qps"
  awk '/Queries lost/ {print $3}' <<<"$out" >> "$work/$label.lost"
}
for _ in $(seq "$ROUNDS"); do
  run static "$work/static.txt"
  run policy-mix "$work/mix.txt"
  run static-ecs "$work/static.txt" -E "$ecs"
  run policy-mix-ecs "$work/mix.txt" -E "$ecs"
  run geo-latency-ecs "$work/ecs.txt" -E "$ecs"
done
median() { sort -n "$1" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
printf '%-18s %12s %8s %10s\n' "mix" "queries/s" "lost" "vs static"
for m in static policy-mix static-ecs policy-mix-ecs geo-latency-ecs; do
  base=static; case $m in *ecs) base=static-ecs ;; esac
  awk -v m="$m" -v q="$(median "$work/$m.qps")" -v b="$(median "$work/$base.qps")" \
      -v l="$(paste -sd+ "$work/$m.lost" | bc)" \
      'BEGIN { printf "%-18s %12.0f %8d %9.1f%%\n", m, q, l, 100 * q / b }'
done
echo "check: $(dig +short @127.0.0.1 -p "$port" +subnet=198.51.100.0/24 tree.bench.test A) (tree from Europe)" >&2
