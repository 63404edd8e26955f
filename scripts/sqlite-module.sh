#!/usr/bin/env bash
# Builds SQLite as its own WebAssembly module for the js/wasm worker
# (docs/sqlite-module.md, step 1): the module the worker instantiates
# beside Go, on Go's own linear memory, one instance per connection.
#
#	scripts/sqlite-module.sh [OUT_DIR]     (default build/sqlite-module)
#
# Writes OUT_DIR/sqlite3.wasm, a position-independent side module
# (dylink.0), and leaves the sources it compiled in OUT_DIR/src for a look.
# Needs clang-19, lld-19 (wasm-ld-19), wasi-libc and
# libclang-rt-19-dev-wasm32 (Debian bookworm), Go and patch.
#
# The sources are all pinned, and none is downloaded from outside Go's
# module proxy:
#   - the SQLite 3.54.1 amalgamation, as github.com/mattn/go-sqlite3
#     v1.14.53 carries it (sqlite.org is not reachable from the build
#     machine; the module's hash is in Go's checksum database, and the
#     amalgamation's own hash is checked below);
#   - go-sqlite3-wasm's build/ files (bindings, options, patches, exports)
#     at the version go.mod requires, the one whose translated SQLite the
#     native builds use, so that both builds are the same SQLite;
#   - the libc that go-sqlite3-wasm's build.sh generates with libc-gen, at
#     the wasm2go version go-sqlite3-wasm's go.mod names.
set -euo pipefail

cd -P -- "$(dirname -- "$0")/.."
ROOT=$PWD
OUT=${1:-build/sqlite-module}
GO=${GO:-go}
CLANG=${CLANG:-clang-19}
WASM_LD=${WASM_LD:-wasm-ld-19}
WASI_LIBC=${WASI_LIBC:-/usr/lib/wasm32-wasi/libc.a}

MATTN=github.com/mattn/go-sqlite3@v1.14.53
WASM2GO=github.com/ncruces/wasm2go@v0.4.22
# sqlite3-binding.c and .h without mattn's USE_LIBSQLITE3 wrapper, that
# is, the amalgamation's sqlite3.c and sqlite3.h (what the wrapper is and
# why removing it gives back the release's files: docs/sqlite-module.md).
SQLITE3_C_SHA256=0c657666d819f261cc4007526ad57e1669de9949df7a8ea847aa284a2bf0ee52
SQLITE3_H_SHA256=d6c84557261893439b341d2e6c35187ae3ea24fbfd843ad94616f72d89242b8c
SQLITE_SOURCE_ID='2026-10-16 14:45:20 555e07ef33f69a0957d24d8e555b702464a131d6f1607f4c3c1e4551e8e6ca76'

for tool in "$CLANG" "$WASM_LD" patch ar; do
  command -v "$tool" > /dev/null || { echo "sqlite-module: $tool not found (apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32 patch binutils)" >&2; exit 1; }
done
[[ -f $WASI_LIBC ]] || { echo "sqlite-module: $WASI_LIBC not found (apt-get install wasi-libc)" >&2; exit 1; }

