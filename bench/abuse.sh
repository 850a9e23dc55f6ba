#!/usr/bin/env bash
# What the DNS abuse limits cost and what they buy, with Knot DNS beside Turnout in the same run.
#
# 1. Answers per server CPU-second with the limits off and on, dnsperf over loopback, every
#    query carrying a client cookie (dnsperf -E 10:...): "off" ignores it; "on" answers it with
#    a fresh RFC 9018 server cookie and puts every query through the rate limiter (with a rate
#    no flood here reaches, so that what is measured is the cost, not the dropping). Knot 3.2
#    runs the same zone without and with mod-cookies and mod-rrl.
# 2. Amplification under a spoofed-source flood: queries "from" a victim address (a socket
#    bound to 127.0.0.2, which reads what comes back), a large answer each (TXT of the apex and
#    ANY), with the rate limit off and on (20/s, slip 2): bytes the victim receives / bytes the
#    attacker sent.
#
#   bench/abuse.sh                      # ~4 min after the build; needs dnsperf and knotd
#   DURATION=5 RUNS=1 bench/abuse.sh    # quick look
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
FLOOD=${FLOOD:-20000}
for tool in dnsperf knotd python3; do
  command -v "$tool" >/dev/null || { echo "bench/abuse.sh: needs $tool (apt-get install dnsperf knot python3)" >&2; exit 1; }
done
zone=$here/examples/example.test.zone
# shellcheck source=bench/dnsperf-lib.sh
. "$here/bench/dnsperf-lib.sh"
dnsperf_setup abuse
big='big TXT "'$(printf 'x%.0s' $(seq 200))'" "'$(printf 'y%.0s' $(seq 200))'" "'$(printf 'z%.0s' $(seq 200))'"'
{ cat "$zone"; echo "$big"; } > "$work/example.test.zone"
zone=$work/example.test.zone

# --- servers -------------------------------------------------------------------------------
unlimited='[dns.rate_limit]
rate = 10000000
slip = 2'
start_turnout turnout-off 5391 $'[dns]\ncookies = false'
start_turnout turnout-on 5392 $'[dns]\nidentity = "bench"\n'"$unlimited"
start_turnout turnout-rrl 5393 $'[dns.rate_limit]\nrate = 20\nslip = 2'
start_knot knot-off 5394 ''
start_knot knot-on 5395 'mod-rrl:
  - id: bench
    rate-limit: 10000000
    slip: 2
mod-cookies:
  - id: bench
template:
  - id: default
    global-module: [mod-rrl/bench, mod-cookies/bench]'
start_knot knot-rrl 5396 'mod-rrl:
  - id: bench
    rate-limit: 20
    slip: 2
template:
  - id: default
    global-module: mod-rrl/bench'
wait_answering 5391 5392 5393 5394 5395 5396

# --- 1. cost ------------------------------------------------------------------------------
write_queries
for r in $(seq "$RUNS"); do
  for s in turnout-off:5391 turnout-on:5392 knot-off:5394 knot-on:5395; do
    name=${s%%:*} port=${s##*:}
    echo "run $r/$RUNS: $name" >&2
    measure "$name" "$port" -E 10:0102030405060708
  done
done
echo
echo "## Answers per server CPU-second, every query with a client cookie (dnsperf -l $DURATION -c 10 -q 100, median of $RUNS)"
print_medians turnout-off turnout-on knot-off knot-on

# --- 2. amplification ---------------------------------------------------------------------
cat > "$work/flood.py" <<'EOF'
import socket, struct, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
def query(i, name, qtype):
    q = struct.pack(">HHHHHH", i & 0xFFFF, 0, 1, 0, 0, 1)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    # OPT: 1232-byte payload, no options (a spoofed query cannot have a valid cookie).
    return q + b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0)
queries = [query(i, "big.example.test", 16) if i % 2 else query(i, "example.test", 255) for i in range(64)]
victim = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
victim.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
victim.bind(("127.0.0.2", 0))
victim.setblocking(False)
sent_bytes = received_bytes = answers = 0
start = time.monotonic()
def drain():
    global received_bytes, answers
    while True:
        try:
            data = victim.recv(65535)
        except BlockingIOError:
            return
        received_bytes += len(data); answers += 1
for i in range(count):
    q = queries[i % len(queries)]
    victim.sendto(q, ("127.0.0.1", port))
    sent_bytes += len(q)
    if i % 64 == 0:
        drain()
        time.sleep(0.0005)  # about 2,000 queries per second per 64: bounded, a few seconds
end = time.monotonic() + 1.0
while time.monotonic() < end:
    drain(); time.sleep(0.01)
print(f"{count} {answers} {sent_bytes} {received_bytes} {time.monotonic() - start:.1f}")
EOF
echo
echo "## Amplification under a spoofed-source flood of $FLOOD queries (TXT 600 B and ANY of the apex), victim 127.0.0.2"
printf '%-14s %10s %10s %12s %12s %8s %14s\n' server queries replies bytes_in bytes_out seconds amplification
for s in turnout-off:5391 turnout-rrl:5393 knot-off:5394 knot-rrl:5396; do
  name=${s%%:*} port=${s##*:}
  read -r n replies bin_ bout secs < <(python3 "$work/flood.py" "$port" "$FLOOD")
  printf '%-14s %10d %10d %12d %12d %8s %14.2f\n' "$name" "$n" "$replies" "$bin_" "$bout" "$secs" \
    "$(awk -v a="$bout" -v b="$bin_" 'BEGIN{print a/b}')"
done
