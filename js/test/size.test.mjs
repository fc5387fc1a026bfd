// The shipped wasm's size against a recorded budget: pkg/anax_bg.wasm as scripts/build-wasm.sh
// leaves it (after wasm-bindgen and wasm-opt from npm's binaryen). Writes
// docs/bench/wasm-size.json. Raise the budget only with a note saying what the bytes bought.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { gzipSync, constants } from "node:zlib";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

// Measured 2026-11-24: raw 4,758,045, gzip 1,102,280 (see docs/benchmarks.md). The goal is
// 1,000,000 gzip; these budgets stop it from growing while the gap is worked on. Raised once
// from 4.80 MB / 1,100,000: arrow-ipc and flatbuffers at opt-level 3 (+21 kB gzip) made point
// gets 1.33x faster in wasm. Raised again from 1,110,000 gzip (2026-11-25, measured 1,110,356):
// sealed memtables as sorted runs, the linear-pick merge, scan results as IPC pieces and the
// idle-time reorganization (+7.6 kB gzip) took the browser full scan (B3) from 1.04M to ~3.0M
// rows/s and range scans (B4) from 1.1k to 2.6k scans/s. Raised again to 1,120,000 gzip
// (2026-11-25, measured 1,119,736, +9.4 kB): merging sealed memtables into one run when writes
// pause (+4.7 kB; B3 ~3.0M -> ~7.7M rows/s, 2.3x DuckDB-wasm, and B4 2.6k -> 4.1k scans/s), and
// scan answers whose IPC body is the columns' own buffers (+4.5 kB; a full scan of one run no
// longer needs wasm memory the size of its answer, which wasm never gives back). Raised again
// to 4,860,000 raw / 1,135,000 gzip (2026-12-04, measured 4,853,972 / 1,131,477 by this test, +12 kB gzip
// over 1,119,224): the reliability fixes of the "nothing lost, nothing wrong" issue, which a
// trap or a lost row made non-negotiable: IPC input whose lengths and buffers are checked
// before arrow allocates or slices (an anonymous 200-byte request trapped the instance),
// storage errors as data (status, retryable) with the bucket binding retrying transient
// failures, manifest commits that read the head back after any failed write, GC condemning
// orphans through the head, BUSY after a bounded L0 stall, lone-surrogate refusal, and the
// conditional-write probe at table creation. Then to 4,870,000 / 1,140,000 (measured 4,864,282
// / 1,135,142, +3.7 kB): the IPC schema and layout checks that stop four arrow-ipc panics the
// fuzzer found (each a trap from one put). Shrinking back is issue 22's work.
const BUDGET = { raw: 4_870_000, gzip: 1_140_000 };

test("the release wasm stays within its size budget", () => {
  const marker = path.join(root, "pkg/anax_bg.wasm.opt");
  assert.ok(existsSync(marker), "pkg/anax_bg.wasm was not run through wasm-opt: build with scripts/build-wasm.sh (without ANAX_NO_WASM_OPT)");
  const wasm = readFileSync(path.join(root, "pkg/anax_bg.wasm"));
  assert.equal(readFileSync(marker, "utf8").trim().split(" ")[1], String(wasm.length), "the wasm changed after wasm-opt");
  const size = { raw: wasm.length, gzip: gzipSync(wasm, { level: constants.Z_BEST_COMPRESSION }).length };
  writeFileSync(path.join(root, "docs/bench/wasm-size.json"), `${JSON.stringify(size, null, 2)}\n`);
  console.log(`anax_bg.wasm: raw ${size.raw} bytes (budget ${BUDGET.raw}), gzip -9 ${size.gzip} bytes (budget ${BUDGET.gzip})`);
  assert.ok(size.raw <= BUDGET.raw, `raw ${size.raw} > budget ${BUDGET.raw}`);
  assert.ok(size.gzip <= BUDGET.gzip, `gzip ${size.gzip} > budget ${BUDGET.gzip}`);
});
