// Cloudflare Workers (workerd) entry: Workers forbid compiling wasm at run time, so the .wasm is
// imported as a module (the bundler or Miniflare turns it into a WebAssembly.Module) and
// instantiated synchronously when this module loads.
import wasmModule from "../pkg/anax_bg.wasm";
import { initSync, Anax as RawAnax, Db, Snapshot, Transaction, ScanCursor } from "../pkg/anax.js";
import { makeAnax } from "./api.js";

initSync({ module: wasmModule });

export { AnaxError, ErrorCodes, filter } from "./api.js";
export { Db, Snapshot, Transaction, ScanCursor };
export const initialize = () => Promise.resolve();
export const Anax = makeAnax(() => Promise.resolve(), RawAnax, { Db, Snapshot, Transaction, ScanCursor });
