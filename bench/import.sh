#!/usr/bin/env bash
# Importing a large zone file through the API: generates a zone of N A records (plus SOA, NS),
# starts `turnout serve` on loopback with a fresh data directory, runs `turnout import`, and
# prints the import time, the CLI's peak memory, the server's peak and final memory, the store
# file's size and the time until the last record is answered. Loopback only.
#
#   bench/import.sh              # N=100000
#   N=20000 bench/import.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-100000}
work=$(mktemp -d /tmp/turnout-import.XXXXXX)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --release --locked -p turnout --manifest-path "$here/Cargo.toml" >&2
bin=$here/target/release/turnout
python3 - "$N" "$work/import.zone" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("$ORIGIN import.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\n")
    for i in range(n - 2):
        f.write(f"host{i} A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n")
PY
"$bin" serve --dns 127.0.0.1:0 --api 127.0.0.1:0 --controls 127.0.0.1:0 --udp-workers 2 --data-dir "$work/data" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q 'serving store revision' "$work/serve.log" && break; sleep 0.05; done
api=$(grep -o 'API on http://[0-9.:]*' "$work/serve.log" | cut -d' ' -f3)
port=$(grep -o 'UDP on 127.0.0.1:[0-9]*' "$work/serve.log" | cut -d: -f2)
t0=$(date +%s%N)
/usr/bin/time -f '%M' -o "$work/cli.mem" "$bin" import "$work/import.zone" --api "$api" --data-dir "$work/data" --output json >"$work/import.json"
t1=$(date +%s%N)
last="host$((N - 3)).import.test"
for _ in $(seq 6000); do [ -n "$(dig +short @127.0.0.1 -p "$port" "$last" A)" ] && break; sleep 0.01; done
t2=$(date +%s%N)
hwm=$(awk '/^VmHWM:/{print $2}' "/proc/$pid/status")
rss=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status")
store=$(du -k "$work/data/store.redb" | cut -f1)
batches=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['batches'])" "$work/import.json")
printf '%-34s %s\n' "records in the zone file" "$N"
printf '%-34s %s\n' "change batches" "$batches"
printf '%-34s %.2f s\n' "turnout import (all batches INSYNC)" "$(echo "($t1 - $t0) / 1000000000" | bc -l)"
printf '%-34s %.2f s\n' "until the last record answers" "$(echo "($t2 - $t0) / 1000000000" | bc -l)"
printf '%-34s %.1f MiB\n' "CLI peak RSS" "$(echo "$(cat "$work/cli.mem") / 1024" | bc -l)"
printf '%-34s %.1f MiB\n' "server peak RSS (VmHWM)" "$(echo "$hwm / 1024" | bc -l)"
printf '%-34s %.1f MiB\n' "server RSS after the import" "$(echo "$rss / 1024" | bc -l)"
printf '%-34s %.1f MiB\n' "store file" "$(echo "$store / 1024" | bc -l)"
