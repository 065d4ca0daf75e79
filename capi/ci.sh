#!/usr/bin/env bash
# CI for the C ABI (run from .ci/run): the header drift check, the crate's fmt, clippy
# and Rust-side FFI tests, the C suite (natively, under valgrind, under ASan+UBSan, the
# shared library, the C++17 header check, the README example), and the FFI tests under
# Miri.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null 2>&1; then
  echo "== installing valgrind"
  apt-get install -y -q valgrind >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q valgrind >/dev/null; }
fi
echo "== capi: depwatch.h matches the source (cbindgen)"
capi/header.sh --check
echo "== capi: fmt and clippy"
cargo fmt -p depwatch-capi --check
cargo clippy -p depwatch-capi --all-targets -- -D warnings
echo "== capi: Rust-side FFI tests"
cargo test -p depwatch-capi
echo "== capi: the C suite"
capi/tests/run.sh
echo "== capi: the FFI tests under Miri"
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  rustup component add --toolchain nightly miri rust-src >/dev/null 2>&1 || true
fi
if cargo +nightly miri --version >/dev/null 2>&1; then
  cargo +nightly miri test -p depwatch-capi
else
  echo "SKIPPED: Miri is not installed for the nightly toolchain and could not be added"
fi
