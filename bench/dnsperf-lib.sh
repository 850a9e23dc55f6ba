# Shared by bench/abuse.sh and bench/metrics.sh (sourced, not run): Turnout and Knot DNS on
# loopback ports with one UDP worker each, dnsperf runs measured in answers per server
# CPU-second, and the table of medians. The sourcing script sets `here` (the checkout),
# `DURATION`, `RUNS` and `zone` (the zone file, example.test), and calls dnsperf_setup first.

dnsperf_setup() {  # dnsperf_setup NAME: builds Turnout, makes the work directory, cleans up at exit
  cargo build --release --locked -p turnout --manifest-path "$here/Cargo.toml" >&2
  bin=$here/target/release/turnout
  work=$(mktemp -d "/tmp/turnout-$1.XXXXXX")
  pids=()
  declare -gA pid results
  trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT INT TERM
}

start_turnout() {  # start_turnout NAME PORT CONFIG-BODY
  mkdir -p "$work/$1"
  printf '%s\n' "$3" > "$work/$1/turnout.toml"
  "$bin" serve --dns "127.0.0.1:$2" --udp-workers 1 --api 127.0.0.1:0 --controls 127.0.0.1:0 \
    --data-dir "$work/$1/data" --zone-file "$zone" --config "$work/$1/turnout.toml" 2>"$work/$1/log" &
  pids+=($!)
  pid[$1]=$!
}

start_knot() {  # start_knot NAME PORT MODULES (knot.conf text: module sections, a template)
  mkdir -p "$work/$1"
  cat > "$work/$1/knot.conf" <<CONF
server:
    listen: 127.0.0.1@$2
    rundir: $work/$1
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: $work/$1
$3
zone:
  - domain: example.test
    file: $zone
CONF
  knotd -c "$work/$1/knot.conf" 2>"$work/$1/log" &
  pids+=($!)
  pid[$1]=$!
}

wait_answering() {  # wait_answering PORT...: each answers www.example.test within 10 s
  local port ok
  for port in "$@"; do
    ok=
    for _ in $(seq 100); do
      if dig @127.0.0.1 -p "$port" +time=1 +tries=1 +short www.example.test A >/dev/null 2>&1; then ok=1; break; fi
      sleep 0.1
    done
    [ -n "$ok" ] || { echo "the server on port $port did not answer" >&2; cat "$work"/*/log >&2; exit 1; }
  done
}

write_queries() {  # the query mix: 80 % NOERROR, 20 % NXDOMAIN
  printf '%s\n' 'www.example.test A' 'example.test MX' 'mail.example.test A' 'nothing.example.test A' \
    'app.example.test A' 'example.test TXT' > "$work/queries.txt"
}

measure() {  # measure NAME PORT [dnsperf options...]: appends "answers cpu_seconds;" to results[NAME]
  local name=$1 port=$2 before after out answers
  shift 2
  before=$(awk '{print $14 + $15}' "/proc/${pid[$name]}/stat")
  out=$(dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -l "$DURATION" -c 10 -q 100 "$@" 2>&1)
  after=$(awk '{print $14 + $15}' "/proc/${pid[$name]}/stat")
  answers=$(awk '/Queries completed:/{print $3}' <<<"$out")
  results[$name]+="$answers $(awk -v a="$before" -v b="$after" -v hz="$(getconf CLK_TCK)" 'BEGIN{print (b-a)/hz}');"
}

print_medians() {  # print_medians NAME...: the median run of each by answers per CPU-second
  local name
  printf '%-14s %12s %12s %14s\n' server answers cpu_s 'answers/cpu_s'
  for name in "$@"; do
    tr ';' '\n' <<<"${results[$name]}" | awk 'NF==2 && $2>0 {print $1, $2, $1/$2}' | sort -k3 -n |
      awk -v n="$name" '{a[NR]=$0} END{split(a[int((NR+1)/2)], m, " "); printf "%-14s %12d %12.2f %14.0f\n", n, m[1], m[2], m[3]}'
  done
}
