// The edge-path figures measured in Node on the wasm build (issue 19): bulk ingest on bucket
// storage, and the memory a 16 MiB value costs a fresh instance. Run by `npm run bench:edge-node`
// (or `node bench/node/edge-node.mjs [--rows N] [--json docs/bench/edge.json]`); needs
// `bash scripts/build-wasm.sh` first. `--memory-only` is the fresh-instance child run;
// ANAX_INGEST_OPTS (JSON merged into the open options) tries other settings, e.g.
// '{"compaction":{"automatic":false,"l0Backpressure":false}}' for the no-compaction floor.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Anax } from "../../js/node.js";
import { MemoryBucket } from "./bucket.mjs";
import { writeFigures } from "./figures.mjs";

const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const schema = { id: "utf8", n: "int64", payload: "utf8" };

// A 16-byte key from a bijective mix of i: every key distinct, in no useful order (as W1).
function key(i) {
  let x = BigInt(i) * 0x9e3779b97f4a7c15n & 0xffffffffffffffffn;
  x ^= x >> 29n;
  return x.toString(16).padStart(16, "0");
}

const payloads = Array.from({ length: 64 }, (_, j) => String.fromCharCode(97 + (j % 26)).repeat(60) + "ü-payload-".repeat(4));

async function ingest(rows, batch) {
  const bucket = new MemoryBucket();
  const db = await Anax.open({ schema, key: "id", storage: { kind: "bucket", bucket, prefix: "ingest" }, ...(process.env.ANAX_INGEST_OPTS ? JSON.parse(process.env.ANAX_INGEST_OPTS) : {}) });
  const tenths = [];
  let mark = performance.now();
  const t0 = mark;
  for (let done = 0; done < rows; done += batch) {
    const n = Math.min(batch, rows - done);
    const b = new Array(n);
    for (let j = 0; j < n; j++) {
      const i = done + j;
      b[j] = { id: key(i), n: i, payload: payloads[i % payloads.length] };
    }
    await db.put(b);
    if ((done + n) % Math.max(batch, rows / 10) === 0) {
      const now = performance.now();
      tenths.push(Math.max(batch, rows / 10) / ((now - mark) / 1000));
      mark = now;
    }
  }
  const secs = (performance.now() - t0) / 1000;
  const stats = await db.stats();
  const ingestCalls = bucket.totalCalls();
  const ingestCallKinds = { ...bucket.calls };
  // Reads on the table as the ingest left it (no full compaction): what its shape costs a get
  // and a short scan, in bucket calls and bytes (the handle's footers are cached by now).
  const reads = { gets: 500, scans: 50 };
  let calls0 = bucket.totalCalls();
  let bytes0 = bucket.bytesRead;
  for (let g = 0; g < reads.gets; g++) {
    const i = (g * 7919) % rows;
    if (!(await db.getRow(key(i)))) throw new Error(`row ${i} missing after the ingest`);
  }
  const getCalls = (bucket.totalCalls() - calls0) / reads.gets;
  const getKiB = (bucket.bytesRead - bytes0) / 1024 / reads.gets;
  calls0 = bucket.totalCalls();
  for (let g = 0; g < reads.scans; g++) {
    const cursor = await db.scanRows({ start: key((g * 104729) % rows), limit: 100 });
    let n = 0;
    for await (const _ of cursor) n++;
    if (n === 0) throw new Error("a 100-row scan after the ingest found nothing");
  }
  const scanCalls = (bucket.totalCalls() - calls0) / reads.scans;
  await db.close();
  const logicalMiB = (rows * (16 + 8 + 100)) / 1048576;
  return {
    rowsPerSec: rows / secs,
    secs,
    firstTenth: tenths[0],
    lastTenth: tenths[tenths.length - 1],
    writeAmp: bucket.bytesWritten / stats.sstBytes,
    requestsPerMiB: ingestCalls / logicalMiB,
    calls: ingestCallKinds,
    written: bucket.bytesWritten,
    stored: bucket.storedBytes(),
    sstBytes: stats.sstBytes,
    ssts: stats.levels,
    getCalls,
    getKiB,
    scanCalls,
  };
}

