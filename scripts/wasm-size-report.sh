#!/usr/bin/env bash
# What takes the bytes of the release wasm: twiggy's per-item sizes summed per crate, on the
# cargo output (before wasm-bindgen strips names). Not part of the tests; installs twiggy if
# missing. Run scripts/build-wasm.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
command -v twiggy >/dev/null || cargo install twiggy --version 0.8.0
wasm="${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release/anax.wasm"
twiggy top -n 100000 "$wasm" | awk -F'┊' '
  NR > 2 && $3 !~ /Total Rows|and [0-9]+ more/ {
    item = $3; gsub(/^ +| +$/, "", item)
    if (item ~ /^"function names"|^custom section/) next
    name = item; sub(/^</, "", name); sub(/^&/, "", name)
    split(name, parts, "::"); crate = parts[1]; sub(/\[.*/, "", crate)
    if (item ~ /^data segment/) crate = "data (.rodata: strings, tables)"
    else if (crate !~ /^[a-z_0-9]+$/) crate = "other"
    size[crate] += $1; total += $1
  }
  END {
    printf "| crate | bytes | share of code+data |\n|---|---:|---:|\n"
    for (c in size) printf "%s\t%d\n", c, size[c] | "sort -t\"\t\" -k2 -rn | head -15 | awk -F\"\t\" -v t=" total " '"'"'{printf \"| %s | %d | %.1f%% |\\n\", $1, $2, 100*$2/t}'"'"'"
  }'
