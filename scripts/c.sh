#!/usr/bin/env bash
# libcrosstrace: build, header freshness, C tests (static, shared, valgrind, ASan+UBSan), the
# span slab and ct_intern table under miri, install + pkg-config + CMake, the Jaeger round trip, and the C bench.
#   scripts/c.sh test | miri | jaeger-test | install PREFIX [DESTDIR] | uninstall PREFIX [DESTDIR]
#              | tarball OUT_DIR | test-artifact TARBALL | bench | header
source "$(dirname "$0")/common.sh"
cd "$ROOT"

CBINDGEN_VERSION=0.29.2
TOOLS="$CROSSTRACE_CACHE/tools"
CBINDGEN="$TOOLS/bin/cbindgen"
BUILD="$CROSSTRACE_CACHE/c"
CFLAGS=(-std=c11 -Wall -Wextra -Werror -g -Ibindings-c/include)
mkdir -p "$BUILD"

ensure_tools() {
  if ! "$CBINDGEN" --version 2>/dev/null | grep -q "$CBINDGEN_VERSION"; then
    CARGO_TARGET_DIR="$CROSSTRACE_CACHE/tools-target" \
      cargo install cbindgen --version "=$CBINDGEN_VERSION" --locked --root "$TOOLS"
  fi
    ensure_apt libcjson-dev valgrind pkg-config cmake gcc
}

build_lib() {
  local profile="${1:-debug}"
  if [ "$profile" = release ]; then
    cargo build -p crosstrace-c --release
  else
    cargo build -p crosstrace-c
  fi
  LIBDIR="$CARGO_TARGET_DIR/$profile"
}

VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
MAJOR="${VERSION%%.*}"
MINOR="$(cut -d. -f2 <<<"$VERSION")"
PATCH="$(cut -d. -f3 <<<"$VERSION")"
# Before 1.0 a minor version may break the API, so it is part of the SONAME.
if [ "$MAJOR" = 0 ]; then SOVERSION="0.$MINOR"; else SOVERSION="$MAJOR"; fi

# cbindgen.toml with the version macros of Cargo.toml's version (so the committed header is
# stale, and the check fails, when the version moves without regenerating it).
header_config() {
  local config="$BUILD/cbindgen.toml"
  {
    printf 'after_includes = """\n'
    printf '// The version of this header (and of the library built with it; ct_version() says the\n'
    printf "// library's at run time).\n"
    printf '#define CROSSTRACE_VERSION_MAJOR %s\n#define CROSSTRACE_VERSION_MINOR %s\n' "$MAJOR" "$MINOR"
    printf '#define CROSSTRACE_VERSION_PATCH %s\n#define CROSSTRACE_VERSION "%s"\n"""\n' "$PATCH" "$VERSION"
    cat bindings-c/cbindgen.toml
  } >"$config"
  echo "$config"
}

header() {
  ensure_tools
  "$CBINDGEN" --quiet --config "$(header_config)" --crate crosstrace-c \
    --output bindings-c/include/crosstrace.h
}

check_header() {
  local fresh="$BUILD/crosstrace.h"
  "$CBINDGEN" --quiet --config "$(header_config)" --crate crosstrace-c --output "$fresh"
  if ! diff -u bindings-c/include/crosstrace.h "$fresh"; then
    echo "bindings-c/include/crosstrace.h is stale: run scripts/c.sh header and commit it" >&2
    exit 1
  fi
}

cc_static() { gcc "${CFLAGS[@]}" "$@" "$LIBDIR/libcrosstrace.a" -lcjson -lpthread -ldl -lm; }
cc_shared() { gcc "${CFLAGS[@]}" "$@" -L"$LIBDIR" -Wl,-rpath,"$LIBDIR" -lcrosstrace -lcjson -lpthread; }

