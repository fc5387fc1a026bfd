#!/usr/bin/env bash
# Coverage-guided fuzzing on stable Rust: libFuzzer from libfuzzer-sys, coverage from LLVM's
# sanitizer-coverage passes (stable -C flags; cargo-fuzz would need nightly for its sanitizer
# flags). Every target runs for SECONDS (default 30) from a corpus seeded with valid examples
# written by this build, under an allocation cap (fuzz/fuzz_targets/cap.rs). Prints one line
# per target and the totals; exits non-zero on any crash, panic, hang or cap breach (the
# input is kept under fuzz/artifacts/<target>/).
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#   ANAX_FUZZ_RUNS=n      n executions per target from a fixed seed instead of SECONDS
#                         (repeatable: what CI runs)
#   ANAX_FUZZ_JSON=path   also write { "execs": n, "crashes": n, "targets": {...} } there
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-30}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(wal_segment manifest open_head ipc_stream sst_file s3_list tail_pack)
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps RUSTFLAGS (the coverage passes) off build scripts and proc macros.
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --manifest-path fuzz/Cargo.toml --release --bins --target "$host"
bin="$CARGO_TARGET_DIR/$host/release"
corpus=fuzz/corpus
rm -rf "$corpus.seed"
# The seeds come from this build's own writers, built without the coverage flags.
RUSTFLAGS="" CARGO_TARGET_DIR="${CARGO_TARGET_DIR%/fuzz}" \
  cargo run --quiet --features fuzz --example fuzz_seeds -- "$corpus.seed" >/dev/null
total=0
crashes=0
json_targets=""
for t in "${TARGETS[@]}"; do
  mkdir -p "$corpus/$t" "fuzz/artifacts/$t"
  log="fuzz/artifacts/$t.log"
  set +e
  if [ -n "${ANAX_FUZZ_RUNS:-}" ]; then
    limit=(-runs="$ANAX_FUZZ_RUNS" -seed=1)
  else
    limit=(-max_total_time="$SECONDS_PER_TARGET")
  fi
  "$bin/$t" "$corpus/$t" "$corpus.seed/$t" "${limit[@]}" \
    -timeout=10 -rss_limit_mb=4096 -max_len=262144 -print_final_stats=1 \
    -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  execs=${execs:-0}
  bad=0
  if [ $rc -ne 0 ]; then
    bad=1
    crashes=$((crashes + 1))
    echo "fuzz $t: FAILED (exit $rc), see $log:" >&2
    grep -E "panicked|ERROR|over the cap|deadly|Test unit written" "$log" | head -8 >&2
  fi
  total=$((total + execs))
  printf 'fuzz %-12s %12s execs  %s\n' "$t" "$execs" "$([ $bad = 0 ] && echo ok || echo CRASH)"
  json_targets="$json_targets${json_targets:+, }\"$t\": $execs"
done
echo "fuzz total: $total execs, $crashes crashing targets"
if [ -n "${ANAX_FUZZ_JSON:-}" ]; then
  printf '{ "execs": %s, "crashes": %s, "seconds_per_target": %s, "targets": { %s } }\n' \
    "$total" "$crashes" "$SECONDS_PER_TARGET" "$json_targets" >"$ANAX_FUZZ_JSON"
fi
[ "$crashes" -eq 0 ]
