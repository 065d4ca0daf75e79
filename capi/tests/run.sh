#!/usr/bin/env bash
# The C suite. For each capi/tests/test_*.c and the README's "From C" example: runs
# it natively against the release and the debug libdepwatch.a, under
# `valgrind --error-exitcode=1 --leak-check=full` (debug library), and built with
# -fsanitize=address,undefined with leak detection (release library). Also runs
# test_api against libdepwatch.so, checks that the .so exports every function the
# header declares, and compiles the header as C++17 with -Wall -Wextra -Werror. Any
# failure exits non-zero.
#
# Why valgrind gets the debug library: in optimized code LLVM hoists the test of an
# `Attr` discriminant above the test of the enclosing `Aspect` discriminant when
# comparing hash-map keys, so for an `Aspect::Key` it branches on two padding bytes
# whose value cannot change the result. Memcheck reports that as "conditional jump
# depends on uninitialised value" (design/DECISIONS.md §9). The debug build has no such
# hoisting, and also checks integer overflow and debug assertions at the boundary.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
for tool in cc c++ valgrind; do
  command -v "$tool" >/dev/null || { echo "run.sh needs $tool (Debian: apt-get install build-essential valgrind)" >&2; exit 1; }
done
nice -n 10 cargo build --quiet -p depwatch-capi --release
nice -n 10 cargo build --quiet -p depwatch-capi
lib="$root/target/release"
dbg="$root/target/debug"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cflags=(-std=c11 -g -O1 -Wall -Wextra -Werror -pedantic -I capi/include)
libs=(-lpthread -ldl -lm)

# The README's example, exactly as written: the first ```c block after "## From C".
awk '/^## From C/ { f = 1 } f && /^```c$/ { p = 1; next } p && /^```$/ { exit } p' README.md \
  > "$out/readme_example.c"
[ -s "$out/readme_example.c" ] || { echo "README.md has no C example under '## From C'" >&2; exit 1; }

for src in capi/tests/test_*.c "$out/readme_example.c"; do
  name=$(basename "$src" .c)
  cc "${cflags[@]}" "$src" "$lib/libdepwatch.a" "${libs[@]}" -o "$out/$name"
  cc "${cflags[@]}" "$src" "$dbg/libdepwatch.a" "${libs[@]}" -o "$out/$name.dbg"
  echo "== $name: native (release library)"
  "$out/$name" > "$out/$name.out"
  cat "$out/$name.out"
  echo "== $name: native (debug library)"
  "$out/$name.dbg" > /dev/null
  echo "== $name: valgrind (debug library)"
  valgrind -q --error-exitcode=1 --leak-check=full "$out/$name.dbg" > /dev/null
  echo "== $name: ASan + UBSan (release library)"
  cc "${cflags[@]}" -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    "$src" "$lib/libdepwatch.a" "${libs[@]}" -o "$out/$name.asan"
  ASAN_OPTIONS=detect_leaks=1 "$out/$name.asan" > /dev/null
done
grep -qx "unit 42 is stale: dict.ADDED len at site 0" "$out/readme_example.out"
grep -qx "f is invalidated" "$out/readme_example.out"

echo "== test_api against libdepwatch.so"
cc "${cflags[@]}" capi/tests/test_api.c -L "$lib" -ldepwatch -Wl,-rpath,"$lib" -o "$out/test_api_shared"
ldd "$out/test_api_shared" | grep "libdepwatch.so" > /dev/null
"$out/test_api_shared"

echo "== every function the header declares is exported by libdepwatch.so"
declared=$(grep -E '^[a-z]' capi/include/depwatch.h | grep -oE '\bdw_[a-z_]+\(' | tr -d '(' | sort -u)
exported=$(nm -D --defined-only "$lib/libdepwatch.so" | awk '{ print $3 }' | grep '^dw_' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
[ -z "$missing" ] || { echo "declared but not exported: $missing" >&2; exit 1; }
echo "$(echo "$declared" | wc -l) functions declared and exported"

echo "== the header as C++17"
c++ -std=c++17 -Wall -Wextra -Werror -pedantic -I capi/include capi/tests/header_cxx.cpp \
  "$lib/libdepwatch.a" "${libs[@]}" -o "$out/header_cxx"
"$out/header_cxx"
echo "== the C suite passed"
