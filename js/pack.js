// The fast path of `put(rows)`: row objects whose cells are all scalars (null/undefined,
// boolean, number, string) are packed here into one byte buffer, so the rows cross into wasm
// in one call instead of several per cell. Anything else (a bigint, Uint8Array, Date, array
// or object cell, a property that is not a column, a row that is not a plain object) returns
// null and the rows take the general path, which owns every error message. The format is
// read by `RowsBuilder::push_packed` (src/rows.rs): u32 column count, u32 row count, then per
// cell a tag: 0 null, 1 false, 2 true, 3 f64, 4 string (u32 UTF-8 length, bytes).
//
// Cells are read with `row[column]` as the general path reads them (getters run); when a
// batch falls back after packing began, the rows it read are read again by the general path.

// The same bound as the general path (CELL_BUDGET in src/wasm/rows_in.rs).
const CELL_BUDGET = 16_000_000;
const encoder = new TextEncoder();

// One scratch buffer, reused: a put packs into it and wasm copies it out during the call.
// It never grows past MAX_BYTES (larger batches take the general path) and shrinks back
// after a batch that needed more than KEEP_BYTES.
const KEEP_BYTES = 1 << 20;
const MAX_BYTES = 64 << 20;
let buf = new Uint8Array(1 << 16);
let view = new DataView(buf.buffer);
// Set while packing: a getter that puts into a table while its row is being packed gets the
// general path instead of the buffer in use.
let busy = false;

/** Grows the buffer to hold `more` bytes after `used`; false past MAX_BYTES. */
function reserve(used, more) {
  if (used + more <= buf.length) return true;
  if (used + more > MAX_BYTES) return false;
  let size = buf.length * 2;
  while (size < used + more) size *= 2;
  const next = new Uint8Array(Math.min(size, MAX_BYTES));
  next.set(buf.subarray(0, used));
  buf = next;
  view = new DataView(buf.buffer);
  return true;
}

function isPlainRow(row) {
  return typeof row === "object" && row !== null && !Array.isArray(row) && !(row instanceof Uint8Array);
}

/**
 * Packs `rows` and hands the bytes to `send` (which must copy them before returning: wasm
 * does), returning what `send` returns; or returns `undefined` without calling it when the
 * rows need the general path. Exceptions from the rows' own code (getters, proxies) propagate.
 */
export function withPackedRows(rows, columns, send) {
  if (busy) return undefined;
  busy = true;
  try {
    const len = packInto(rows, columns);
    return len === null ? undefined : send(buf.subarray(0, len));
  } finally {
    busy = false;
    if (buf.length > KEEP_BYTES) {
      buf = new Uint8Array(1 << 16);
      view = new DataView(buf.buffer);
    }
  }
}

/** Packs into the scratch buffer; the byte length, or null for the general path. */
function packInto(rows, columns) {
  const count = rows.length;
  const n = columns.length;
  if (count * n > CELL_BUDGET) return null;
  const known = new Set(columns);
  let at = 8;
  for (let r = 0; r < count; r++) {
    const row = rows[r];
    if (!isPlainRow(row)) return null;
    const keys = Object.keys(row);
    for (let k = 0; k < keys.length; k++) if (!known.has(keys[k])) return null;
    for (let c = 0; c < n; c++) {
      const v = row[columns[c]];
      switch (typeof v) {
        case "undefined":
          if (!reserve(at, 1)) return null;
          buf[at++] = 0;
          break;
        case "boolean":
          if (!reserve(at, 1)) return null;
          buf[at++] = v ? 2 : 1;
          break;
        case "number":
          if (!reserve(at, 9)) return null;
          buf[at] = 3;
          view.setFloat64(at + 1, v, true);
          at += 9;
          break;
        case "string": {
          // ASCII byte by byte (one byte per UTF-16 unit); from the first other character on,
          // the encoder (at most 3 bytes per unit). Not the encoder for every string: a call
          // to it costs more than the loop in Chromium (B1 -38% there, though +17% in Node).
          if (!reserve(at, 5 + v.length)) return null;
          buf[at] = 4;
          const start = at + 5;
          let i = 0;
          for (; i < v.length; i++) {
            const code = v.charCodeAt(i);
            if (code > 0x7f) break;
            buf[start + i] = code;
          }
          let len = i;
          if (i < v.length) {
            // A lone surrogate would be encoded as U+FFFD (two keys becoming one): such strings
            // take the general path, which refuses them with INVALID_ARGUMENT.
            if (typeof v.isWellFormed !== "function" || !v.isWellFormed()) return null;
            if (!reserve(start + i, 3 * (v.length - i))) return null;
            len += encoder.encodeInto(v.slice(i), buf.subarray(start + i)).written;
          }
          view.setUint32(at + 1, len, true);
          at = start + len;
          break;
        }
        case "object":
          if (v !== null) return null;
          if (!reserve(at, 1)) return null;
          buf[at++] = 0;
          break;
        default:
          return null;
      }
    }
  }
  view.setUint32(0, n, true);
  view.setUint32(4, count, true);
  return at;
}
