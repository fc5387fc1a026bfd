#!/usr/bin/env bash
# Installs everything Anax's commands need on a fresh Debian machine, skipping what is there.
#   setup.sh run   what `npm start` needs (Rust wasm target, wasm-bindgen, npm packages)
#   setup.sh test  also Chromium + ChromeDriver and wasm-pack for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-test}"
WASM_BINDGEN_VERSION="0.2.130" # must equal the `wasm-bindgen = "=X"` pin in Cargo.toml
WASM_PACK_VERSION="0.15.1"
PYARROW_VERSION="26.0.1"
MOTO_VERSION="5.2.5"

say() { printf '[setup] %s\n' "$*"; }

export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Not --locked: the CLI's lockfile names a webpki-roots release the registry no longer has.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if [ "$MODE" = "test" ]; then
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    say "installing chromium and chromium-driver"
    export DEBIAN_FRONTEND=noninteractive
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq chromium chromium-driver
  fi
  if [ "$(wasm-pack --version 2>/dev/null | awk '{print $2}')" != "$WASM_PACK_VERSION" ]; then
    say "installing wasm-pack $WASM_PACK_VERSION"
    cargo install wasm-pack --version "$WASM_PACK_VERSION" --force
  fi
fi

if [ "$MODE" = "test" ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  # An independent Parquet reader for the SST interoperability test.
  if ! .venv/bin/python -c "import pyarrow" >/dev/null 2>&1; then
    say "installing pyarrow into .venv"
    .venv/bin/pip install --quiet --disable-pip-version-check "pyarrow==$PYARROW_VERSION"
  fi
  # An S3-compatible server on 127.0.0.1 for the S3 tests (they start and stop it).
  if [ ! -x .venv/bin/moto_server ]; then
    say "installing moto[server] into .venv"
    .venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund
fi