run_test() {
  local test="bindings-c/tests/c/test_crosstrace.c"
  step "C tests against the static library"
  cc_static "$test" -o "$BUILD/test_static"
  "$BUILD/test_static" tests/vectors
  step "C tests against the shared library"
  cc_shared "$test" -o "$BUILD/test_shared"
  "$BUILD/test_shared" tests/vectors
  step "C tests under valgrind (0 errors, 0 definitely lost)"
  valgrind --quiet --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite "$BUILD/test_static" tests/vectors no-fork
  step "C fork test under valgrind (children: the parent's export thread suppressed)"
  valgrind --quiet --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --suppressions=bindings-c/tests/c/fork-child.supp \
    "$BUILD/test_static" tests/vectors fork
  step "C tests under AddressSanitizer and UBSan"
  cc_static -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
    "$test" -o "$BUILD/test_asan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$BUILD/test_asan" tests/vectors
  step "price normalisation component"
  build_component
  gcc "${CFLAGS[@]}" -Ibindings-c/examples/price_normalise \
    bindings-c/examples/price_normalise/test_price_normalise.c -L"$BUILD" -L"$LIBDIR" \
    -Wl,-rpath,"$BUILD" -Wl,-rpath,"$LIBDIR" -lprice_normalise -lcrosstrace -lm \
    -o "$BUILD/test_price_normalise"
  "$BUILD/test_price_normalise"
}

# The pipeline's C component on the built libcrosstrace: $BUILD/libprice_normalise.so.
build_component() {
  gcc "${CFLAGS[@]}" -fPIC -shared -Ibindings-c/examples/price_normalise \
    bindings-c/examples/price_normalise/price_normalise.c -L"$LIBDIR" -Wl,-rpath,"$LIBDIR" \
    -lcrosstrace -lm -o "$BUILD/libprice_normalise.so"
}

# The release libraries (profile dist: fat LTO, no debug info): the static library is one
# object with what the C API reaches, its debug sections (C objects of dependencies) stripped;
# the shared library has its SONAME and only its dynamic symbols. With `portable` (the release
# tarball), linked by zig against glibc 2.17, as the wheel is (manylinux2014): the tarball then
# loads on any x86_64 Linux of the last decade, not only on one as new as the build machine.
build_release() {
  if [ "${1:-}" = portable ]; then
    step "C: release libraries for glibc 2.17 (profile dist, linked by zig; a few minutes cold)"
    ensure_zig
    PATH="$DIST_VENV/bin:$PATH" "$TOOLS/bin/cargo-zigbuild" rustc -p crosstrace-c --profile dist \
      --target "$PORTABLE_TARGET" --crate-type staticlib,cdylib -- \
      -C link-arg=-Wl,-soname,libcrosstrace.so.$SOVERSION
    RELEASE="$CARGO_TARGET_DIR/${PORTABLE_TARGET%.2.17}/dist"
  else
    step "C: release libraries (profile dist: fat LTO, no debug info; a few minutes cold)"
    cargo rustc -p crosstrace-c --profile dist --crate-type staticlib,cdylib -- \
      -C link-arg=-Wl,-soname,libcrosstrace.so.$SOVERSION
    RELEASE="$CARGO_TARGET_DIR/dist"
  fi
  strip --strip-debug "$RELEASE/libcrosstrace.a"
  strip --strip-unneeded "$RELEASE/libcrosstrace.so"
}

# The target the release tarball is linked for, and what links it: zig from PyPI's ziglang (in
# the venv scripts/dist.sh builds the wheel with) behind cargo-zigbuild.
PORTABLE_TARGET="$(uname -m)-unknown-linux-gnu.2.17"
DIST_VENV="$CROSSTRACE_CACHE/dist-venv"
ensure_zig() {
  ensure_apt python3-venv
  [ -x "$DIST_VENV/bin/pip" ] || { rm -rf "$DIST_VENV"; python3 -m venv "$DIST_VENV"; }
  "$DIST_VENV/bin/pip" install -q "ziglang==0.17.1"
  if ! "$TOOLS/bin/cargo-zigbuild" --version 2>/dev/null | grep -q "$CARGO_ZIGBUILD_VERSION"; then
    CARGO_TARGET_DIR="$CROSSTRACE_CACHE/tools-target" \
      cargo install cargo-zigbuild --version "=$CARGO_ZIGBUILD_VERSION" --locked --root "$TOOLS"
  fi
}
CARGO_ZIGBUILD_VERSION="0.24.1"

