#!/usr/bin/env bash
# Builds the release wasm and its JS glue into pkg/ (what the npm package ships): cargo, then
# wasm-bindgen, then wasm-opt -O1 from npm's binaryen (Debian's wasm-opt 108 breaks
# wasm-bindgen's output; see ../shared/docs/toolchain-facts.md). -O1 is the level whose output
# gzips smallest here (measured: -O1 1,075,529 B, none 1,095,409, -Oz 1,116,995, -Os 1,114,937,
# -O2 1,121,192, -O3 1,123,172). wasm-opt runs minutes under node, so its output is cached by
# the hash of its input. Prints the sizes: raw and gzip -9.
#   ANAX_NO_WASM_OPT=1  skip wasm-opt (faster local iterations; larger output)
#   ANAX_KEEP_NAMES=1   keep the name section and skip wasm-opt (readable profiles; not for shipping)
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

cargo build --release --lib --target wasm32-unknown-unknown
strip_names="--remove-name-section"
if [ -n "${ANAX_KEEP_NAMES:-}" ]; then
  strip_names=""
  ANAX_NO_WASM_OPT=1
fi
wasm-bindgen --target web --weak-refs --out-dir pkg --out-name anax $strip_names \
  --remove-producers-section "$TARGET_DIR/wasm32-unknown-unknown/release/anax.wasm"

# Route the glue's task scheduling through js/tasks.js, so a trap inside an Anax task reaches
# the JS trap guard (js/api.js) in every runtime, Node and workerd included.
node -e '
  const fs = require("fs");
  const file = "pkg/anax.js";
  let src = fs.readFileSync(file, "utf8");
  const call = "            queueMicrotask(arg0);";
  // wasm-bindgen-futures queue and runtime/task.rs both import it (one shim or two).
  if (src.split(call).length < 2) throw new Error("build-wasm.sh: the glue has no queueMicrotask(arg0) call; update the patch");
  src = `import { anaxQueueMicrotask } from "../js/tasks.js";\n` + src.split(call).join("            anaxQueueMicrotask(arg0);");
  fs.writeFileSync(file, src);
'

if [ -z "${ANAX_NO_WASM_OPT:-}" ]; then
  cache="$TARGET_DIR/wasm-opt-cache"
  mkdir -p "$cache"
  key=$(sha256sum pkg/anax_bg.wasm | cut -c1-32)
  if [ ! -f "$cache/$key.wasm" ]; then
    echo "wasm-opt -O1 (binaryen $(node_modules/.bin/wasm-opt --version | awk '{print $3}'), cached afterwards)"
    node_modules/.bin/wasm-opt -O1 --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
      pkg/anax_bg.wasm -o "$cache/$key.tmp"
    mv "$cache/$key.tmp" "$cache/$key.wasm"
  fi
  cp "$cache/$key.wasm" pkg/anax_bg.wasm
  # Tells the size test the shipped file is the optimized one.
  echo "binaryen-O1 $(stat -c %s pkg/anax_bg.wasm)" > pkg/anax_bg.wasm.opt
else
  rm -f pkg/anax_bg.wasm.opt
fi

# The browser entry and openInWorker's worker host, each as one module (with the glue and
# every helper), so a page or worker without a bundler makes one request for the JS instead of
# eight in three rounds. Their URLs (the .wasm, the worker) are written relative to the
# package root, so they hold from pkg/ as from js/.
for entry in "js/index.js pkg/anax.browser.js" "js/worker-host.js pkg/anax.worker.js"; do
  set -- $entry
  node_modules/.bin/esbuild "$1" --bundle --format=esm --platform=browser \
    --minify-whitespace --minify-syntax --log-level=warning --outfile="$2"
done

raw=$(stat -c %s pkg/anax_bg.wasm)
gz=$(gzip -9 -c pkg/anax_bg.wasm | wc -c)
echo "anax_bg.wasm: raw ${raw} bytes, gzip -9 ${gz} bytes"
