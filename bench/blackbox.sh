#!/usr/bin/env bash
# Health-probe throughput of Prometheus's blackbox exporter next to Turnout's probe engine, for
# HTTP, HTTPS and TCP, same run, loopback only. The blackbox exporter is pull-based (one GET
# /probe = one probe), so wrk drives /probe?module=KIND&target=... as fast as it can for
# DURATION seconds over each of CONNECTIONS keep-alive connections. The target of both probers
# is one private nginx: "OK" on /health over HTTP and over HTTPS (a self-signed certificate,
# TLS_KEY rsa:2048 or ec; neither prober verifies it, as Route 53 does not; both make a new
# connection and a full handshake per probe), and a port that accepts connections for TCP.
# HTTP(S) probes match the body against "OK", the same work as Turnout's string-match check. A
# Lua hook counts the probes that did not report probe_success 1. Turnout's side is
# bench/probes.sh's probe_load with TARGET set to the same nginx (TURNOUT_CHECKS_<kind> checks at
# TURNOUT_INTERVAL_MS): a schedule, capped at checks/interval, not a closed loop, so raise the
# checks to look for its ceiling.
#
# Prints one row per configuration: probes per second, latency p50/p99, failed probes, the
# prober's CPU (in cores, over the measured time: the exporter's process; probe_load's own, the
# target being nginx) and probes per CPU-second, the figure that compares. The latencies differ
# in kind: wrk's is a whole /probe request through the exporter, probe_load's the last probe's
# time to first byte (to the connect for tcp).
#
#   bench/blackbox.sh                                # http, https, tcp; 64 and 256 connections, 10 s each
#   DURATION=3 CONNECTIONS=128 TURNOUT=0 KINDS=https bench/blackbox.sh    # quick look, exporter only
#
# Knobs (environment): KINDS ("http https tcp"), DURATION (10), CONNECTIONS ("64 256"), THREADS
# (wrk, 2), NGINX_WORKERS (1), TLS_KEY (rsa:2048), TURNOUT (1 runs probe_load too),
# TURNOUT_CHECKS_http (12000), TURNOUT_CHECKS_https (4000), TURNOUT_CHECKS_tcp (12000),
# TURNOUT_INTERVAL_MS (1000), PROBE_LOAD (the probe_load binary; not built here, bench/probes.sh
# builds it). Installs nginx (nginx-light) and wrk with apt-get when missing; the exporter is
# Debian's prometheus-blackbox-exporter.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
duration=${DURATION:-10}
kinds=${KINDS:-http https tcp}
connections=${CONNECTIONS:-64 256}
tls_key=${TLS_KEY:-rsa:2048}
threads=${THREADS:-2}
nginx_workers=${NGINX_WORKERS:-1}
turnout=${TURNOUT:-1}
turnout_checks_http=${TURNOUT_CHECKS_http:-12000}
turnout_checks_https=${TURNOUT_CHECKS_https:-4000}
turnout_checks_tcp=${TURNOUT_CHECKS_tcp:-12000}
turnout_interval=${TURNOUT_INTERVAL_MS:-1000}
probe_load=${PROBE_LOAD:-$here/target/release/examples/probe_load}
exporter=${BLACKBOX_EXPORTER:-$(command -v prometheus-blackbox-exporter || echo /usr/bin/prometheus-blackbox-exporter)}
say() { echo "bench/blackbox.sh: $*" >&2; }
die() { say "$*"; exit 1; }

[ -x "$exporter" ] || die "prometheus-blackbox-exporter not found (apt-get install prometheus-blackbox-exporter)"
command -v curl >/dev/null 2>&1 || die "curl not found"
command -v openssl >/dev/null 2>&1 || die "openssl not found"
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  say "installing ${need[*]}"
  # RUNLEVEL=1: the package's init script must not start a system nginx on port 80.
  apt_install() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y --no-install-recommends "${need[@]}" >&2; }
  apt_install || { "${sudo[@]}" apt-get update >&2 && apt_install; }
fi
nginx=$(command -v nginx || echo /usr/sbin/nginx)