# Installs under $DESTDIR$PREFIX: lib/libcrosstrace.so.VERSION (with .so.SOVERSION and .so
# links), lib/libcrosstrace.a, include/crosstrace.h, lib/pkgconfig/crosstrace.pc,
# lib/cmake/crosstrace/ (find_package(crosstrace CONFIG)), share/doc/crosstrace/LICENSE, and
# share/crosstrace/install_manifest.txt, which `uninstall` reads. Everything is relocatable.
install_to() {
  local prefix="$1" destdir="${2:-}"
  [ -n "${RELEASE:-}" ] || build_release
  local root="$destdir$prefix"
  local cmake="$root/lib/cmake/crosstrace"
  mkdir -p "$root/lib/pkgconfig" "$root/include" "$cmake" "$root/share/doc/crosstrace" \
    "$root/share/crosstrace"
  install -m 755 "$RELEASE/libcrosstrace.so" "$root/lib/libcrosstrace.so.$VERSION"
  ln -sf "libcrosstrace.so.$VERSION" "$root/lib/libcrosstrace.so.$SOVERSION"
  ln -sf "libcrosstrace.so.$SOVERSION" "$root/lib/libcrosstrace.so"
  install -m 644 "$RELEASE/libcrosstrace.a" "$root/lib/libcrosstrace.a"
  install -m 644 bindings-c/include/crosstrace.h "$root/include/crosstrace.h"
  install -m 644 LICENSE "$root/share/doc/crosstrace/LICENSE"
  sed -e "s|@VERSION@|$VERSION|" bindings-c/crosstrace.pc.in >"$root/lib/pkgconfig/crosstrace.pc"
  for f in crosstraceConfig crosstraceConfigVersion; do
    sed -e "s|@VERSION@|$VERSION|g" -e "s|@SOVERSION@|$SOVERSION|g" -e "s|@MAJOR@|$MAJOR|g" \
      -e "s|@MINOR@|$MINOR|g" "bindings-c/cmake/$f.cmake.in" >"$cmake/$f.cmake"
  done
  local files=(
    "lib/libcrosstrace.so.$VERSION" "lib/libcrosstrace.so.$SOVERSION" lib/libcrosstrace.so
    lib/libcrosstrace.a include/crosstrace.h lib/pkgconfig/crosstrace.pc
    lib/cmake/crosstrace/crosstraceConfig.cmake lib/cmake/crosstrace/crosstraceConfigVersion.cmake
    share/doc/crosstrace/LICENSE share/crosstrace/install_manifest.txt
  )
  printf '%s\n' "${files[@]}" >"$root/share/crosstrace/install_manifest.txt"
  echo "installed libcrosstrace $VERSION to $root"
}

uninstall_from() {
  local root="${2:-}$1"
  local manifest="$root/share/crosstrace/install_manifest.txt"
  [ -f "$manifest" ] || { echo "no crosstrace installed under $root ($manifest)" >&2; exit 1; }
  while read -r f; do rm -f "$root/$f"; done <"$manifest"
  rmdir "$root/lib/cmake/crosstrace" "$root/share/doc/crosstrace" "$root/share/crosstrace" \
    2>/dev/null || true
  echo "removed libcrosstrace from $root"
}

# The C tarball of `make dist`: the install tree (relocatable), as crosstrace-c-VERSION-ARCH.
tarball() {
  local out="$1" name="crosstrace-c-$VERSION-linux-$(uname -m)"
  local stage="$BUILD/stage"
  build_release portable
  rm -rf "$stage"
  install_to "/$name" "$stage" >/dev/null
  tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
  echo "$out/$name.tar.gz ($(du -h "$out/$name.tar.gz" | cut -f1); static library $(du -h \
    "$stage/$name/lib/libcrosstrace.a" | cut -f1), shared $(du -h \
    "$stage/$name/lib/libcrosstrace.so.$VERSION" | cut -f1))"
}

