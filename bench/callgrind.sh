#!/usr/bin/env bash
# Instructions per query on the query path (decode -> answer -> encode), counted by callgrind:
# repeatable to the instruction for the same binary, whatever else the machine is doing, so a
# change to the query path can be compared before/after even on a noisy machine.
#
#   bench/callgrind.sh          # needs valgrind (Debian package valgrind)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
command -v valgrind >/dev/null || { echo "bench/callgrind.sh: install valgrind" >&2; exit 1; }
cargo build --release --locked -p turnout-dns --example respond_loop --manifest-path "$here/Cargo.toml" >&2
bin=$here/target/release/examples/respond_loop
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ir() {  # ir KIND N [counted] -> total instructions
  valgrind --tool=callgrind --callgrind-out-file="$work/out" "$bin" "$@" >/dev/null 2>"$work/err"
  awk '/^summary:/{print $2}' "$work/out"
}
N=2000
# Per query: the query path as `respond` runs it, and counted as the server counts for /metrics.
printf '%-22s %14s %14s\n' query instructions counted
"$bin" 99 | while read -r kind label; do
  base=$(ir "$kind" 0)
  loop=$(ir "$kind" "$N")
  cbase=$(ir "$kind" 0 counted)
  cloop=$(ir "$kind" "$N" counted)
  printf '%-22s %14.0f %14.0f\n' "$label" \
    "$(awk -v a="$base" -v b="$loop" -v n="$N" 'BEGIN{print (b-a)/n}')" \
    "$(awk -v a="$cbase" -v b="$cloop" -v n="$N" 'BEGIN{print (b-a)/n}')"
done
