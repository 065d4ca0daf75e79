#!/usr/bin/env bash
# Builds two CPythons with the tier-2 interpreter (--enable-experimental-jit=interpreter),
# side by side, with the same configure flags:
#   stock:   CPython + patches/<X.Y>/counters.patch (executor counters only)
#   patched: the same + patches/<X.Y>/depwatch.patch, linked with libdepwatch.a
# Its last two output lines are `stock: PATH` and `patched: PATH`.
#
# Source: Debian trixie's python3.13 source package (apt-get source), or CPYTHON_SRC,
# a python.org tarball or an unpacked tree. Developed against PINNED below; a newer
# X.Y.z is accepted if the patches apply, and refused with a message if they do not.
#
# Builds are cached in $DEPWATCH_CACHE/cpython-tier2/ (default ~/.cache/depwatch),
# one directory per build, keyed by the source version and the hashes of the patches
# (and, for the patched build, of the depwatch library's sources), so a rebuild of
# unchanged inputs is a no-op.
#
# Environment:
#   CPYTHON_SRC        a CPython source tarball or tree to use instead of Debian's
#   DEPWATCH_CAPI_DIR  the depwatch-capi crate (default: <repo>/capi)
#   DEPWATCH_TARGET    cargo's target dir for it (default: <repo>/target)
#   DEPWATCH_BUILD     stock, patched or both (default both)
#   JOBS               make -j (default 2)
set -euo pipefail
PINNED=3.13.5
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache="${DEPWATCH_CACHE:-$HOME/.cache/depwatch}/cpython-tier2"
capi="${DEPWATCH_CAPI_DIR:-$repo/capi}"
target="${DEPWATCH_TARGET:-$repo/target}"
which="${DEPWATCH_BUILD:-both}"
jobs="${JOBS:-2}"
configure_flags=(--enable-experimental-jit=interpreter)
mkdir -p "$cache/src"
say() { echo "== $*" >&2; }
die() { echo "build.sh: $*" >&2; exit 1; }

