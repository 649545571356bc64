#!/usr/bin/env bash
# libcrosstrace: build, header freshness, C tests (static, shared, valgrind, ASan+UBSan),
# install + pkg-config + CMake, the Jaeger round trip, and the C bench.
#   scripts/c.sh test | jaeger-test | install PREFIX | bench | header
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
    cargo build -q -p crosstrace-c --release
  else
    cargo build -q -p crosstrace-c
  fi
  LIBDIR="$CARGO_TARGET_DIR/$profile"
}

header() {
  ensure_tools
  "$CBINDGEN" --quiet --config bindings-c/cbindgen.toml --crate crosstrace-c \
    --output bindings-c/include/crosstrace.h
}

check_header() {
  local fresh="$BUILD/crosstrace.h"
  "$CBINDGEN" --quiet --config bindings-c/cbindgen.toml --crate crosstrace-c --output "$fresh"
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

install_to() {
  local prefix="$1"
  build_lib release
  mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
  cp "$LIBDIR/libcrosstrace.a" "$LIBDIR/libcrosstrace.so" "$prefix/lib/"
  cp bindings-c/include/crosstrace.h "$prefix/include/"
  local version
  version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
  sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" bindings-c/crosstrace.pc.in \
    >"$prefix/lib/pkgconfig/crosstrace.pc"
  echo "installed libcrosstrace $version to $prefix"
}

test_install() {
  step "make install, pkg-config and the CMake example"
  local prefix="$BUILD/prefix"
  rm -rf "$prefix" "$BUILD/cmake-example"
  install_to "$prefix"
  PKG_CONFIG_PATH="$prefix/lib/pkgconfig" gcc -std=c11 -Wall -Wextra -Werror \
    bindings-c/examples/cmake/main.c $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs crosstrace) \
    -Wl,-rpath,"$prefix/lib" -o "$BUILD/hello_pkgconfig"
    OTEL_BACKEND=none "$BUILD/hello_pkgconfig"
  step "the README's C quick start compiles and runs"
  awk '/^```c$/{on=1;next} /^```$/{on=0} on' README.md >"$BUILD/readme_quickstart.c"
  PKG_CONFIG_PATH="$prefix/lib/pkgconfig" gcc -std=c11 -Wall -Wextra -Werror \
    "$BUILD/readme_quickstart.c" $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs crosstrace) \
    -Wl,-rpath,"$prefix/lib" -o "$BUILD/readme_quickstart"
  OTEL_BACKEND=none "$BUILD/readme_quickstart" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
  cmake -S bindings-c/examples/cmake -B "$BUILD/cmake-example" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_BUILD_RPATH="$prefix/lib" >/dev/null
  cmake --build "$BUILD/cmake-example" >/dev/null
  OTEL_BACKEND=none "$BUILD/cmake-example/hello_crosstrace"
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
  cargo run -q --release -p crosstrace-c-bench
}

case "${1:-}" in
  test)
    ensure_tools
    build_lib debug
    step "C header is fresh"
    check_header
    run_test
    test_install
    ;;
  jaeger-test) jaeger_test ;;
  component)
    # The retail pipeline's C component: libcrosstrace and libprice_normalise.so; prints both.
    ensure_tools >&2
    build_lib >&2
    build_component >&2
    echo "$BUILD/libprice_normalise.so $LIBDIR/libcrosstrace.so"
    ;;
  install) install_to "${2:?usage: c.sh install PREFIX}" ;;
  bench) bench ;;
  header) header ;;
  *) echo "usage: $0 test|jaeger-test|install PREFIX|bench|header" >&2; exit 2 ;;
esac
