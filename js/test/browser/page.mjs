// Runs the suite on the page's main thread, through Anax.openInWorker, or in a dedicated worker
// (mode=worker); publishes the results as window.__results for the runner, and the name of the
// case running as window.__running (so a runner that times out can say which case hung).
// The shipped browser entry (the one-file build); worker.mjs loads the sources.
import { Anax, AnaxError, filter, initialize } from "../../../pkg/anax.browser.js";
import { run } from "../../../target/js-test/suite.mjs";
import { storagesFor, trapCodes } from "./env.mjs";

const params = new URLSearchParams(location.search);
const mode = params.get("mode");

async function main() {
  if (mode === "worker" || mode === "worker-trap" || mode === "worker-trap-async") {
    const worker = new Worker(new URL(`./worker.mjs?${params}`, import.meta.url), { type: "module" });
    return new Promise((resolve) => {
      // The worker posts { running: name } before each case, then the results (an array).
      worker.onmessage = (e) => (Array.isArray(e.data) ? resolve(e.data) : (window.__running = e.data?.running));
      worker.onerror = (e) => resolve([{ name: "worker", ok: false, error: `${window.__running ?? "before any case"}: ${e.message}` }]);
    });
  }
  if (mode === "trap" || mode === "trap-async") {
    const db = await Anax.open({ schema: { id: "utf8" }, key: "id" });
    return trapCodes(() => Anax[Symbol.for("anax.trapForTests")](mode === "trap" ? "sync" : "async"), db);
  }
  if (mode === "openInWorker-trap") {
    const db = await Anax.openInWorker({ schema: { id: "utf8" }, key: "id" });
    return trapCodes(() => db[Symbol.for("anax.trapForTests")]("sync"), db);
  }
  const remote = mode === "openInWorker";
  const env = {
    Anax,
    AnaxError,
    filter,
    initialize,
    placement: remote ? "openInWorker" : "main",
    // Through openInWorker with the files named explicitly (as a bundler that moves them
    // would): the worker script as a URL, the wasm as a string.
    open: (o) =>
      remote
        ? Anax.openInWorker(o, {
            workerUrl: new URL("../../../pkg/anax.worker.js", import.meta.url),
            wasmUrl: new URL("../../../pkg/anax_bg.wasm", import.meta.url).href,
          })
        : Anax.open(o),
    // OPFS from the main thread works through createWritable; through openInWorker it runs
    // with sync access handles in the worker.
    storages: storagesFor(params, { opfs: true }),
  };
  return run(env, params.get("only"), (name) => (window.__running = name));
}

main().then(
  (r) => (window.__results = r),
  (e) => (window.__results = [{ name: "page", ok: false, error: `${window.__running ?? "before any case"}: ${e?.stack ?? e}` }]),
);
