#!/usr/bin/env bash
# Instructions per operation at the boundary, from C (capi/bench/overhead.c) and in
# Rust (capi/examples/overhead.rs), counted by callgrind: repeatable whatever else the
# machine is doing. Each count is (run with N ops - run with 0 ops) / N.
#   capi/bench/count.sh [N]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
n=${1:-100000}
cargo build --quiet --release -p depwatch-capi --lib --example overhead
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -std=c11 -O2 -I capi/include capi/bench/overhead.c target/release/libdepwatch.a -lpthread -ldl -lm -o "$out/overhead_c"
refs() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 | awk '/refs:/ { gsub(",", "", $4); print $4 }'; }
for op in quiet invalidate dict; do
  for side in c rust; do
    bin="$out/overhead_c"; [ "$side" = rust ] && bin=target/release/examples/overhead
    base=$(refs "$bin" 0 "$op"); full=$(refs "$bin" "$n" "$op")
    printf '%-5s %-11s %6d instructions/op\n' "$side" "$op" $(( (full - base) / n ))
  done
done
