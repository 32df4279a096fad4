# edgeproxy — two commands do all set-up on a fresh Debian machine:
#   make run    install what is missing, build (release), start the quickstart
#   make test   install what is missing, run the whole test suite
#
# Builds go to a target dir outside the clone so fresh clones (CI) reuse earlier builds.

CARGO ?= cargo
export CARGO_TARGET_DIR ?= $(HOME)/.cache/edgeproxy/target
CONF ?= conf/edgeproxy.toml

BUILD_PKGS := cmake pkg-config libssl-dev build-essential
TEST_PKGS  := redis-server nginx libnginx-mod-http-lua curl openssl nghttp2-client chromium python3 python3-venv brotli zstd gzip
BENCH_PKGS := nginx libnginx-mod-http-lua wrk

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test build release dist deps-build deps-test deps-bench check fmt lint bench clean-target kafka-broker test-tools

# A real Kafka-protocol broker for the access-event tests
# (cli/tests/integration/access_events.rs): tansu from crates.io, built once (debug: quicker
# to build, plenty for tests) into the cache directory beside the target dir, so fresh clones
# (CI) reuse it. Nothing to do when built.
# Feature `dynostore` brings the in-memory storage the tests use (tansu's default build
# has no storage engine at all). Events are read back with kafka-python (PyPI) from a venv
# beside it: Debian's kcat (librdkafka 2.0.2) cannot parse tansu's ApiVersions v3 answer.
TOOLS ?= $(HOME)/.cache/edgeproxy/tools
TANSU_VERSION := 0.6.0
TANSU_DIR := $(TOOLS)/tansu-$(TANSU_VERSION)-dynostore
TANSU := $(TANSU_DIR)/bin/tansu
KAFKA_PY_VERSION := 3.0.12
KAFKA_PY_DIR := $(TOOLS)/kafka-python-$(KAFKA_PY_VERSION)
KAFKA_PY := $(KAFKA_PY_DIR)/bin/python
export EDGEPROXY_TANSU ?= $(TANSU)
export EDGEPROXY_KAFKA_PY ?= $(KAFKA_PY)
# A real gRPC server and client for the gRPC tests (cli/tests/integration/grpc_*.rs):
# grpcio (PyPI; its wheels need no compiler) in a venv beside the broker's.
GRPC_PY_VERSION := 1.85.1
GRPC_PY_DIR := $(TOOLS)/grpcio-$(GRPC_PY_VERSION)
GRPC_PY := $(GRPC_PY_DIR)/bin/python
export EDGEPROXY_GRPC_PY ?= $(GRPC_PY)

define install_missing
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
endef

deps-build:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install a Rust toolchain (rustup) first"; exit 1; }
	$(call install_missing,$(BUILD_PKGS))

deps-test: deps-build
	$(call install_missing,$(TEST_PKGS))
	@# the test harness starts its own redis/nginx processes; the distro services are not needed
	@$(SUDO) systemctl disable --now redis-server nginx >/dev/null 2>&1 || true

deps-bench: deps-build
	$(call install_missing,$(BENCH_PKGS))

release: deps-build
	$(CARGO) build --release

# The build to ship: fat LTO, one codegen unit (Cargo.toml [profile.dist]); the binary is
# $(CARGO_TARGET_DIR)/dist/edgeproxy.
dist: deps-build
	$(CARGO) build --profile dist --bin edgeproxy

build: deps-build
	$(CARGO) build

kafka-broker: $(TANSU) $(KAFKA_PY)

## The tools the integration suite runs beside the binary (built or installed once).
test-tools: kafka-broker $(GRPC_PY)

$(GRPC_PY):
	rm -rf $(GRPC_PY_DIR)
	python3 -m venv $(GRPC_PY_DIR)
	$(GRPC_PY_DIR)/bin/pip install --quiet grpcio==$(GRPC_PY_VERSION)

$(KAFKA_PY):
	rm -rf $(KAFKA_PY_DIR)
	python3 -m venv $(KAFKA_PY_DIR)
	$(KAFKA_PY_DIR)/bin/pip install --quiet kafka-python==$(KAFKA_PY_VERSION)

$(TANSU):
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install a Rust toolchain (rustup) first"; exit 1; }
	CARGO_TARGET_DIR=$(TOOLS)/build-tansu $(CARGO) install --locked --debug --quiet \
	  --features dynostore --root $(TANSU_DIR) --version $(TANSU_VERSION) tansu
	rm -rf $(TOOLS)/build-tansu

## Start the quickstart (Ctrl-C to stop).
run: release
	$(CARGO_TARGET_DIR)/release/edgeproxy -t -c $(CONF)
	$(CARGO_TARGET_DIR)/release/edgeproxy -c $(CONF)

## Run every test (unit, integration with real redis-server/nginx/origins).
test: deps-test test-tools
	$(CARGO) build --workspace --tests
	$(CARGO) test --workspace --no-fail-fast

## Validate a config: make check CONF=path
check: build
	$(CARGO_TARGET_DIR)/debug/edgeproxy -t -c $(CONF)

fmt:
	$(CARGO) fmt --all

## Formatting and lints as CI checks them (.ci/run): rustfmt's layout, clippy with every
## warning an error, on every target (tests, examples, benches included).
lint: deps-build
	@$(CARGO) fmt --version >/dev/null 2>&1 && $(CARGO) clippy --version >/dev/null 2>&1 || \
	  { echo "rustfmt/clippy missing: rustup component add rustfmt clippy"; exit 1; }
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Side-by-side benchmarks against nginx (pinned; results in bench/results, see BENCHMARKS.md).
bench: deps-bench
	$(MAKE) -C bench bench
