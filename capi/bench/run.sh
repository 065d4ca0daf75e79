#!/usr/bin/env bash
# The C-call overhead at the boundary: a quiet notify and a single-unit invalidation,
# from C through libdepwatch.a (capi/bench/overhead.c) and in Rust on the core Graph
# (capi/examples/overhead.rs), built with the release profile and run alternately,
# RUNS times each, in one sitting. Each run prints the median of 11 rounds of N ops.
#   capi/bench/run.sh [RUNS] [N]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
runs=${1:-3}
n=${2:-1000000}
cargo build --quiet --release -p depwatch-capi --lib --example overhead
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -std=c11 -O2 -I capi/include capi/bench/overhead.c target/release/libdepwatch.a -lpthread -ldl -lm -o "$out/overhead_c"
for i in $(seq "$runs"); do
  "$out/overhead_c" "$n"
  target/release/examples/overhead "$n"
done
