// Node.js entry: reads the .wasm from the package and instantiates it synchronously.
import { readFileSync } from "node:fs";
import { initSync, Anax as RawAnax, Db, Snapshot, Transaction, ScanCursor } from "../pkg/anax.js";
import { makeAnax } from "./api.js";

initSync({ module: readFileSync(new URL("../pkg/anax_bg.wasm", import.meta.url)) });

export { AnaxError, ErrorCodes, filter } from "./api.js";
export { Db, Snapshot, Transaction, ScanCursor };
export const initialize = () => Promise.resolve();
export const Anax = makeAnax(() => Promise.resolve(), RawAnax, { Db, Snapshot, Transaction, ScanCursor });
