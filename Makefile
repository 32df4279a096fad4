# edgeproxy — two commands do all set-up on a fresh Debian machine:
#   make run    install what is missing, build (release), start the quickstart
#   make test   install what is missing, run the whole test suite
#
# Builds go to a target dir outside the clone so fresh clones (CI) reuse earlier builds.

CARGO ?= cargo
export CARGO_TARGET_DIR ?= $(HOME)/.cache/edgeproxy/target
CONF ?= conf/edgeproxy.toml

BUILD_PKGS := cmake pkg-config libssl-dev build-essential
TEST_PKGS  := redis-server nginx libnginx-mod-http-lua curl openssl nghttp2-client chromium python3 python3-venv brotli zstd gzip \
  systemd logrotate
BENCH_PKGS := nginx libnginx-mod-http-lua wrk

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test build release dist deps-build deps-test deps-bench check fmt lint bench clean-target kafka-broker \
  test-tools install uninstall deb deb-package deb-e2e

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

# cargo-deb (crates.io) builds the Debian package (`make deb`; metadata in cli/Cargo.toml),
# pinned and built once into the same cache directory as tansu.
CARGO_DEB_VERSION := 3.8.0
CARGO_DEB_DIR := $(TOOLS)/cargo-deb-$(CARGO_DEB_VERSION)
CARGO_DEB := $(CARGO_DEB_DIR)/bin/cargo-deb
export EDGEPROXY_CARGO_DEB ?= $(CARGO_DEB)

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

$(CARGO_DEB):
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install a Rust toolchain (rustup) first"; exit 1; }
	CARGO_TARGET_DIR=$(TOOLS)/build-cargo-deb $(CARGO) install --locked --quiet \
	  --root $(CARGO_DEB_DIR) --version $(CARGO_DEB_VERSION) cargo-deb
	rm -rf $(TOOLS)/build-cargo-deb

## Install as nginx's `make install` does (docs/install.md): the dist binary (built when
## INSTALL_BIN is not given) into $(BINDIR), the starter config /etc/edgeproxy/edgeproxy.toml
## and its templates (never overwritten; the shipped config is also written as
## edgeproxy.toml.default), examples in $(DATADIR), the systemd unit (neither enabled nor
## started), the logrotate snippet, /var/log/edgeproxy and, on a real install as root, the
## `edgeproxy` system user the unit runs as. DESTDIR stages the whole tree elsewhere.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/edgeproxy
DOCDIR ?= $(PREFIX)/share/doc/edgeproxy
CONFDIR ?= /etc/edgeproxy
UNITDIR ?= /etc/systemd/system
LOGROTATEDIR ?= /etc/logrotate.d
LOGDIR ?= /var/log/edgeproxy
DIST_BIN := $(CARGO_TARGET_DIR)/dist/edgeproxy
INSTALL_BIN ?= $(DIST_BIN)
# Stripped, as in the package (17 MB, not 108); INSTALL_STRIP= keeps the debug line tables.
INSTALL_STRIP ?= -s
# The package's paths (pkg/: /usr/bin, /usr/share) rewritten to this install's.
AT_PREFIX := sed -e 's|/usr/bin/edgeproxy|$(BINDIR)/edgeproxy|g' \
  -e 's|/usr/share/doc/edgeproxy|$(DOCDIR)|g' -e 's|/usr/share/edgeproxy|$(DATADIR)|g'

