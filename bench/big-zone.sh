#!/usr/bin/env bash
# Load time and memory for a large zone: generates a zone of N names (A each, TXT on every
# fourth), then measures `check-zone`, `serve` start-up and resident memory, and a SIGHUP
# reload. Prints one table. Loopback only; nothing leaves the machine.
#
#   bench/big-zone.sh            # N=200000 (250,003 records)
#   N=1000000 bench/big-zone.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-200000}
work=$(mktemp -d /tmp/turnout-bigzone.XXXXXX)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --release --locked -p turnout --manifest-path "$here/Cargo.toml" >&2
bin=$here/target/release/turnout
python3 - "$N" "$work/big.zone" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("$ORIGIN big.test.\n$TTL 300\n@ SOA ns1 h 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.1\n")
    for i in range(n):
        f.write(f"host{i} A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n")
        if i % 4 == 0:
            f.write(f'host{i} TXT "record {i}"\n')
PY
records=$(grep -vc '^\$' "$work/big.zone")
t0=$(date +%s%N)
/usr/bin/time -f '%M' -o "$work/check.mem" "$bin" check-zone "$work/big.zone" >/dev/null
t1=$(date +%s%N)
"$bin" serve --dns 127.0.0.1:0 --api 127.0.0.1:0 --controls 127.0.0.1:0 --data-dir "$work/data" --udp-workers 2 --zone-file "$work/big.zone" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q 'listening for DNS/TCP' "$work/serve.log" && break; sleep 0.05; done
t2=$(date +%s%N)
port=$(grep -o 'UDP on 127.0.0.1:[0-9]*' "$work/serve.log" | cut -d: -f2)
answer=$(dig +short @127.0.0.1 -p "$port" "host$((N - 1)).big.test" A)
rss=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status")
kill -HUP "$pid"
t3=$(date +%s%N)
for _ in $(seq 600); do grep -q 'reloaded;' "$work/serve.log" && break; sleep 0.05; done
t4=$(date +%s%N)
rss2=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status")
ms() { echo $(( ($2 - $1) / 1000000 )); }
printf '%-10s %12s %14s %16s %12s %14s %16s  %s\n' names records check_ms check_peak_MiB start_ms serve_rss_MiB reload_ms answer_check
printf '%-10s %12s %14s %16.1f %12s %14.1f %16s  %s\n' "$N" "$records" "$(ms "$t0" "$t1")" \
  "$(awk '{print $1/1024}' "$work/check.mem")" "$(ms "$t1" "$t2")" "$(awk -v k="$rss" 'BEGIN{print k/1024}')" \
  "$(ms "$t3" "$t4")" "${answer:-NO ANSWER}"
echo "RSS after reload: $(awk -v k="$rss2" 'BEGIN{printf "%.1f", k/1024}') MiB"