# The tarball as a user takes it: `make install PREFIX=... DESTDIR=...` of the checkout
# installs the same tree; here the tarball is unpacked, and the README's quick start is
# compiled and run against it (dynamically, and statically), as are pkg-config, the CMake
# package (both targets) and the version macros; then the checkout's install and uninstall.
test_artifact() {
  local tarball="$1" dir="$BUILD/artifact"
  rm -rf "$dir"
  mkdir -p "$dir"
  tar -C "$dir" -xzf "$tarball"
  local prefix
  prefix="$(echo "$dir"/crosstrace-c-*)"
  step "C artifact: sizes, SONAME, no debug info"
  local so="$prefix/lib/libcrosstrace.so.$VERSION" a="$prefix/lib/libcrosstrace.a"
  grep -q "SONAME.*libcrosstrace.so.$SOVERSION" <<<"$(readelf -d "$so")" ||
    { echo "$so: no SONAME libcrosstrace.so.$SOVERSION" >&2; exit 1; }
  if grep -q '\.debug_info' <<<"$(readelf -S "$so")"; then echo "$so has debug info" >&2; exit 1; fi
  # Loads where the wheel does: no glibc symbol newer than manylinux2014's 2.17.
  local newest
  newest="$(objdump -T "$so" | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -n1)"
  [ "$(printf '%s\n' "$newest" GLIBC_2.17 | sort -V | tail -n1)" = GLIBC_2.17 ] ||
    { echo "$so needs $newest (the tarball promises glibc 2.17)" >&2; exit 1; }
  if nm -D --defined-only "$so" | grep -v ' ct_' | grep -q .; then
    echo "$so exports symbols other than ct_*" >&2; exit 1
  fi
  local size
  size=$(stat -c %s "$a")
  [ "$size" -lt $((30 * 1024 * 1024)) ] || { echo "$a: $size bytes, over 30 MB" >&2; exit 1; }
  echo "static $(du -h "$a" | cut -f1), shared $(du -h "$so" | cut -f1), SONAME libcrosstrace.so.$SOVERSION, glibc symbols up to $newest"
  step "C artifact: the README's quick start, linked dynamically and statically, runs"
  awk '/^```c$/{on=1;next} /^```$/{on=0} on' README.md >"$dir/app.c"
  local pc="$prefix/lib/pkgconfig"
  # As the README writes it (with the prefix of this unpacked tarball).
  cc "$dir/app.c" $(PKG_CONFIG_PATH="$pc" pkg-config --cflags --libs crosstrace) \
    -Wl,-rpath,"$prefix/lib" -o "$dir/app"
  grep -q "NEEDED.*libcrosstrace.so.$SOVERSION" <<<"$(readelf -d "$dir/app")"
  OTEL_BACKEND=none "$dir/app" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
  cc "$dir/app.c" $(PKG_CONFIG_PATH="$pc" pkg-config --cflags crosstrace) "$a" -lpthread -ldl -lm \
    -o "$dir/app_static"
  if grep -q "libcrosstrace" <<<"$(readelf -d "$dir/app_static")"; then
    echo "app_static links libcrosstrace dynamically" >&2; exit 1
  fi
  OTEL_BACKEND=none "$dir/app_static" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
  step "C artifact: version macros match the library"
  cat >"$dir/version.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "crosstrace.h"
int main(void) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", CROSSTRACE_VERSION_MAJOR, CROSSTRACE_VERSION_MINOR,
             CROSSTRACE_VERSION_PATCH);
    if (strcmp(want, ct_version()) != 0 || strcmp(CROSSTRACE_VERSION, ct_version()) != 0) {
        fprintf(stderr, "header %s, library %s\n", want, ct_version());
        return 1;
    }
    return 0;
}
C
  cc "$dir/version.c" $(PKG_CONFIG_PATH="$pc" pkg-config --cflags --libs crosstrace) \
    -Wl,-rpath,"$prefix/lib" -o "$dir/version" && "$dir/version"
  step "C artifact: find_package(crosstrace CONFIG), shared and static targets"
  cmake -S bindings-c/examples/cmake -B "$dir/cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
  cmake --build "$dir/cmake" >/dev/null
  OTEL_BACKEND=none "$dir/cmake/hello_crosstrace"
  OTEL_BACKEND=none "$dir/cmake/hello_crosstrace_static"
  step "C: make install PREFIX=... DESTDIR=... and make uninstall"
  rm -rf "$dir/destdir"
  make -s install PREFIX=/opt/crosstrace DESTDIR="$dir/destdir" >/dev/null
  # The same library, built for this machine's glibc (the tarball's is for 2.17): the same
  # exported functions.
  local installed="$dir/destdir/opt/crosstrace/lib/libcrosstrace.so.$VERSION"
  diff <(nm -D --defined-only "$installed" | awk '{print $3}' | sort) \
    <(nm -D --defined-only "$so" | awk '{print $3}' | sort)
  [ -f "$dir/destdir/opt/crosstrace/lib/libcrosstrace.a" ]
  [ -L "$dir/destdir/opt/crosstrace/lib/libcrosstrace.so.$SOVERSION" ]
  make -s uninstall PREFIX=/opt/crosstrace DESTDIR="$dir/destdir" >/dev/null
  if [ -n "$(find "$dir/destdir" -type f)" ]; then
    echo "uninstall left files: $(find "$dir/destdir" -type f)" >&2; exit 1
  fi
}