install: $(if $(filter $(DIST_BIN),$(INSTALL_BIN)),dist)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(CONFDIR)/templates $(DESTDIR)$(DATADIR)/templates \
	  $(DESTDIR)$(DATADIR)/examples/keys $(DESTDIR)$(DATADIR)/examples/lists $(DESTDIR)$(DOCDIR) \
	  $(DESTDIR)$(UNITDIR) $(DESTDIR)$(LOGROTATEDIR)
	install -d -m 0750 $(DESTDIR)$(LOGDIR)
	install -m 0755 $(INSTALL_STRIP) $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/edgeproxy
	$(AT_PREFIX) pkg/edgeproxy.toml > $(DESTDIR)$(CONFDIR)/edgeproxy.toml.default
	[ -e $(DESTDIR)$(CONFDIR)/edgeproxy.toml ] || \
	  cp $(DESTDIR)$(CONFDIR)/edgeproxy.toml.default $(DESTDIR)$(CONFDIR)/edgeproxy.toml
	for f in conf/templates/*; do t=$(DESTDIR)$(CONFDIR)/templates/$${f##*/}; \
	  [ -e $$t ] || install -m 0644 $$f $$t; done
	install -m 0644 conf/templates/* $(DESTDIR)$(DATADIR)/templates/
	install -m 0644 conf/examples/*.toml $(DESTDIR)$(DATADIR)/examples/
	install -m 0644 conf/examples/keys/* $(DESTDIR)$(DATADIR)/examples/keys/
	install -m 0644 conf/examples/lists/* $(DESTDIR)$(DATADIR)/examples/lists/
	install -m 0644 docs/install.md README.md $(DESTDIR)$(DOCDIR)/
	$(AT_PREFIX) pkg/edgeproxy.service > $(DESTDIR)$(UNITDIR)/edgeproxy.service
	install -m 0644 pkg/edgeproxy.logrotate $(DESTDIR)$(LOGROTATEDIR)/edgeproxy
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
	  getent passwd edgeproxy >/dev/null || useradd --system --user-group --no-create-home \
	    --home-dir /nonexistent --shell /usr/sbin/nologin edgeproxy; \
	  chown edgeproxy:edgeproxy $(LOGDIR); \
	  [ ! -d /run/systemd/system ] || systemctl daemon-reload; \
	fi
	@echo "installed; start it with: systemctl enable --now edgeproxy (docs/install.md)"

## Remove what `make install` put in place, except the config and templates in $(CONFDIR)
## that were edited (those identical to the shipped ones go), the logs and the user.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/edgeproxy $(DESTDIR)$(UNITDIR)/edgeproxy.service \
	  $(DESTDIR)$(LOGROTATEDIR)/edgeproxy
	! cmp -s $(DESTDIR)$(CONFDIR)/edgeproxy.toml $(DESTDIR)$(CONFDIR)/edgeproxy.toml.default || \
	  rm -f $(DESTDIR)$(CONFDIR)/edgeproxy.toml
	for f in conf/templates/*; do t=$(DESTDIR)$(CONFDIR)/templates/$${f##*/}; \
	  ! cmp -s $$t $$f || rm -f $$t; done
	rm -rf $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(CONFDIR)/edgeproxy.toml.default
	rmdir $(DESTDIR)$(CONFDIR)/templates $(DESTDIR)$(CONFDIR) 2>/dev/null || true
	@[ ! -e $(DESTDIR)$(CONFDIR) ] || echo "kept (edited): $$(find $(DESTDIR)$(CONFDIR) -type f)"

## The Debian package (cargo-deb; metadata in cli/Cargo.toml) of the dist build, in
## $(DEB_DIR). `deb-package` packages an existing build without building (DEB_PROFILE picks
## it; the tests package their own binary this way, with DEB_FLAGS=--fast).
DEB_DIR ?= $(CARGO_TARGET_DIR)/debian
DEB_PROFILE ?= dist
DEB_FLAGS ?=
deb: dist
	$(MAKE) deb-package

deb-package: $(CARGO_DEB)
	$(CARGO_DEB) --no-build --strip -p edgeproxy-cli --profile $(DEB_PROFILE) -o $(DEB_DIR) $(DEB_FLAGS)

## Install the package `make deb` makes on this machine, serve, reload, rotate logs, remove
## and purge it (needs root and ports 80 and 9901 free; leaves the `edgeproxy` user).
deb-e2e: deps-test deb
	EDGEPROXY_DEB_E2E=1 EDGEPROXY_DEB=$(DEB_DIR) $(CARGO) test -p edgeproxy-cli --test integration \
	  -- --ignored --exact packaging::e2e::debian_package_installs_serves_reloads_rotates_and_is_removed

## Start the quickstart (Ctrl-C to stop).
run: release
	$(CARGO_TARGET_DIR)/release/edgeproxy -t -c $(CONF)
	$(CARGO_TARGET_DIR)/release/edgeproxy -c $(CONF)

## Run every test (unit, integration with real redis-server/nginx/origins).
test: deps-test test-tools $(CARGO_DEB)
	$(CARGO) build --workspace --tests
	$(CARGO) test --workspace --no-fail-fast
	# The integration suite again with local routes answered by pingora-proxy too (the
	# path `[server] direct_answers = false` takes; docs/direct.md): both paths stay right.
	EDGEPROXY_DIRECT_ANSWERS=off $(CARGO) test -p edgeproxy-cli --test integration --no-fail-fast

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
