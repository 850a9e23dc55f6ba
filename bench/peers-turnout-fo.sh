#!/usr/bin/env bash
# Turnout as a failover server in the shared peer harness (EXTRA_SERVER=turnout:PORT:fo): serves
# the harness's zone from a fresh embedded store, with www as a failover pair whose primary is
# health-checked over HTTP every second (threshold 1), like the peers at their fastest settings.
# The harness starts this script (BENCH_* variables) and stops it by PID; it stops Turnout.
set -euo pipefail
bin=${TURNOUT_BIN:?}
data=$(mktemp -d /tmp/turnout-peers-fo.XXXXXX)
"$bin" serve --dns "127.0.0.1:$BENCH_PORT" --api 127.0.0.1:0 --controls 127.0.0.1:0 --data-dir "$data/data" 2>"$data/serve.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT INT TERM
for _ in $(seq 200); do grep -q 'serving store revision' "$data/serve.log" 2>/dev/null && break; sleep 0.05; done
api=http://$(grep -o 'API on http://[0-9.:]*' "$data/serve.log" | cut -d/ -f3)
cli() { "$bin" "$@" --api "$api" --data-dir "$data/data" >/dev/null; }
cli import "$BENCH_ZONE_FILE"
cli record delete "$BENCH_ZONE" "$BENCH_FO_NAME." A
cat > "$data/fo.yaml" <<YAML
health_checks:
  - { name: primary, type: http, ip: $BENCH_FO_PRIMARY, port: $BENCH_HC_PORT, path: /, interval: ${BENCH_HC_INTERVAL}s, failure_threshold: 1 }
zones:
  - name: $BENCH_ZONE
    records:
      - { name: $BENCH_FO_NAME., type: A, ttl: $BENCH_FO_TTL, set_id: primary, failover: primary, health_check: primary, values: [$BENCH_FO_PRIMARY] }
      - { name: $BENCH_FO_NAME., type: A, ttl: $BENCH_FO_TTL, set_id: secondary, failover: secondary, values: [$BENCH_FO_SECONDARY] }
YAML
cli apply -f "$data/fo.yaml" --yes
wait "$pid"
