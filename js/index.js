// Browser (and bundler) entry: fetches and instantiates the wasm next to this package on first
// use, or from `initialize(urlOrModule)` when the app hosts the .wasm elsewhere.
import init, { Anax as RawAnax, Db, Snapshot, Transaction, ScanCursor } from "../pkg/anax.js";
import { makeAnax } from "./api.js";
import { openInWorker } from "./remote.js";
// The modules the ones above import, named here too so a browser fetches them all in one
// round trip instead of discovering them a level later (one network round trip less on a
// cold start).
import "./error.js";
import "./filter.js";
import "./pack.js";
import "./tasks.js";

export { AnaxError, ErrorCodes, filter } from "./api.js";
export { Db };

let loading;

/** Loads the wasm module once; optional `source` is a URL, Response, bytes or a compiled Module. */
export function initialize(source) {
  loading ??= init(source === undefined ? undefined : { module_or_path: source });
  return loading;
}

export const Anax = makeAnax(() => initialize(), RawAnax, { Db, Snapshot, Transaction, ScanCursor }, { openInWorker });