tmp=$(mktemp -d /tmp/turnout-blackbox.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# A free loopback port below the ephemeral range (the probes' own connections use that range).
free_port() {
  local p i
  for i in $(seq 200); do
    p=$((20000 + RANDOM % 10000))
    [ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return; }
  done
  die "no free port found"
}
wait_http() { # URL SECONDS
  local i
  for i in $(seq $(($2 * 10))); do curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
clk=$(getconf CLK_TCK)
cpu_ticks() { # PIDS...: user + system ticks so far
  local p t=0 s
  for p in "$@"; do
    s=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    t=$((t + $(echo "$s" | awk '{print $12 + $13}')))
  done
  echo "$t"
}
to_ms() { # wrk's "12.34ms" / "850.00us" / "1.02s" / "1.50m" -> milliseconds
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1
    if (f < 0) print "?"; else printf "%.2f", n * f }'
}

# The target: nginx, private prefix, one static location, a deep accept queue like probe_load's.
tport=$(free_port)
sport=$(free_port)
cport=$(free_port)
mkdir -p "$tmp/nginx/logs"
case "$tls_key" in
  ec) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) ;;
  *) newkey=(-newkey "$tls_key") ;;
esac
openssl req -x509 "${newkey[@]}" -nodes -days 2 -subj /CN=localhost \
  -keyout "$tmp/nginx/key.pem" -out "$tmp/nginx/cert.pem" >/dev/null 2>&1 || die "openssl could not make a $tls_key certificate"
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes $nginx_workers;
worker_rlimit_nofile 65536;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections 16384; multi_accept on; }
http {
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  keepalive_requests 1000000;
  # Whether each HTTPS request's handshake resumed a session ("r") or was full ("."): both
  # probers must make full ones; the summary counts them.
  log_format reuse '\$ssl_session_reused';
  map \$scheme \$is_https { https 1; default 0; }
  access_log $tmp/nginx/logs/tls.log reuse buffer=256k flush=1s if=\$is_https;
  server {
    listen 127.0.0.1:$tport backlog=16384;
    listen 127.0.0.1:$sport ssl backlog=16384;
    listen 127.0.0.1:$cport backlog=16384;
    ssl_certificate $tmp/nginx/cert.pem;
    ssl_certificate_key $tmp/nginx/key.pem;
    default_type text/plain;
    location = /health { return 200 "OK"; }
    location = /wrong { return 200 "NO"; }
  }
}
EOF
"$nginx" -q -t -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/logs/error.log" >&2 \
  || die "nginx rejected its config"
