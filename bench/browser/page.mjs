// One engine, one run, in this fresh page: publishes window.__bench = { results } or { error }.
// Engines that live in a dedicated worker report B2 twice: in the worker (B2) and from this
// main thread through postMessage (B2_main).
import { create } from "./engines.mjs";
import { makeRows } from "./data.mjs";
import { pointGets, runAll } from "./workloads.mjs";

const params = new URLSearchParams(location.search);
const engineName = params.get("engine");
const n = Number(params.get("n"));
const IN_WORKER = new Set(["anax-opfs", "sqlite-opfs-sahpool", "raw-opfs"]);

function hosted() {
  const worker = new Worker(new URL(`./worker.mjs?${params}`, import.meta.url), { type: "module" });
  let next = 1;
  const waiting = new Map();
  worker.onmessage = async ({ data }) => {
    if (data.phase) {
      await window.__phase?.(data.phase);
      worker.postMessage({ op: "phase-ack" });
      return;
    }
    const w = waiting.get(data.id);
    waiting.delete(data.id);
    if (data.ok) w.resolve(data.result);
    else w.reject(new Error(data.error));
  };
  return (op, extra = {}) =>
    new Promise((resolve, reject) => {
      const id2 = next++;
      waiting.set(id2, { resolve, reject });
      worker.postMessage({ op, id2, ...extra });
    });
}

async function main() {
  if (engineName === "raw-opfs") return hosted()("raw");
  if (IN_WORKER.has(engineName)) {
    // The worker's start-up counts toward this engine's init: it is what hosting it costs.
    const loadStarted = performance.now();
    const call = hosted();
    const inWorkerInit = await call("init");
    const init = { value: performance.now() - loadStarted, unit: "ms" };
    const page_init = { value: performance.now(), unit: "ms" };
    const inWorker = await call("run");
    const rows = makeRows(n);
    const main = await pointGets((id) => call("get", { id }), rows, "B2_main");
    await call("close");
    return { init, page_init, init_in_worker: { value: inWorkerInit, unit: "ms" }, ...inWorker, ...main };
  }
  const engine = await create(engineName);
  const { out } = await runAll(engine, n);
  await engine.close();
  if (engineName === "anax-openInWorker") {
    // The engine runs in Anax's worker; every number here crossed to it from this thread.
    out.B2_main = out.B2;
    out.B2_main_p50 = out.B2_p50;
    out.B2_main_p99 = out.B2_p99;
  }
  return out;
}

main().then(
  (results) => (window.__bench = { results }),
  (e) => (window.__bench = { error: String(e?.stack ?? e) }),
);
