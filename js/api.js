// The public surface shared by every entry point (browser, Workers, Node). Each entry point
// only differs in how it instantiates the wasm module; `ready` resolves once that is done.

export { AnaxError, ErrorCodes } from "./error.js";

// Methods written in JS on top of the wasm class (async iteration has no wasm-bindgen form).
function extendDb(Db) {
  if (!Db || Db.prototype.scanBatches) return;
  /** Async iterator of Arrow IPC streams of at most 8,192 rows each; bounded memory. */
  Db.prototype.scanBatches = async function* scanBatches(options) {
    const cursor = await this.scanCursor(options);
    try {
      for (;;) {
        const chunk = await cursor.next();
        if (chunk === null) return;
        yield chunk;
      }
    } finally {
      cursor.free?.();
    }
  };
}

export function makeAnax(ready, Raw, Db) {
  extendDb(Db);
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