# The binding's lock-free structures under miri: the span slab (src/handles.rs: threads taking
# and giving back slots, checked for a slot held twice) and ct_intern's table (src/interned.rs:
# read without a lock while threads intern), both checked for data races (`miri_test` of
# common.sh: nightly, installed once, and the shared miri target directory); about 20 seconds.
slab_miri_test() {
  step "C: the span slab and the ct_intern table under miri (threads, no lock on reads)"
  miri_test crosstrace-c slab_ -- interned_
}

jaeger_test() {
  step "C: a traced job under a given traceparent, found in the real Jaeger"
  build_lib debug
  cc_shared bindings-c/examples/traced_job.c -o "$BUILD/traced_job"
  local parent_trace parent_span out
  parent_trace="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  parent_span="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
  out="$(OTEL_BACKEND=otlp OTEL_EXPORTER_ENDPOINT="http://127.0.0.1:${JAEGER_OTLP_HTTP_PORT:-4318}/v1/traces" \
    OTEL_SERVICE_NAME=c-price-job "$BUILD/traced_job" "00-$parent_trace-$parent_span-01" corr-c-42)"
  python3 tests/e2e/check_c_trace.py "http://127.0.0.1:${JAEGER_QUERY_PORT:-16686}" \
    "$parent_trace" "$parent_span" corr-c-42 $out
}

bench() {
  # The C loop (bindings-c/bench/spans.c, compiled by the C compiler) and the Rust core used
  # directly, in one process, in turns: see bindings-c/bench/src/main.rs.
  cargo run -q --profile bench -p crosstrace-c-bench
}

case "${1:-}" in
  test)
    ensure_tools
    build_lib debug
    step "C header is fresh"
    check_header
    run_test
    slab_miri_test
    ;;
  miri) slab_miri_test ;;
  jaeger-test) jaeger_test ;;
  component)
    # The retail pipeline's C component: libcrosstrace and libprice_normalise.so; prints both.
    ensure_tools >&2
    build_lib >&2
    build_component >&2
    echo "$BUILD/libprice_normalise.so $LIBDIR/libcrosstrace.so"
    ;;
  install) install_to "${2:?usage: c.sh install PREFIX [DESTDIR]}" "${3:-}" ;;
  uninstall) uninstall_from "${2:?usage: c.sh uninstall PREFIX [DESTDIR]}" "${3:-}" ;;
  tarball) ensure_tools; tarball "${2:?usage: c.sh tarball OUT_DIR}" ;;
  test-artifact) ensure_tools; test_artifact "${2:?usage: c.sh test-artifact TARBALL}" ;;
  bench) bench ;;
  header) header ;;
  *) echo "usage: $0 test|miri|jaeger-test|install PREFIX [DESTDIR]|uninstall PREFIX [DESTDIR]|tarball DIR|test-artifact TARBALL|bench|header" >&2; exit 2 ;;
esac