moddir() { "$GO" mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'; }
GW=$("$GO" list -m -f '{{.Dir}}' github.com/ncruces/go-sqlite3-wasm/v6)
if [[ -z $GW ]]; then
  "$GO" mod download github.com/ncruces/go-sqlite3-wasm/v6
  GW=$("$GO" list -m -f '{{.Dir}}' github.com/ncruces/go-sqlite3-wasm/v6)
fi
MATTN_DIR=$(moddir "$MATTN")
# The wasm2go version must be the one go-sqlite3-wasm's build used.
grep -q "github.com/ncruces/wasm2go ${WASM2GO#*@}" "$GW/go.mod" || {
  echo "sqlite-module: $GW/go.mod does not require $WASM2GO: update WASM2GO here" >&2; exit 1; }

SRC=$OUT/src
rm -rf "$SRC" && mkdir -p "$SRC/obj"

# mattn's upgrade tool (upgrade/upgrade.go in that module) writes the
# release's sqlite3.c and sqlite3.h line by line between a first line
# "#ifndef USE_LIBSQLITE3" and four closing lines ("#else …" to
# " #endif", no newline after it); it would also rewrite a line
# '#include "sqlite3.h"', of which these two files have none (checked).
unwrap() {
  local in=$1 out=$2
  [[ $(head -n 1 "$in") == '#ifndef USE_LIBSQLITE3' ]] || { echo "sqlite-module: $in: no USE_LIBSQLITE3 wrapper" >&2; exit 1; }
  [[ $(tail -n 4 "$in" | head -n 1) == '#else // USE_LIBSQLITE3' ]] || { echo "sqlite-module: $in: unexpected end" >&2; exit 1; }
  ! grep -q '^#include "sqlite3-binding.h"$' "$in" || { echo "sqlite-module: $in: rewritten include" >&2; exit 1; }
  tail -n +2 "$in" | head -n -4 > "$out"
}
unwrap "$MATTN_DIR/sqlite3-binding.c" "$SRC/sqlite3.c"
unwrap "$MATTN_DIR/sqlite3-binding.h" "$SRC/sqlite3.h"
check_sha() {
  local got; got=$(sha256sum "$1" | cut -d' ' -f1)
  [[ $got == "$2" ]] || { echo "sqlite-module: $1: SHA-256 $got, want $2" >&2; exit 1; }
}
check_sha "$SRC/sqlite3.c" "$SQLITE3_C_SHA256"
check_sha "$SRC/sqlite3.h" "$SQLITE3_H_SHA256"
for f in sqlite3.c sqlite3.h; do
  grep -qxF "#define SQLITE_SOURCE_ID      \"$SQLITE_SOURCE_ID\"" "$SRC/$f" || {
    echo "sqlite-module: $f is not SQLite 3.54.1 ($SQLITE_SOURCE_ID)" >&2; exit 1; }
done

# go-sqlite3-wasm's recipe, as its build/download.sh and build.sh use it.
cp "$GW"/build/{func,hooks,pointer,stmt,text,time,vfs,vtab}.c "$GW"/build/{include.h,sqlite_opt.h,sqlite_cfg.h,exports.txt} "$SRC/"
(cd "$SRC" && cat "$GW"/build/*.patch | patch -p0 --no-backup-if-mismatch --quiet)
"$GO" run "${WASM2GO%@*}/libc-gen@${WASM2GO#*@}" -c-out "$SRC/libc"
(cd "$SRC/libc" && patch --no-backup-if-mismatch --quiet malloc_tlsf.c < "$ROOT/internal/sqlitemodule/csrc/go_more_core.patch")
cp internal/sqlitemodule/csrc/main.c "$SRC/main.c"

# go-sqlite3-wasm's build.sh flags, but:
#   - position-independent (-fPIC; --experimental-pic -shared): the module
#     is placed at an address Go chooses, inside Go's memory;
#   - without -mextended-const and -mtail-call, which Node 20 (the tests'
#     runtime) rejects, and -mwide-arithmetic, which LLVM 19 lacks;
#   - no -mexec-model=reactor: clang 19 takes it only when it links, and
#     this links with wasm-ld itself (_initialize is exported by name).
"$CLANG" --target=wasm32 -ffreestanding -nostdlib -std=c23 -g0 -Oz -fPIC \
  -Wall -Wextra -Wno-unused-parameter -Wno-unused-function \
  -I"$SRC" -I"$SRC/libc" \
  -mmutable-globals -mmultivalue \
  -mnontrapping-fptoint -msign-ext \
  -mreference-types -mbulk-memory \
  -D_HAVE_SQLITE_CONFIG_H \
  -DSQLITE_CUSTOM_INCLUDE=sqlite_opt.h \
  -c "$SRC/main.c" -o "$SRC/obj/main.o"

# libc-gen's string functions are declarations that wasm2go fills in Go;
# here they come from wasi-libc, whose objects for them use no static
# data (so need no relocation in a PIC module). Its math is not PIC: the
# math functions stay imports, which Go provides (math package).
LIBC_OBJS=(memchr.o memcmp.o memrchr.o strchr.o strchrnul.o strcmp.o strcspn.o strlen.o strncmp.o strrchr.o strspn.o)
(cd "$SRC/obj" && ar x "$WASI_LIBC" "${LIBC_OBJS[@]}")

# Exports: go-sqlite3-wasm's list, less what a side module does not define
# (__stack_pointer is the loader's global) and its test programs.
EXPORTS=()
while read -r sym; do
  case $sym in __stack_pointer | main_mptest | main_speedtest1) ;; *) EXPORTS+=("--export=$sym") ;; esac
done < "$SRC/exports.txt"

# --strip-all: no name section and no DWARF (wasi-libc's objects carry
# some). The names were 17 KB of the worker's 1.67 MB brotli; a browser's
# profiler then shows SQLite's functions by index (docs/bundle-size.md).
# The dylink.0 section the loader reads is kept.
"$WASM_LD" --experimental-pic -shared --no-entry --strip-all \
  --unresolved-symbols=import-dynamic \
  --export=_initialize "${EXPORTS[@]}" \
  -o "$OUT/sqlite3.wasm" "$SRC/obj/main.o" "${LIBC_OBJS[@]/#/$SRC/obj/}"
echo "sqlite-module: $OUT/sqlite3.wasm ($(stat -c %s "$OUT/sqlite3.wasm") B)"
