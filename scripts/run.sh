#!/usr/bin/env bash
# The main job: builds Anax and serves the worker example on 127.0.0.1 inside workerd
# (Miniflare), on an embedded in-memory store. Set PORT to change the port (default 8787).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh run
bash scripts/build-wasm.sh
exec node worker-example/dev.mjs
