// Hosts one engine in a dedicated worker: "init" opens it and runs a first query, "run" runs
// B1, B2..B4 and B5 here, "get" serves one point get for the main-thread B2, "raw" is the OPFS
// floor.
// Only the engine adapters load before "init" (the worker's start counts toward the engine's
// init); the workload code loads afterwards.
import { create, rawOpfs } from "./engines.mjs";

const params = new URLSearchParams(location.search);
let engine;
let rows;

// Workload phases go through the page to the runner (which may profile each one here).
let phaseAck = null;
globalThis.__phase = (name) =>
  new Promise((resolve) => {
    phaseAck = resolve;
    postMessage({ phase: name });
  });

self.onmessage = async ({ data }) => {
  if (data.op === "phase-ack") return phaseAck?.();
  try {
    let result;
    if (data.op === "raw") result = await rawOpfs(Number(params.get("mib") ?? 64));
    if (data.op === "init") {
      engine = await create(params.get("engine"));
      await engine.open();
      await engine.first();
      result = performance.now() - engine.loadStarted;
      await engine.afterInit?.();
    }
    if (data.op === "run") {
      const { makeRows } = await import("./data.mjs");
      const { bulkInsert, reads, singlePuts } = await import("./workloads.mjs");
      rows = makeRows(Number(params.get("n")));
      await globalThis.__phase("B1");
      const b1 = await bulkInsert(engine, rows);
      const r = await reads(engine, rows);
      await globalThis.__phase("B5");
      const b5 = await singlePuts(engine, Math.min(200, rows.length));
      await globalThis.__phase("end");
      result = { ...b1, ...r, ...b5 };
    }
    if (data.op === "get") result = Boolean(await engine.get(data.id));
    if (data.op === "close") result = await engine.close();
    postMessage({ id: data.id2, ok: true, result });
  } catch (e) {
    postMessage({ id: data.id2, ok: false, error: String(e?.stack ?? e) });
  }
};
