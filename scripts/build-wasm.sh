#!/usr/bin/env bash
# Builds the release wasm and its JS glue into pkg/ (what the npm package ships), then prints
# the sizes: raw and gzip -9.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

cargo build --release --lib --target wasm32-unknown-unknown
wasm-bindgen --target web --out-dir pkg --out-name anax --remove-name-section --remove-producers-section \
  "$TARGET_DIR/wasm32-unknown-unknown/release/anax.wasm"

raw=$(stat -c %s pkg/anax_bg.wasm)
gz=$(gzip -9 -c pkg/anax_bg.wasm | wc -c)
echo "anax_bg.wasm: raw ${raw} bytes, gzip -9 ${gz} bytes"
