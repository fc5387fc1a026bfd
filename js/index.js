// Browser (and bundler) entry: fetches and instantiates the wasm next to this package on first
// use, or from `initialize(urlOrModule)` when the app hosts the .wasm elsewhere. The package's
// `browser` entry is this file built into one module (pkg/anax.browser.js, by
// scripts/build-wasm.sh), so a page without a bundler fetches one file instead of eight.
import init, { Anax as RawAnax, Db, Snapshot, Transaction, ScanCursor } from "../pkg/anax.js";
import { makeAnax } from "./api.js";
import { openInWorker } from "./remote.js";

export { AnaxError, ErrorCodes, filter } from "./api.js";
export { Db, Snapshot, Transaction, ScanCursor };

let loading;

/** Loads the wasm module once; optional `source` is a URL, Response, bytes or a compiled Module. */
export function initialize(source) {
  // Named from this file, so the URL holds in js/index.js and in the one-file build
  // (pkg/anax.browser.js) alike.
  loading ??= init({ module_or_path: source ?? new URL("../pkg/anax_bg.wasm", import.meta.url) });
  return loading;
}

export const Anax = makeAnax(() => initialize(), RawAnax, { Db, Snapshot, Transaction, ScanCursor }, { openInWorker });