"$nginx" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/logs/error.log" >"$tmp/nginx/logs/stdout" 2>&1 &
nginx_pid=$!
pids+=("$nginx_pid")
target=http://127.0.0.1:$tport/health
wait_http "$target" 10 || { cat "$tmp/nginx/logs/error.log" >&2; die "nginx did not answer on $target"; }
[ "$(curl -fsS --max-time 2 "$target")" = OK ] || die "nginx does not answer OK on $target"
[ "$(curl -fsSk --max-time 2 "https://127.0.0.1:$sport/health")" = OK ] || die "nginx does not answer OK on https://127.0.0.1:$sport/health"

# The exporter: one module doing what Turnout's string-match check does.
bport=$(free_port)
cat >"$tmp/blackbox.yml" <<'EOF'
modules:
  http:
    prober: http
    timeout: 2s
    http:
      preferred_ip_protocol: ip4
      fail_if_body_not_matches_regexp: ["OK"]
  https:
    prober: http
    timeout: 2s
    http:
      preferred_ip_protocol: ip4
      fail_if_body_not_matches_regexp: ["OK"]
      tls_config:
        insecure_skip_verify: true
  tcp:
    prober: tcp
    timeout: 2s
    tcp:
      preferred_ip_protocol: ip4
EOF
"$exporter" --config.file="$tmp/blackbox.yml" --web.listen-address="127.0.0.1:$bport" --log.level=warn \
  >"$tmp/blackbox.log" 2>&1 &
bb_pid=$!
pids+=("$bb_pid")
wait_http "http://127.0.0.1:$bport/metrics" 10 || { cat "$tmp/blackbox.log" >&2; die "blackbox exporter did not start on 127.0.0.1:$bport"; }
# Each kind's exporter target and probe_load's.
declare -A bb_target=(
  [http]="http://127.0.0.1:$tport/health" [https]="https://127.0.0.1:$sport/health" [tcp]="127.0.0.1:$cport")
declare -A tl_target=([http]="127.0.0.1:$tport" [https]="127.0.0.1:$sport" [tcp]="127.0.0.1:$cport")
declare -A tl_checks=([http]=$turnout_checks_http [https]=$turnout_checks_https [tcp]=$turnout_checks_tcp)
for kind in $kinds; do
  [ -n "${bb_target[$kind]:-}" ] || die "KINDS: $kind is not http, https or tcp"
  probe=http://127.0.0.1:$bport/probe?module=$kind
  out=$(curl -fsS --max-time 5 "$probe&target=${bb_target[$kind]}") || die "GET $probe&target=${bb_target[$kind]} failed"
  grep -qx 'probe_success 1' <<<"$out" || { echo "$out" >&2; die "a single $kind probe did not report probe_success 1"; }
done
# And the body match is really applied: a 200 without "OK" must fail.
out=$(curl -fsS --max-time 5 "http://127.0.0.1:$bport/probe?module=https&target=https://127.0.0.1:$sport/wrong") || die "GET /probe (/wrong) failed"
grep -qx 'probe_success 0' <<<"$out" || { echo "$out" >&2; die "a probe of a body without OK did not fail: the regexp is not applied"; }

exporter_version=$("$exporter" --version 2>&1 | awk 'NR == 1 {print $3}')

# wrk counts the responses; this hook counts the probes that did not succeed (the exporter
# answers 200 either way).
cat >"$tmp/probe.lua" <<'EOF'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad = 0 end
function response(status, headers, body)
  if status == 200 and string.find(body, "\nprobe_success 1\n", 1, true) then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  io.write(string.format("probes_ok %d\nprobes_failed %d\n", o, b))
end
EOF

rows=()
notes=()
workers=$(ps -o pid= --ppid "$nginx_pid" | tr -d ' ' | tr '\n' ' ' || true)
per_cpu() { awk -v r="$1" -v c="$2" 'BEGIN { if (c > 0) printf "%.0f", r / c; else print "-" }'; }
for kind in $kinds; do
  probe=http://127.0.0.1:$bport/probe?module=$kind
  target=${bb_target[$kind]}
  for c in $connections; do
    [ "$c" -ge "$threads" ] || die "CONNECTIONS ($c) must be at least THREADS ($threads)"
    say "blackbox exporter, $kind: $c connections, $threads wrk threads, ${duration} s"
    bb0=$(cpu_ticks "$bb_pid"); ng0=$(cpu_ticks "$nginx_pid" $workers); t0=$(date +%s.%N)
    TIMEFORMAT='%U %S'
    { time wrk -t "$threads" -c "$c" -d "${duration}s" --timeout 5s --latency -s "$tmp/probe.lua" \
        "$probe&target=$target" >"$tmp/wrk.out" 2>&1; } 2>"$tmp/wrk.time" \
      || { cat "$tmp/wrk.out" >&2; die "wrk failed"; }
    bb1=$(cpu_ticks "$bb_pid"); ng1=$(cpu_ticks "$nginx_pid" $workers); t1=$(date +%s.%N)
    kill -0 "$bb_pid" 2>/dev/null || { cat "$tmp/blackbox.log" >&2; die "the blackbox exporter died under load"; }
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
    rate=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$tmp/wrk.out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$tmp/wrk.out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$tmp/wrk.out")")
    failed=$(awk '/^probes_failed/ {print $2}' "$tmp/wrk.out")
    sockerr=$(awk '/Socket errors:/ {gsub(/[^0-9]+/, " "); n = split($0, a, " "); for (i = 1; i <= n; i++) s += a[i]} END {print s + 0}' "$tmp/wrk.out")
    [ -n "$rate" ] && [ -n "$failed" ] || { cat "$tmp/wrk.out" >&2; die "could not read wrk's output"; }
    bbcpu=$(awk -v t="$((bb1 - bb0))" -v w="$wall" -v k="$clk" 'BEGIN {printf "%.2f", t / k / w}')
    ngcpu=$(awk -v t="$((ng1 - ng0))" -v w="$wall" -v k="$clk" 'BEGIN {printf "%.2f", t / k / w}')
    wrkcpu=$(awk -v w="$wall" '{printf "%.2f", ($1 + $2) / w}' "$tmp/wrk.time")
    fails=$failed
    [ "${sockerr:-0}" -gt 0 ] && fails="$failed (+$sockerr socket errors)"
    rows+=("$kind|blackbox_exporter $exporter_version|wrk $threads threads, $c conns|$rate|$p50 ms|$p99 ms|$fails|$bbcpu|$(per_cpu "$rate" "$bbcpu")")
    notes+=("  $kind, ${c} conns: nginx ${ngcpu} cores, wrk ${wrkcpu} cores; $(awk '/ requests in / {sub(/^ +/, ""); print}' "$tmp/wrk.out")")
  done
  if [ "$turnout" = 1 ]; then
    n=${tl_checks[$kind]}
    if [ -x "$probe_load" ]; then
      say "turnout probe_load, $kind: $n checks every $turnout_interval ms, ${duration} s"
      ng0=$(cpu_ticks "$nginx_pid" $workers); t0=$(date +%s.%N)
      KIND=$kind TARGET=${tl_target[$kind]} "$probe_load" "$n" "$turnout_interval" "$duration" >"$tmp/turnout.out" 2>&1 \
        || { cat "$tmp/turnout.out" >&2; die "probe_load failed"; }
      ng1=$(cpu_ticks "$nginx_pid" $workers); t1=$(date +%s.%N)
      rate=$(awk '/^probes per second/ {print $4}' "$tmp/turnout.out")
      failed=$(awk '/^failed probes/ {print $3}' "$tmp/turnout.out")
      p50=$(awk '/^last first-byte/ {print $4}' "$tmp/turnout.out")
      p99=$(awk '/^last first-byte/ {print $7}' "$tmp/turnout.out")
      tcpu=$(awk '/^cpu / {print $2}' "$tmp/turnout.out")
      [ -n "$rate" ] && [ -n "$failed" ] && [ -n "$tcpu" ] || { cat "$tmp/turnout.out" >&2; die "could not read probe_load's output"; }
      ngcpu=$(awk -v t="$((ng1 - ng0))" -v a="$t0" -v b="$t1" -v k="$clk" 'BEGIN {printf "%.2f", t / k / (b - a)}')
      rows+=("$kind|turnout probe_load|$n checks / $turnout_interval ms|$rate|$p50 ms*|$p99 ms*|$failed|$tcpu|$(per_cpu "$rate" "$tcpu")")
      notes+=("  $kind, probe_load: upper bound $(awk '/^upper bound/ {print $3}' "$tmp/turnout.out") probes/s, $(awk '/^cpu / {print $(NF-3)}' "$tmp/turnout.out") us per probe; nginx ${ngcpu} cores (start-up included); * the last probe of each check")
    else
      say "no $probe_load: build it with bench/probes.sh (or cargo build --release --locked -p turnout-health --example probe_load)"
      rows+=("$kind|turnout probe_load|not built|-|-|-|-|-|-")
    fi
  fi
done
# QUIT: a graceful stop, which writes out the buffered access log.
kill "$bb_pid" 2>/dev/null || true
kill -QUIT "$nginx_pid" 2>/dev/null || true
wait "$bb_pid" "$nginx_pid" 2>/dev/null || true
pids=()
tls_total=$(wc -l <"$tmp/nginx/logs/tls.log" 2>/dev/null || echo 0)
tls_resumed=$(grep -c '^r$' "$tmp/nginx/logs/tls.log" 2>/dev/null || true)

{
  echo "kind|prober|configuration|probes/s|p50|p99|failed|cpu (cores)|probes per cpu-s"
  printf '%s\n' "${rows[@]}"
} | column -t -s '|'
printf '%s\n' "${notes[@]}"
echo "  https requests nginx served: ${tls_total}, of which on a resumed TLS session: ${tls_resumed:-0}"
