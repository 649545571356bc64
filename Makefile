# crosstrace: the two commands are `make demo` and `make test`. Each target is a thin call into
# scripts/, which anyone can run locally; CI (.ci/run) calls `make test` and nothing more.
#
# Build outputs and installed tools are cached outside the clone, under ~/.cache/crosstrace.

export CROSSTRACE_CACHE ?= $(HOME)/.cache/crosstrace
export CARGO_TARGET_DIR ?= $(CROSSTRACE_CACHE)/target

.PHONY: demo test lint bench jaeger jaeger-stop cluster cluster-stop cluster-test install \
	uninstall dist wasm

## Run the retail ETL demo on the console backend (no server needed).
demo:
	bash scripts/demo.sh

## Install what the tests need, then run every check and test.
test:
	bash scripts/test.sh

## Formatting and lints only.
lint:
	bash scripts/lint.sh

## Benchmarks beside opentelemetry_sdk and fastrace, printed as ratios.
bench:
	bash scripts/bench.sh

## Install libcrosstrace (static and shared, with its SONAME), crosstrace.h, crosstrace.pc and
## the CMake package under $(DESTDIR)$(PREFIX); `make uninstall` removes what it installed.
PREFIX ?= /usr/local
DESTDIR ?=
install:
	bash scripts/c.sh install $(PREFIX) $(DESTDIR)

uninstall:
	bash scripts/c.sh uninstall $(PREFIX) $(DESTDIR)

## Build every release artifact into dist/: the Python wheel and sdist, the npm tarball, the C
## tarball and the crate.
dist:
	bash scripts/dist.sh build

## Build the npm package `crosstrace` (WebAssembly) into bindings-wasm/pkg.
wasm:
	bash scripts/wasm.sh build

## Start a local Jaeger (UI on http://127.0.0.1:16686).
jaeger:
	bash scripts/jaeger.sh install
	bash scripts/jaeger.sh start

jaeger-stop:
	bash scripts/jaeger.sh stop

## Start the collector tier on 127.0.0.1: two ingest collectors, Kafka (KRaft), two
## tail-sampling collectors and a Jaeger behind them (UI http://127.0.0.1:26686). Prints the
## endpoint to give OTEL_EXPORTER_ENDPOINT.
cluster:
	bash scripts/cluster.sh start

cluster-stop:
	bash scripts/cluster.sh stop

## The retail pipeline through a fresh tier: tail decisions, completeness, a sampler killed.
cluster-test:
	bash scripts/cluster.sh test
