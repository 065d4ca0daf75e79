#!/usr/bin/env bash
# Stock against patched tier-2 CPython on pyperformance's programs, sympy, and the
# synthetic N-executor program. Builds both (build.sh, cached), makes a venv for each
# with pyperf and pyperformance from PyPI, and runs bench/run.py, which writes
# results/{counters,synthetic}.json, results/{stock,patched,tier1}.json (pyperf) and
# results/summary.md. Arguments go to bench/run.py (--rounds, --processes, --only ...).
# `bench.sh --instructions [PROGRAM ...]` counts instructions per iteration under
# callgrind instead (bench/instructions.py), into results/instructions.md.
# With --rounds 2 --processes 1: counters and synthetic took 7 minutes, timing 5 (on
# 2 cores, both builds cached). Run it on a quiet machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache="${DEPWATCH_CACHE:-$HOME/.cache/depwatch}/cpython-tier2"
out=$("$here/build.sh" | tee /dev/stderr)
stock=$(echo "$out" | sed -n 's/^stock: //p' | tail -n1)
patched=$(echo "$out" | sed -n 's/^patched: //p' | tail -n1)
venv() { # venv NAME PYTHON: a venv with the benchmark tools, made once per build
  local dir="$cache/bench-venv-$1-$(echo "$2" | sha256sum | cut -c1-8)"
  if [ ! -x "$dir/bin/python" ]; then
    "$2" -m venv "$dir"
    "$dir/bin/pip" install -q --disable-pip-version-check \
      pyperf==2.10.0 pyperformance==1.14.0 sympy==1.13.3 mpmath==1.3.0 >&2
  fi
  echo "$dir/bin/python"
}
vs=$(venv stock "$stock")
vp=$(venv patched "$patched")
if [ "${1:-}" = --instructions ]; then
  # Instructions per iteration under callgrind instead of times (bench/instructions.py)
  shift
  python3 "$here/bench/instructions.py" "$vs" "$vp" "$@" | tee "${DEPWATCH_BENCH_OUT:-$here/results}/instructions.md"
  exit
fi
python3 "$here/bench/run.py" --stock "$vs" --patched "$vp" --out "${DEPWATCH_BENCH_OUT:-$here/results}" "$@"
