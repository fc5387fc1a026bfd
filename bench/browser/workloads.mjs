// B1..B5 against one engine adapter, in the context the adapter runs in. An adapter is
// { open(), first(), insertBatch(rows), get(id), scanAll(), range(lo, hi), putOne(row), close() }
// with every write durable where the engine can be.
import { makeRows, pct, prng } from "./data.mjs";

export const BATCH = 1000;

export async function bulkInsert(engine, rows) {
  const t0 = performance.now();
  for (let i = 0; i < rows.length; i += BATCH) await engine.insertBatch(rows.slice(i, i + BATCH));
  return { B1: { value: rows.length / ((performance.now() - t0) / 1000), unit: "rows/s" } };
}

/** 10,000 (or n/10 in smoke runs) random point gets through `get`, timed one by one. */
export async function pointGets(get, rows, label = "B2", engineCount = null) {
  const rnd = prng(7);
  const count = Math.min(10_000, rows.length);
  const lat = [];
  let found = 0;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const id = rows[Math.floor(rnd() * rows.length)].id;
    const s = performance.now();
    if (await get(id)) found += 1;
    lat.push(performance.now() - s);
  }
  const secs = (performance.now() - t0) / 1000;
  if (found !== count) throw new Error(`${label}: found ${found} of ${count} keys${engineCount ? ` (the table holds ${await engineCount()} rows)` : ""}`);
  lat.sort((a, b) => a - b);
  return {
    [label]: { value: count / secs, unit: "gets/s" },
    [`${label}_p50`]: { value: pct(lat, 50), unit: "ms" },
    [`${label}_p99`]: { value: pct(lat, 99), unit: "ms" },
  };
}

export async function reads(engine, rows) {
  const out = {};
  await phase("B2");
  Object.assign(out, await pointGets((id) => engine.get(id), rows, "B2", engine.count));
  await phase("B3");
  let t0 = performance.now();
  const all = await engine.scanAll();
  if (all !== rows.length) throw new Error(`B3: scanned ${all} rows of ${rows.length}`);
  out.B3 = { value: all / ((performance.now() - t0) / 1000), unit: "rows/s" };
  const sorted = rows.map((r) => r.id).sort();
  await phase("B4");
  const span = Math.max(1, Math.floor(sorted.length / 100));
  const rnd = prng(9);
  const scans = 50;
  let got = 0;
  t0 = performance.now();
  for (let i = 0; i < scans; i++) {
    const at = Math.floor(rnd() * (sorted.length - span));
    got += await engine.range(sorted[at], sorted[at + span]);
  }
  out.B4 = { value: scans / ((performance.now() - t0) / 1000), unit: "scans/s" };
  if (got !== scans * span) throw new Error(`B4: ${got} rows, expected ${scans * span}`);
  return out;
}

export async function singlePuts(engine, n = 200) {
  const extra = makeRows(n, 99).map((r) => ({ ...r, id: `zz${r.id.slice(2)}` }));
  const lat = [];
  for (const row of extra) {
    const s = performance.now();
    await engine.putOne(row);
    lat.push(performance.now() - s);
  }
  lat.sort((a, b) => a - b);
  return { B5_p50: { value: pct(lat, 50), unit: "ms" }, B5_p99: { value: pct(lat, 99), unit: "ms" } };
}

/** Marks the start of a workload (the runner may profile each one separately). */
export async function phase(name) {
  await globalThis.__phase?.(name);
}

/**
 * Everything for one engine in this context. `init` is from the engine's first import to its
 * first answered query (the engine's own cold start); `page_init` from navigation start.
 */
export async function runAll(engine, n) {
  await phase("init");
  await engine.open();
  await engine.first();
  const out = {
    init: { value: performance.now() - engine.loadStarted, unit: "ms" },
    page_init: { value: performance.now(), unit: "ms" },
  };
  await phase("setup");
  await engine.afterInit?.();
  const rows = makeRows(n);
  await phase("B1");
  Object.assign(out, await bulkInsert(engine, rows));
  Object.assign(out, await reads(engine, rows));
  await phase("B5");
  Object.assign(out, await singlePuts(engine, Math.min(200, n)));
  await phase("end");
  return { out, rows };
}
