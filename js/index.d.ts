/**
 * Anax: an embedded database for browsers and edge runtimes. Rows go in as plain objects or
 * Arrow IPC; results come back as Arrow IPC stream bytes (decode with apache-arrow's
 * `tableFromIPC`).
 *
 * @example
 * ```js
 * import { Anax } from "anax";
 * import { tableFromIPC } from "apache-arrow";
 *
 * const db = await Anax.open({
 *   schema: { id: "utf8", name: "utf8", score: "float64" },
 *   key: "id",
 *   storage: { kind: "memory" },
 * });
 * try {
 *   await db.put([{ id: "a", name: "Al", score: 1.5 }]);
 *   const row = await db.get("a");
 *   if (row) console.log(tableFromIPC(row).toArray());
 *   console.log(tableFromIPC(await db.scan({ start: "a", limit: 10 })).numRows);
 * } finally {
 *   await db.close();
 * }
 * ```
 */

/** A stable error code: branch on it, never on the message. */
export type ErrorCode =
  /** A malformed call (bad option, unknown column, bad IPC bytes): fix the call. */
  | "INVALID_ARGUMENT"
  /** The rows do not match the table's schema (e.g. an unknown property). */
  | "SCHEMA_MISMATCH"
  /** A row lacks (part of) its primary key. */
  | "KEY_NULL"
  /** A value has the wrong type for its column. */
  | "TYPE_MISMATCH"
  /** A concurrent commit won: re-read and retry. */
  | "CONFLICT"
  /** The object or version does not exist. */
  | "NOT_FOUND"
  /** The storage backend failed; retrying may succeed. */
  | "STORAGE"
  /** Stored data failed validation. */
  | "CORRUPT"
  /** The handle was closed. */
  | "CLOSED"
  /** A bug in Anax; please report it. */
  | "INTERNAL";

/** Every rejection from Anax is an `AnaxError`. */
export class AnaxError extends Error {
  constructor(code: ErrorCode, message: string);
  readonly name: "AnaxError";
  readonly code: ErrorCode;
}

/** All error codes, for exhaustive handling. */
export const ErrorCodes: readonly ErrorCode[];

/**
 * A column type: `bool`, `int8`..`int64`, `uint8`..`uint64`, `float32`, `float64`, `utf8`
 * (alias `string`), `large_utf8`, `binary`, `large_binary`, `fixed_size_binary[N]`, `date32`,
 * `date64`, `timestamp[s|ms|us|ns]` or `timestamp[unit, TZ]`.
 */
export type ColumnType = string;

/**
 * Columns in order. A bare type is nullable, except for key columns which are never null.
 * @example { id: "utf8", score: { type: "float64", nullable: false } }
 */
export type SchemaSpec = Record<string, ColumnType | { type: ColumnType; nullable?: boolean }>;

/** An object with the shape of a Cloudflare R2 binding (`env.MY_BUCKET`). */
export interface BucketLike {
  get(key: string, options?: { range?: { offset: number; length: number } }): Promise<unknown>;
  put(key: string, body: Uint8Array, options?: { onlyIf?: { etagMatches?: string; etagDoesNotMatch?: string } }): Promise<unknown>;
  list(options?: { prefix?: string; cursor?: string }): Promise<unknown>;
  delete(key: string): Promise<void>;
  head(key: string): Promise<unknown>;
}

/** Where the table lives. */
export type StorageOptions =
  | { kind: "memory" }
  /** A bucket binding: puts are durable in it when they resolve (one SST + one manifest write). */
  | { kind: "bucket"; bucket: BucketLike; prefix?: string }
  /** S3 or any S3-compatible store (R2's S3 API, MinIO) over fetch, SigV4-signed. */
  | {
      kind: "s3";
      bucket: string;
      prefix?: string;
      /** e.g. "http://127.0.0.1:9000"; default AWS. */
      endpoint?: string;
      /** Default "us-east-1" ("auto" for R2). */
      region?: string;
      accessKeyId: string;
      secretAccessKey: string;
      sessionToken?: string;
      /** SSE-KMS key id. */
      kmsKey?: string;
      signPayload?: boolean;
      /** Send CRC32C checksums with writes. */
      checksum?: boolean;
      versioned?: boolean;
      s3Express?: boolean;
      /** Default: true with an endpoint, false for AWS. */
      pathStyle?: boolean;
      /** Retries of 5xx/429/network failures (default 4). */
      maxRetries?: number;
    };

export interface OpenOptions {
  /** The columns, or an Arrow IPC stream whose schema is used. */
  schema: SchemaSpec | Uint8Array;
  /** The primary-key column, or columns in order for a composite key. */
  key: string | string[];
  /** Default `{ kind: "memory" }`. */
  storage?: StorageOptions;
  /** Default `"anax-default"`. */
  tableName?: string;
}

/** One key value; an array of them for a composite key. */
export type KeyPart = string | number | bigint | boolean | Uint8Array | Date;
export type Key = KeyPart | KeyPart[];

/** A row as a plain object: property names are column names; missing properties are null. */
export type Row = Record<string, KeyPart | null | undefined>;

