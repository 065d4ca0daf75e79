#!/usr/bin/env bash
# Regenerates capi/include/depwatch.h from the Rust source with cbindgen.
#   capi/header.sh           rewrite the header
#   capi/header.sh --check   fail (exit 1, with the diff) if the checked-in header is stale
# cbindgen is pinned: another version may lay the header out differently.
set -euo pipefail
cd "$(dirname "$0")"
version=0.29.4
if ! command -v cbindgen >/dev/null 2>&1 || [ "$(cbindgen --version)" != "cbindgen $version" ]; then
  echo "installing cbindgen $version"
  cargo install --quiet --locked cbindgen --version "=$version"
fi
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cbindgen --quiet --config cbindgen.toml --crate depwatch-capi --output "$tmp" .
if [ "${1:-}" = "--check" ]; then
  if ! diff -u include/depwatch.h "$tmp"; then
    echo "capi/include/depwatch.h is out of date with capi/src: run capi/header.sh" >&2
    exit 1
  fi
  echo "depwatch.h matches the source"
else
  cp "$tmp" include/depwatch.h
fi
