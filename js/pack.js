// The fast path of `put(rows)`: row objects whose cells are all scalars (null/undefined,
// boolean, number, string) are packed here into one byte buffer, so the rows cross into wasm
// in one call instead of several per cell. Anything else (a bigint, Uint8Array, Date, array
// or object cell, a property that is not a column, a row that is not a plain object) returns
// null and the rows take the general path, which owns every error message. The format is
// read by `RowsBuilder::push_packed` (src/rows.rs): u32 column count, u32 row count, then per
// cell a tag: 0 null, 1 false, 2 true, 3 f64, 4 string (u32 UTF-8 length, bytes).

// The same bound as the general path (CELL_BUDGET in src/wasm/convert.rs).
const CELL_BUDGET = 16_000_000;
const encoder = new TextEncoder();

let buf = new Uint8Array(1 << 16);
let view = new DataView(buf.buffer);

function reserve(used, more) {
  if (used + more <= buf.length) return;
  let size = buf.length * 2;
  while (size < used + more) size *= 2;
  const next = new Uint8Array(size);
  next.set(buf.subarray(0, used));
  buf = next;
  view = new DataView(buf.buffer);
}

function isPlainRow(row) {
  return typeof row === "object" && row !== null && !Array.isArray(row) && !(row instanceof Uint8Array);
}

/** The rows packed for `putPacked`, or null when they need the general path. */
export function packRows(rows, columns) {
  const n = columns.length;
  if (rows.length * n > CELL_BUDGET) return null;
  const known = new Set(columns);
  let at = 8;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    if (!isPlainRow(row)) return null;
    const keys = Object.keys(row);
    for (let k = 0; k < keys.length; k++) if (!known.has(keys[k])) return null;
    for (let c = 0; c < n; c++) {
      const v = row[columns[c]];
      switch (typeof v) {
        case "undefined":
          reserve(at, 1);
          buf[at++] = 0;
          break;
        case "boolean":
          reserve(at, 1);
          buf[at++] = v ? 2 : 1;
          break;
        case "number":
          reserve(at, 9);
          buf[at] = 3;
          view.setFloat64(at + 1, v, true);
          at += 9;
          break;
        case "string": {
          // At most 3 UTF-8 bytes per UTF-16 unit.
          reserve(at, 5 + 3 * v.length);
          buf[at] = 4;
          const start = at + 5;
          let i = 0;
          // ASCII byte by byte (short strings); the rest through the encoder.
          for (; i < v.length; i++) {
            const code = v.charCodeAt(i);
            if (code > 0x7f) break;
            buf[start + i] = code;
          }
          let len = i;
          if (i < v.length) len += encoder.encodeInto(v.slice(i), buf.subarray(start + i)).written;
          view.setUint32(at + 1, len, true);
          at = start + len;
          break;
        }
        case "object":
          if (v !== null) return null;
          reserve(at, 1);
          buf[at++] = 0;
          break;
        default:
          return null;
      }
    }
  }
  view.setUint32(0, n, true);
  view.setUint32(4, rows.length, true);
  // A copy: the scratch buffer is reused by the next put.
  return buf.slice(0, at);
}
