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
// Where this thread's wasm comes from: named from this file, so the URL holds in js/index.js
// and in the one-file build (pkg/anax.browser.js) alike, and written as the literal
// `new URL("...", import.meta.url)` that bundlers (Vite, webpack 5, Parcel) rewrite to where
// they put the file.
let wasmSource = new URL("../pkg/anax_bg.wasm", import.meta.url);

/** Loads the wasm module once; optional `source` is a URL, Response, bytes or a compiled Module. */
export function initialize(source) {
  if (!loading && (typeof source === "string" || source instanceof URL)) wasmSource = new URL(source, globalThis.location?.href);
  loading ??= init({ module_or_path: source ?? wasmSource });
  return loading;
}

export const Anax = makeAnax(() => initialize(), RawAnax, { Db, Snapshot, Transaction, ScanCursor }, {
  openInWorker: (options, where) => openInWorker(options, where, wasmSource),
});
