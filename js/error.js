// AnaxError: every rejection from Anax is one. The wasm side throws plain Errors named
// "AnaxError" with a stable `code`; `instanceof AnaxError` recognises them without re-wrapping.

/** Stable error codes; see index.d.ts for what each asks of the caller. */
export const ErrorCodes = Object.freeze([
  "INVALID_ARGUMENT",
  "SCHEMA_MISMATCH",
  "KEY_NULL",
  "TYPE_MISMATCH",
  "CONFLICT",
  "NOT_FOUND",
  "STORAGE",
  "CORRUPT",
  "CLOSED",
  "BUSY",
  "ABORTED",
  "INTERNAL",
]);

export class AnaxError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = "AnaxError";
    this.code = code;
  }

  static [Symbol.hasInstance](value) {
    return (
      value instanceof Error &&
      value.name === "AnaxError" &&
      typeof value.code === "string"
    );
  }
}