export interface ScanOptions {
  /** Lower bound; a partial composite key bounds by prefix. */
  start?: Key;
  /** Upper bound; a partial composite key bounds by prefix. */
  end?: Key;
  /** Default `true`. */
  startInclusive?: boolean;
  /** Default `false`. */
  endInclusive?: boolean;
  /** Only keys whose leading key columns equal these values. */
  prefix?: Key;
  /** Columns to return, in this order. Default: all. */
  projection?: string[];
  /** At most this many rows. */
  limit?: number;
  /** Descending key order. Default `false`. */
  reverse?: boolean;
  /** Rows must satisfy this, judged on each key's newest visible version. */
  filter?: Filter;
}

/** A scalar a filter compares with. */
export type FilterValue = string | number | bigint | boolean | null | Uint8Array | Date;

/** A row filter as plain JSON: exactly one operator per object. */
export type Filter =
  | { and: Filter[] }
  | { or: Filter[] }
  | { not: Filter }
  | { eq: [column: string, value: FilterValue] }
  | { ne: [column: string, value: FilterValue] }
  | { lt: [column: string, value: FilterValue] }
  | { le: [column: string, value: FilterValue] }
  | { gt: [column: string, value: FilterValue] }
  | { ge: [column: string, value: FilterValue] }
  | { between: [column: string, low: FilterValue, high: FilterValue] }
  | { in: [column: string, values: FilterValue[]] }
  | { startsWith: [column: string, prefix: string | Uint8Array] }
  | { isNull: string }
  | { isNotNull: string };

/** A running scan (see `Db.scanCursor`). */
export class ScanCursor {
  private constructor();
  /** The next batch (at most 8,192 rows) as a complete Arrow IPC stream, or `null` at the end. */
  next(): Promise<Uint8Array | null>;
  /** The next batch as plain row objects, or `null` at the end. */
  nextRows(): Promise<Record<string, unknown>[] | null>;
  /** Releases the cursor early. */
  free(): void;
}

/** An open table. */
export class Db {
  private constructor();
  /**
   * Upserts rows in one commit (the last row wins when a key repeats) and resolves to the commit
   * timestamp.
   * @example await db.put([{ id: "a", score: 1 }]);
   * @example await db.put(tableToIPC(arrowTable, "stream"));
   */
  put(rows: Row[] | Uint8Array): Promise<number>;
  /** Deletes the row with this key; resolves to the commit timestamp. */
  delete(key: Key): Promise<number>;
  /** The row with this key as an Arrow IPC stream, or `null`. */
  get(key: Key): Promise<Uint8Array | null>;
  /** The selected rows as one Arrow IPC stream, in key order. */
  scan(options?: ScanOptions): Promise<Uint8Array>;
  /** A cursor over the selected rows; validates the options before resolving. */
  scanCursor(options?: ScanOptions): Promise<ScanCursor>;
  /** The selected rows as Arrow IPC streams of at most 8,192 rows each (bounded memory). */
  scanBatches(options?: ScanOptions): AsyncIterableIterator<Uint8Array>;
  /** Seals the memtable and writes it to an SST now. */
  flush(): Promise<void>;
  /** Merges the table's SSTs into one. */
  compact(): Promise<{ inputs: number; rowsIn: number; rowsOut: number; bytesOut: number }>;
  /** Deletes expired history, dropped and orphaned files and old WAL segments. */
  gc(): Promise<{ sstsDeleted: number; orphansDeleted: number; walSegmentsDeleted: number; archivesDeleted: number; historyFloor: number }>;
  /** Re-reads the manifest (one request) so other writers' commits become visible. */
  refresh(): Promise<boolean>;
  /** Where the rows are, and the storage requests this handle made so far. */
  stats(): DbStats;
  /** Closes the handle; later calls reject with `CLOSED`. Idempotent. */
  close(): Promise<void>;
}

export interface RequestCounts {
  get: number;
  getRange: number;
  put: number;
  putConditional: number;
  list: number;
  delete: number;
  head: number;
  append: number;
  sync: number;
  total: number;
}

export interface DbStats {
  /** Size of the module's linear memory (it only grows): Anax's share of an isolate's limit. */
  wasmMemoryBytes: number;
  manifestVersion: number;
  lastTs: number;
  memtableRows: number;
  sstRows: number;
  sstBytes: number;
  levels: { level: number; files: number; bytes: number }[];
  requests: RequestCounts;
}

export const Anax: {
  /** Opens (or creates) a table. */
  open(options: OpenOptions): Promise<Db>;
  /**
   * Runs Anax's storage conformance suite (ranged reads, listing, deletes, create-if-absent
   * and compare-and-swap races between two clients) under a scratch prefix it cleans up.
   * Resolves to the number of cases passed; rejects with the first broken expectation.
   */
  checkStorage(storage: StorageOptions): Promise<number>;
};

/**
 * Loads the wasm module ahead of the first `Anax.open` (browser entry). Pass a URL, Response,
 * bytes or `WebAssembly.Module` when the .wasm is hosted elsewhere than next to the package.
 */
export function initialize(
  source?: string | URL | Response | BufferSource | WebAssembly.Module,
): Promise<unknown>;
