// Node.js entry: reads the .wasm from the package and instantiates it synchronously.
import { readFileSync } from "node:fs";
import { initSync, Anax as RawAnax, Db, Snapshot, Transaction, ScanCursor } from "../pkg/anax.js";
import { makeAnax } from "./api.js";
import { dirFs } from "./dir.js";

initSync({ module: readFileSync(new URL("../pkg/anax_bg.wasm", import.meta.url)) });

export { AnaxError, ErrorCodes, filter } from "./api.js";
export { Db, Snapshot, Transaction, ScanCursor };
export const initialize = () => Promise.resolve();
/** A `dir` storage gets its file system, under a symbol key the option checks do not see. */
function withStorage(storage) {
  if (storage === null || typeof storage !== "object" || storage.kind !== "dir") return undefined;
  if (typeof storage.path !== "string" || storage.path === "") return undefined;
  return { ...storage, [Symbol.for("anax.dirFs")]: dirFs(storage.path) };
}

export const Anax = makeAnax(() => Promise.resolve(), RawAnax, { Db, Snapshot, Transaction, ScanCursor }, { withStorage });
