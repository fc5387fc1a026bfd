// The suite inside a dedicated worker (OPFS sync access handles available here). Posts
// { running: name } before each case, then the results (an array) or the trap codes.
import { Anax, AnaxError, filter, initialize } from "../../index.js";
import { run } from "../../../target/js-test/suite.mjs";
import { storagesFor, trapCodes } from "./env.mjs";

const params = new URLSearchParams(location.search);
const mode = params.get("mode");
let running;

async function main() {
  if (mode === "worker-trap" || mode === "worker-trap-async") {
    const db = await Anax.open({ schema: { id: "utf8" }, key: "id" });
    return trapCodes(() => Anax[Symbol.for("anax.trapForTests")](mode === "worker-trap" ? "sync" : "async"), db);
  }
  const env = { Anax, AnaxError, filter, initialize, placement: "worker", open: (o) => Anax.open(o), storages: storagesFor(params, { opfs: true }) };
  return run(env, params.get("only"), (name) => {
    running = name;
    postMessage({ running: name });
  });
}

main().then(
  (r) => postMessage(r),
  (e) => postMessage([{ name: "worker", ok: false, error: `${running ?? "before any case"}: ${e?.stack ?? e}` }]),
);