# ---- 1. the source: a tarball, to unpack once per build ------------------------------
fetch_debian() {
  # Debian trixie's python3.13, through a deb-src entry with the machine's own keyring.
  local dl="$cache/src/debian"
  mkdir -p "$dl"
  if ! ls "$dl"/python3.13_*.orig.tar.xz >/dev/null 2>&1; then
    if [ ! -f /etc/apt/sources.list.d/depwatch-trixie-src.sources ] &&
       ! grep -rqs "^deb-src .* trixie" /etc/apt/sources.list /etc/apt/sources.list.d/; then
      local uris keyring
      uris=$(grep -hs "^URIs:" /etc/apt/sources.list.d/*.sources | head -n1 | cut -d' ' -f2 || true)
      keyring=$(grep -hs "^Signed-By:" /etc/apt/sources.list.d/*.sources | head -n1 | cut -d' ' -f2 || true)
      if [ -z "$uris" ]; then
        uris=$(grep -hs "^deb " /etc/apt/sources.list /etc/apt/sources.list.d/*.list | head -n1 | awk '{print $2}')
        keyring=/usr/share/keyrings/debian-archive-keyring.gpg
      fi
      [ -n "$uris" ] || die "no Debian apt source found to add a deb-src trixie entry to; set CPYTHON_SRC"
      printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: %s\n' \
        "$uris" "$keyring" > /etc/apt/sources.list.d/depwatch-trixie-src.sources
    fi
    apt-get update -qq
    (cd "$dl" && apt-get source --download-only python3.13 >/dev/null 2>&1) \
      || die "apt-get source python3.13 failed; set CPYTHON_SRC to a CPython tarball or tree"
  fi
  ls "$dl"/python3.13_*.orig.tar.xz | sort -V | tail -n1
}

if [ -n "${CPYTHON_SRC:-}" ]; then
  [ -e "$CPYTHON_SRC" ] || die "CPYTHON_SRC=$CPYTHON_SRC does not exist"
  src=$(cd "$(dirname "$CPYTHON_SRC")" && pwd)/$(basename "$CPYTHON_SRC")
else
  src=$(fetch_debian)
fi

version_of() { # PY_VERSION from a tree or a tarball
  if [ -d "$1" ]; then
    sed -n 's/^#define PY_VERSION *"\(.*\)"/\1/p' "$1/Include/patchlevel.h"
  else
    tar xOf "$1" --wildcards '*/Include/patchlevel.h' | sed -n 's/^#define PY_VERSION *"\(.*\)"/\1/p'
  fi
}
version=$(version_of "$src")
[ -n "$version" ] || die "cannot read the CPython version from $src"
minor=${version%.*}
pdir="$here/patches/$minor"
[ -f "$pdir/counters.patch" ] ||
  die "CPython $version: no patches for $minor (have: $(ls "$here/patches" | tr '\n' ' ')); developed against $PINNED"
if [ "$version" != "$PINNED" ]; then
  say "CPython $version (developed against $PINNED): trying the $minor patches"
fi

unpack() { # unpack $src into $1 (a new directory)
  rm -rf "$1" && mkdir -p "$1"
  if [ -d "$src" ]; then
    (cd "$src" && tar cf - --exclude=.git .) | (cd "$1" && tar xf -)
  else
    tar xf "$src" -C "$1" --strip-components=1
  fi
}

apply() { # apply patch $2 to tree $1, or stop with a clear message
  if ! patch -d "$1" -p1 --dry-run -s -f < "$2" >/dev/null 2>&1; then
    die "$(basename "$2") does not apply to CPython $version (developed against $PINNED).
  Rebase it on this version, or use CPython $PINNED (CPYTHON_SRC=Python-$PINNED.tar.xz)."
  fi
  patch -d "$1" -p1 -s -f < "$2"
}

hash_of() { cat "$@" | sha256sum | cut -c1-12; }

# ---- 2. the depwatch library, for the patched build ----------------------------------
depwatch_lib() {
  [ -f "$capi/Cargo.toml" ] || die "no depwatch-capi crate at $capi (set DEPWATCH_CAPI_DIR)"
  [ -f "$capi/include/depwatch.h" ] || die "no $capi/include/depwatch.h"
  say "depwatch-capi: cargo build --release ($capi)"
  nice -n 10 cargo build -q --release --manifest-path "$capi/Cargo.toml" --target-dir "$target" >&2
  [ -f "$target/release/libdepwatch.a" ] || die "cargo built no $target/release/libdepwatch.a"
}
depwatch_hash() { # the library's sources: the core crate and the C ABI crate
  local core
  core=$(cd "$capi/.." && pwd)
  (cd "$core" && find src Cargo.toml Cargo.lock -type f 2>/dev/null | LC_ALL=C sort | xargs cat
   cd "$capi" && find . -path ./target -prune -o -type f \( -name '*.rs' -o -name '*.toml' -o -name '*.h' \) -print |
     LC_ALL=C sort | xargs cat) | sha256sum | cut -c1-12
}

# ---- 3. one build ---------------------------------------------------------------------
build() { # build NAME KEY EXTRA_CONFIGURE_ARGS... ; prints the interpreter's path
  local name=$1 key=$2; shift 2
  local dir="$cache/$name-$version-$key"
  if [ -f "$dir/done" ] && [ -x "$dir/inst/bin/python3" ]; then
    say "$name: cached ($dir)"
    echo "$dir/inst/bin/python3"
    return
  fi
  say "$name: building CPython $version in $dir (about 10 minutes on 2 cores)"
  rm -rf "$dir"
  unpack "$dir/src"
  apply "$dir/src" "$pdir/counters.patch"
  if [ "$name" = patched ]; then
    apply "$dir/src" "$pdir/depwatch.patch"
  fi
  local start=$SECONDS
  (
    cd "$dir/src"
    ./configure -q "${configure_flags[@]}" --prefix="$dir/inst" "$@" > "$dir/configure.log" 2>&1 ||
      { tail -20 "$dir/configure.log" >&2; exit 1; }
    nice -n 10 make -j"$jobs" > "$dir/make.log" 2>&1 || { tail -40 "$dir/make.log" >&2; exit 1; }
    nice -n 10 make install COMPILEALL_OPTS=-j"$jobs" > "$dir/install.log" 2>&1 ||
      { tail -20 "$dir/install.log" >&2; exit 1; }
  ) || die "$name: the build failed (logs in $dir)"
  echo "$((SECONDS - start))" > "$dir/build-seconds"
  touch "$dir/done"
  say "$name: built in $((SECONDS - start)) s"
  echo "$dir/inst/bin/python3"
}

flags_hash=$(echo "${configure_flags[*]}" | sha256sum | cut -c1-8)
stock_key=$(hash_of "$pdir/counters.patch" <(echo "$flags_hash"))
stock="" patched=""
if [ "$which" != patched ]; then
  stock=$(build stock "$stock_key")
fi
if [ "$which" != stock ]; then
  depwatch_lib
  dw=$(depwatch_hash)
  patched_key=$(hash_of "$pdir/counters.patch" "$pdir/depwatch.patch" <(echo "$flags_hash $dw"))
  dwdir="$cache/depwatch-$dw"
  mkdir -p "$dwdir"
  cp "$capi/include/depwatch.h" "$target/release/libdepwatch.a" "$dwdir/"
  # The same configure flags, plus where to find depwatch and what a Rust static
  # library needs from libc.
  patched=$(build patched "$patched_key" \
    CPPFLAGS="-I$dwdir" LIBS="$dwdir/libdepwatch.a -lpthread -ldl -lm")
fi
echo "stock: ${stock:-not built (DEPWATCH_BUILD=$which)}"
echo "patched: ${patched:-not built (DEPWATCH_BUILD=$which)}"