async function memory() {
  const bucket = new MemoryBucket();
  const db = await Anax.open({ schema, key: "id", storage: { kind: "bucket", bucket, prefix: "mem" } });
  const opened = (await db.stats()).wasmMemoryBytes;
  const big = "sixteen mebibytes, one ü, ".repeat(1 << 20).slice(0, 16 << 20);
  await db.put([{ id: "big", n: 1, payload: big }]);
  const afterPut = (await db.stats()).wasmMemoryBytes;
  const got = await db.get("big");
  if (!got || got.byteLength < 16 << 20) throw new Error("the 16 MiB value did not come back whole");
  const afterGet = (await db.stats()).wasmMemoryBytes;
  await db.close();
  return { opened, afterPut, afterGet, valueBytes: Buffer.byteLength(big) };
}

if (argv.includes("--memory-only")) {
  process.stdout.write(JSON.stringify(await memory()));
  process.exit(0);
}

const rows = Number(arg("--rows", 1_000_000));
const batch = Number(arg("--batch", 1000));
const json = arg("--json", null);

// A fresh process: the figure is the peak of a fresh instance (linear memory never shrinks).
const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--memory-only"], { encoding: "utf8" });
if (child.status !== 0) throw new Error(`memory run failed: ${child.stderr}`);
const mem = JSON.parse(child.stdout);
const mib = (b) => b / 1048576;
console.log(`16 MiB value (${mem.valueBytes} B of UTF-8): wasm memory ${mib(mem.opened).toFixed(1)} MiB open, ${mib(mem.afterPut).toFixed(1)} after put, ${mib(mem.afterGet).toFixed(1)} after get`);

const r = await ingest(rows, batch);
console.log(`ingest: ${rows} rows in ${batch}-row puts on a bucket in ${r.secs.toFixed(1)} s; calls ${JSON.stringify(r.calls)}; ${(r.written / 1048576).toFixed(1)} MiB written, ${(r.stored / 1048576).toFixed(1)} MiB stored, live SSTs ${(r.sstBytes / 1048576).toFixed(1)} MiB in ${JSON.stringify(r.ssts.map((l) => [l.level, l.files]))}`);

const figures = [
  ["ingest_bucket_rows_per_s", r.rowsPerSec, ">= 100000", `${rows} rows of the W1 shape in ${batch}-row puts (row objects) on bucket storage in Node, in-memory R2-shaped bucket, no latency, compaction on (inline, the wasm default)`],
  ["ingest_bucket_last_tenth_ratio", r.lastTenth / r.firstTenth, "(no slowdown: about 1)", "rows/s over the last tenth of the ingest over the first tenth"],
  ["ingest_bucket_write_amp", r.writeAmp, "(context)", "bytes written to the bucket (SSTs, manifest, notes) over the live SST bytes at the end"],
  ["ingest_bucket_requests_per_mib", r.requestsPerMiB, "(context)", "bucket calls of every kind per MiB of row data ingested (16 + 8 + 100 bytes a row)"],
  ["ingest_bucket_get_calls", r.getCalls, "(context)", "bucket calls per strict point get (getRow) on the table as the ingest left it, no full compaction"],
  ["ingest_bucket_get_kib", r.getKiB, "(context)", "KiB read per strict point get on the table as the ingest left it"],
  ["ingest_bucket_scan100_calls", r.scanCalls, "(context)", "bucket calls per strict 100-row scan (scanRows) on the table as the ingest left it"],
  ["wasm_peak_mib_16mib_value", mib(mem.afterGet), "<= 64", "wasm linear memory of a fresh Node instance after open, a put of one 16 MiB value and its get (bucket storage)"],
];
console.log("| figure | value | target |\n|---|---|---|");
for (const [name, value, target] of figures) console.log(`| ${name} | ${value.toFixed(2)} | ${target} |`);

if (json) writeFigures(json, figures, { rttMs: 0, rows: (name) => (name.startsWith("wasm") ? 1 : rows) });
