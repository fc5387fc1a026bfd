// The public surface shared by every entry point (browser, Workers, Node). Each entry point
// only differs in how it instantiates the wasm module; `ready` resolves once that is done.

export { AnaxError, ErrorCodes } from "./error.js";

export function makeAnax(ready, Raw) {
  return Object.freeze({
    /** Opens a table; see index.d.ts for the options. */
    async open(options) {
      await ready();
      return Raw.open(options);
    },
    /** Checks a storage backend against Anax's contract; see index.d.ts. */
    async checkStorage(storage) {
      await ready();
      return Raw.checkStorage(storage);
    },
  });
}
