#!/usr/bin/env bash
# Builds the extension against every CPython >= 3.12 with headers that it can find,
# and runs the pytest suite and the example on each. Interpreters come from pyenv if
# present; otherwise CPython 3.13 is built once from Debian's python3.13 source
# package into a cache outside the repository (about 5 minutes on 2 cores).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache="${DEPWATCH_CACHE:-$HOME/.cache/depwatch}"
mkdir -p "$cache"

usable() { # a CPython >= 3.12 with Python.h
  "$1" - <<'PY' 2>/dev/null
import os, sys, sysconfig
assert sys.version_info >= (3, 12) and sys.implementation.name == "cpython"
assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))
PY
}

pythons=()
candidates=()
if command -v pyenv >/dev/null 2>&1; then
  for v in "$(pyenv root)"/versions/3.1[2-9]*; do candidates+=("$v/bin/python3"); done
fi
candidates+=("$cache/cpython-3.13/bin/python3" "$(command -v python3.12 || true)" "$(command -v python3.13 || true)")
seen=""
for p in "${candidates[@]}"; do
  [ -n "$p" ] && [ -x "$p" ] && usable "$p" || continue
  ver=$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  case " $seen " in *" $ver "*) continue ;; esac
  seen="$seen $ver"
  pythons+=("$p")
done

if [ ${#pythons[@]} -eq 0 ]; then
  echo "== no CPython >= 3.12 with headers: building Debian's python3.13 source package"
  build="$cache/build"
  rm -rf "$build" && mkdir -p "$build" && cd "$build"
  if ! grep -rqs "^deb-src .* trixie" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    entry=$(grep -rhs "^deb " /etc/apt/sources.list /etc/apt/sources.list.d/*.list | head -n1 || true)
    if [ -n "$entry" ]; then
      echo "$entry" | sed -E 's/^deb /deb-src /; s/ [a-z]+(-[a-z]+)? main.*/ trixie main/' > /etc/apt/sources.list.d/depwatch-trixie-src.list
    else
      uris=$(grep -hs "^URIs:" /etc/apt/sources.list.d/*.sources | head -n1 | cut -d' ' -f2)
      keyring=$(grep -hs "^Signed-By:" /etc/apt/sources.list.d/*.sources | head -n1 | cut -d' ' -f2)
      printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: %s\n' "$uris" "$keyring" \
        > /etc/apt/sources.list.d/depwatch-trixie-src.sources
    fi
  fi
  apt-get update -qq
  apt-get source --download-only python3.13 >/dev/null
  tar xf python3.13_*.orig.tar.*z
  cd Python-3.13*/
  ./configure --enable-shared --prefix="$cache/cpython-3.13" LDFLAGS="-Wl,-rpath,$cache/cpython-3.13/lib" >/dev/null
  make -j2 >/dev/null
  make install >/dev/null
  pythons+=("$cache/cpython-3.13/bin/python3")
fi

echo "== rustfmt and clippy on the extension crate"
(cd "$here" && cargo fmt --check && PYO3_PYTHON="${pythons[0]}" cargo clippy --release --all-targets -q -- -D warnings -W clippy::undocumented_unsafe_blocks)

for p in "${pythons[@]}"; do
  ver=$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  echo "== CPython $ver ($p)"
  venv="$cache/venv-$ver"
  [ -x "$venv/bin/python" ] || "$p" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "maturin>=1.5,<2" pytest
  (
    cd "$here"
    export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH"
    maturin develop --release -q
    python -m pytest -q tests
    python examples/memo_cache.py
  )
done
