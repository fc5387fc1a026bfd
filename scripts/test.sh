#!/usr/bin/env bash
# Every test Anax has: lint gates, native Rust tests, the browser tests in headless Chromium
# (main thread through wasm-pack, dedicated worker through cargo's runner), and the node/workerd
# suites against the built npm package.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export PATH="$HOME/.cargo/bin:$PATH"
export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver)}"
export CARGO_PROFILE_DEV_DEBUG=0
export ANAX_PYTHON="$PWD/.venv/bin/python"

step() { printf '\n=== %s\n' "$*"; }

step "rustfmt"
cargo fmt --all -- --check
step "clippy (native)"
cargo clippy --all-targets -- -D warnings
step "clippy (wasm32)"
cargo clippy --all-targets --target wasm32-unknown-unknown -- -D warnings

step "native tests"
cargo test

step "starting moto (S3 on 127.0.0.1, CORS on) for the browser tests"
ANAX_TEST_S3_ENDPOINT="$(bash scripts/moto.sh start anax-browser)"
export ANAX_TEST_S3_ENDPOINT
trap 'bash scripts/moto.sh stop' EXIT

step "browser tests: main thread (wasm-pack test)"
wasm-pack test --headless --chrome --chromedriver "$CHROMEDRIVER" . --test browser_main
step "browser tests: dedicated worker (cargo test + wasm-bindgen-test-runner)"
cargo test --target wasm32-unknown-unknown --test browser_worker

step "npm package build"
bash scripts/build-wasm.sh
step "node and workerd tests"
node --test js/test/ worker-example/test/
