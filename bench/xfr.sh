#!/usr/bin/env bash
# Zone transfers and dynamic updates, Turnout next to Knot DNS in the same run:
#   - AXFR of a zone of N A records (default 100,000) over TCP, kdig as the client, the median
#     of RUNS transfers: seconds, messages, records per second;
#   - IXFR after one change (a record added): the median time of RUNS such round trips;
#   - RFC 2136 updates per second: UPDATES updates (one TXT record added each), each its own
#     TSIG-signed UPDATE message, sent one after the other by one knsupdate process over UDP.
# Turnout serves the zone from its embedded store (imported with `turnout import`), Knot from
# the same zone file, with its journal on. Prints a table; record it in docs/benchmarks.md.
#
#   bench/xfr.sh                     # ~3 min after the release build; needs knotd, kdig,
#                                    # knsupdate (Debian knot, knot-dnsutils) and python3
#   N=20000 RUNS=3 bench/xfr.sh      # quick look
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-100000}
RUNS=${RUNS:-5}
UPDATES=${UPDATES:-500}
for tool in knotd kdig knsupdate python3; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    { echo "bench/xfr.sh: needs $tool (apt-get install knot knot-dnsutils python3)" >&2; exit 1; }
done
knotd=$(command -v knotd || echo /usr/sbin/knotd)
cargo build --release --locked -p turnout --manifest-path "$here/Cargo.toml" >&2
bin=$here/target/release/turnout
work=$(mktemp -d /tmp/turnout-xfr.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT INT TERM
secret=$(head -c 32 /dev/urandom | base64)
key="hmac-sha256:bench.key:$secret"

python3 - "$N" "$work/bench.zone" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("$ORIGIN bench.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\n")
    f.write("ns1 A 192.0.2.53\n")
    for i in range(n - 3):
        f.write(f"host{i} A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n")
PY

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

# Turnout: the store, the zone imported, transfers to loopback, updates by the key.
"$bin" serve --dns 127.0.0.1:5390 --api 127.0.0.1:0 --controls 127.0.0.1:0 --udp-workers 1 \
  --data-dir "$work/turnout" >"$work/turnout.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do grep -q 'serving store revision' "$work/turnout.log" && break; sleep 0.05; done
api=$(grep -o 'API on http://[0-9.:]*' "$work/turnout.log" | cut -d' ' -f3)
cli() { "$bin" "$@" --api "$api" --data-dir "$work/turnout" >/dev/null; }
echo "importing $N records into Turnout" >&2
cli import "$work/bench.zone"
printf '%s' "$secret" > "$work/secret"
cli tsig-key create bench.key --secret-file "$work/secret"
cli zone transfers bench.test --allow-prefix 127.0.0.0/8
cli zone updates bench.test --allow 'bench.key:*:TXT'

# Knot: the same zone file, transfers to loopback, updates by the same key, a journal.
cat > "$work/knot.conf" <<CONF
server:
    listen: 127.0.0.1@5391
    rundir: $work
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: $work/knotdb
key:
  - id: bench.key
    algorithm: hmac-sha256
    secret: $secret
acl:
  - id: xfr
    address: 127.0.0.0/8
    action: transfer
  - id: upd
    key: bench.key
    action: update
zone:
  - domain: bench.test
    file: $work/bench.zone
    acl: [xfr, upd]
    journal-content: changes
    zonefile-sync: -1
CONF
mkdir -p "$work/knotdb"
"$knotd" -c "$work/knot.conf" 2>"$work/knot.log" &
pids+=($!)
for port in 5390 5391; do
  for _ in $(seq 600); do
    kdig @127.0.0.1 -p "$port" +short +time=1 +retry=0 "host$((N - 4)).bench.test" A 2>/dev/null | grep -q . && break
    sleep 0.1
  done
done

axfr() {  # axfr PORT: seconds, messages, records of one transfer
  local t0 out t1
  t0=$(now)
  out=$(kdig @127.0.0.1 -p "$1" +tcp +time=30 bench.test AXFR +noall +stats 2>&1)
  t1=$(now)
  local msgs recs
  msgs=$(grep -o '[0-9]* messages' <<<"$out" | cut -d' ' -f1)
  recs=$(grep -o '[0-9]* records' <<<"$out" | cut -d' ' -f1)
  echo "$(echo "$t1 - $t0" | bc -l) $msgs $recs"
}

serial() { kdig @127.0.0.1 -p "$1" +short bench.test SOA | awk '{print $3}'; }

ixfr_round() {  # ixfr_round PORT I: one record added by UPDATE, then the IXFR from before it
  local before t0 t1 out
  before=$(serial "$1")
  printf 'server 127.0.0.1 %s\nzone bench.test.\nupdate add ixfr%s.bench.test. 60 TXT "x"\nsend\n' "$1" "$2" |
    knsupdate -y "$key" >/dev/null
  for _ in $(seq 200); do [ "$(serial "$1")" != "$before" ] && break; sleep 0.01; done
  t0=$(now)
  out=$(kdig @127.0.0.1 -p "$1" +tcp bench.test "IXFR=$before" +noall +stats 2>&1)
  t1=$(now)
  grep -q "ixfr$2" <<<"$(kdig @127.0.0.1 -p "$1" +tcp bench.test "IXFR=$before" 2>&1)" ||
    { echo "IXFR on port $1 did not carry the change: $out" >&2; exit 1; }
  echo "$t1 - $t0" | bc -l
}

updates() {  # updates PORT: seconds for UPDATES signed updates in one knsupdate session
  local t0 t1
  {
    printf 'server 127.0.0.1 %s\nzone bench.test.\n' "$1"
    for i in $(seq "$UPDATES"); do printf 'update add upd%s.bench.test. 60 TXT "u%s"\nsend\n' "$i" "$i"; done
  } > "$work/updates-$1.txt"
  t0=$(now)
  knsupdate -y "$key" "$work/updates-$1.txt"
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}

declare -A axfr_s axfr_m ixfr_s upd_s
for name in turnout:5390 knot:5391; do
  n=${name%%:*} port=${name##*:}
  echo "measuring $n" >&2
  runs=()
  for _ in $(seq "$RUNS"); do runs+=("$(axfr "$port")"); done
  axfr_s[$n]=$(printf '%s\n' "${runs[@]}" | awk '{print $1}' | median)
  axfr_m[$n]=$(printf '%s\n' "${runs[0]}" | awk '{print $2 " msgs, " $3 " records"}')
  ixfr_s[$n]=$(for i in $(seq "$RUNS"); do ixfr_round "$port" "$i"; done | median)
  upd_s[$n]=$(updates "$port")
done

echo
echo "## Zone transfers and updates, $N records (median of $RUNS; $UPDATES updates)"
printf '%-8s %10s %12s %26s %12s %14s\n' server 'AXFR s' 'records/s' 'AXFR size' 'IXFR ms' 'updates/s'
for n in turnout knot; do
  printf '%-8s %10.3f %12.0f %26s %12.1f %14.0f\n' "$n" "${axfr_s[$n]}" \
    "$(echo "$N / ${axfr_s[$n]}" | bc -l)" "${axfr_m[$n]}" \
    "$(echo "${ixfr_s[$n]} * 1000" | bc -l)" "$(echo "$UPDATES / ${upd_s[$n]}" | bc -l)"
done
