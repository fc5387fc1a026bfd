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

/// <reference lib="esnext.disposable" />

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
  /** The table could not take the write in time (L0 stayed full, nothing compacted it): nothing was written; retry later. */
  | "BUSY"
  /** The call's `AbortSignal` fired; `cause` is the signal's reason. */
  | "ABORTED"
  /** A bug in Anax; please report it. */
  | "INTERNAL";

/** Every rejection from Anax is an `AnaxError`. */
export class AnaxError extends Error {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown });
  readonly name: "AnaxError";
  readonly code: ErrorCode;
  /** `STORAGE` errors: whether the same call may pass if tried again (a 5xx, 429 or 408, a
   * request with no answer, a bucket binding that threw). */
  readonly retryable?: boolean;
  /** `STORAGE` errors from HTTP backends that got an answer: its status. */
  readonly status?: number;
  /** `STORAGE` errors: the storage call that failed (`get`, `get_range`, `get_object`, `put`,
   * `list`, `delete`, `head`, `append`, `sync`). */
  readonly operation?: string;
  /** `STORAGE` errors: the object (or listed prefix) within the table. */
  readonly path?: string;
  /**
   * `STORAGE` errors: the backend's own name for the failure, when it gave one: S3's error
   * `Code` (`AccessDenied`, `SlowDown`, `NoSuchBucket`), a file system errno of `dir` storage
   * (`ENOSPC`, `EACCES`), a JS exception's name (`QuotaExceededError`, `TypeError`).
   */
  readonly backendCode?: string;
  /**
   * The exception behind the failure: what a bucket binding, OPFS, `fetch` or Node's file
   * system threw (`STORAGE`), or an `AbortSignal`'s reason (`ABORTED`).
   */
  readonly cause?: unknown;
}

/** All error codes, for exhaustive handling. */
export const ErrorCodes: readonly ErrorCode[];

/**
 * A column type: `bool` (alias `boolean`), `int8`..`int64`, `uint8`..`uint64`, `float32`, `float64` (alias `double`), `utf8`
 * (alias `string`), `large_utf8`, `binary`, `large_binary`, `fixed_size_binary[N]`, `date32`,
 * `date64`, `timestamp[s|ms|us|ns]` or `timestamp[unit, TZ]`.
 */
export type ColumnType = string;

/**
 * One column: a type name, or an object for nullability and nested types. Lists and structs
 * are allowed in value columns (not in the key).
 * @example "float64"
 * @example { type: "utf8", nullable: false }
 * @example { type: "list", items: "utf8" }
 * @example { type: "struct", fields: { x: "float64", y: { type: "float64", nullable: true } } }
 */
export type ColumnSpec =
  | ColumnType
  | { type: ColumnType; nullable?: boolean }
  | { type: "list" | "largeList"; items: ColumnSpec; nullable?: boolean }
  | { type: "struct"; fields: { [name: string]: ColumnSpec }; nullable?: boolean };

/**
 * Columns in order. A bare type is nullable, except for key columns which are never null
 * (declaring a key column `nullable: true` is `INVALID_ARGUMENT`). Unknown properties in a
 * column's object are rejected.
 * @example { id: "utf8", score: { type: "float64", nullable: false } }
 */
export type SchemaSpec = Record<string, ColumnSpec>;

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
  /**
   * A directory in the origin private file system (browser). One writer per database: a
   * second opener gets `CONFLICT` at once, or after waiting up to `lockWaitMs` (default 0,
   * at most 3,600,000) for the holder to close (a reloaded page racing its old worker).
   */
  | { kind: "opfs"; path: string; lockWaitMs?: number }
  /**
   * A directory of the local file system (Node only; created when absent). Puts are in the
   * WAL, fsynced, when they resolve. One writer per directory: a second handle or process
   * gets `CONFLICT` naming the holder; a lock left by a process that died is broken.
   */
  | { kind: "dir"; path: string }
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

/** When the mutable memtable seals (default `{ bytes: 8 MiB }`). Exactly one field. */
export type SealPolicy =
  | "never"
  | { batches: number }
  | { rows: number }
  | { bytes: number }
  | { ageMs: number };

/** Write-ahead log settings (durability `"wal"`). */
export interface WalOptions {
  /** When appended frames are synced (default `"always"`: before a put resolves). */
  syncPolicy?: "always" | "disabled" | { intervalBytes: number } | { intervalMs: number };
  /** Start a new segment at this size (default 16 MiB). */
  segmentBytes?: number;
  /** Start a new segment at this age (default: none). */
  segmentMaxAgeMs?: number;
  /** Group-commit window (default 0: write at once). */
  flushIntervalMs?: number;
  /** Bytes of flushed segments GC keeps anyway (default 0). */
  retentionBytes?: number;
  /** Commits sharing one log write at most (default 1,024). */
  queueSize?: number;
  /** What replay does with a bad frame (default `"truncateTail"`). */
  recovery?: "truncateTail" | "strict";
  /** Segment directory under the table (default `"wal"`). */
  dir?: string;
}

/** How major compaction picks its inputs (default `"leveled"`). */
export type CompactionStrategy =
  | "leveled"
  | "tiered"
  | "timeWindow"
  /** Defaults: l0Trigger 4 files, l1TargetBytes 64 MiB, sizeRatio 10, maxLevel 6. */
  | { kind: "leveled"; l0Trigger?: number; l1TargetBytes?: number; sizeRatio?: number; maxLevel?: number }
  /** Defaults: minMerge 4, maxMerge 32, sizeRatio 2. */
  | { kind: "tiered"; minMerge?: number; maxMerge?: number; sizeRatio?: number }
  /** Defaults: windowMs one hour, minMerge 4. */
  | { kind: "timeWindow"; windowMs?: number; minMerge?: number };

/** Major compaction settings; absent fields keep the defaults. */
export interface CompactionOptions {
  strategy?: CompactionStrategy;
  /** Jobs one handle runs at once (default 1). */
  maxConcurrentJobs?: number;
  /** Triggers that may wait for a busy slot; more are dropped (default 1). */
  queueCapacity?: number;
  /** Cut output files at this many rows (default: no limit). */
  maxOutputRows?: number;
  /** Cut output files at about this many bytes (default 64 MiB). */
  maxOutputBytes?: number;
  /** Also check the strategy when this many ms passed, on the next operation (default: never). */
  periodicTickMs?: number;
  /**
   * Slow down (slowdownFiles 16, +25 ms per ingest) and stall (stopFiles 32, re-check every
   * 200 ms) ingest while L0 is too full; `false` disables it.
   */
  l0Backpressure?:
    | false
    | {
        slowdownFiles?: number;
        slowdownDelayMs?: number;
        stopFiles?: number;
        stopRecheckMs?: number;
        slowdownBytes?: number;
        stopBytes?: number;
        /** Longest a stalled write waits before rejecting with `BUSY` (default 60,000 ms). */
        stopTimeoutMs?: number;
      };
  /** Follow-up jobs per trigger (default 1) and their cooldown (default 500 ms). */
  cascade?: { maxFollowUps?: number; cooldownMs?: number };
  /** Run jobs after flushes and commits (default true); false leaves them to `compactPending`. */
  automatic?: boolean;
  /** Run automatic jobs as tasks on the event loop instead of on the triggering call (default false; in a Worker, pass `db.idle()` to `ctx.waitUntil`). */
  background?: boolean;
}

/** What a long call reports to its `onProgress`: `done` of `total` units of `phase`. */
export interface Progress {
  /**
   * `"replay"`: WAL segments replayed by an open; `"compact"`: versions merged (the total
   * counts the inputs' versions); `"gc"`: the pass's seven steps.
   */
  phase: "replay" | "compact" | "gc";
  done: number;
  total: number;
}

/** Options of the long calls (`Anax.open`, `compact`, `gc`). */
export interface LongCallOptions {
  /**
   * Stops the call at its next check (between WAL segments, row groups of a merge, GC's
   * deletions) and rejects it with `ABORTED`, the signal's reason as `cause`. A stopped
   * compaction publishes nothing and deletes what it wrote; a stopped GC leaves the rest to the
   * next pass; a stopped open releases what it took. No acknowledged write is lost.
   */
  signal?: AbortSignal;
  /** Called with each progress report, at most once per row group, segment or step. What it throws is ignored. */
  onProgress?: (progress: Progress) => void;
}

export interface OpenOptions extends LongCallOptions {
  /** The columns, or an Arrow IPC stream whose schema is used (key columns become non-null). */
  schema: SchemaSpec | Uint8Array;
  /** The primary-key column, or columns in order for a composite key. */
  key: string | string[];
  /** Default `{ kind: "memory" }`. */
  storage?: StorageOptions;
  /** Default `"anax-default"`. */
  tableName?: string;
  /**
   * How puts become durable. Default: `"sealEveryBatch"` on bucket and S3 storage (a put is
   * one SST + one manifest commit), `"wal"` on OPFS and `dir`, `"volatile"` in memory.
   */
  durability?: "wal" | "sealEveryBatch" | "volatile";
  /** When the memtable seals (default 8 MiB). */
  seal?: SealPolicy;
  /**
   * Flush sealed memtables once `segmentThreshold` (default 4) wait, into `targetLevel` (default 0); `false`: only `flush()` does.
   * A memtable sealed early because writes paused (8,192 rows or more, merged with the others into one sorted run for fast
   * scans) counts for its share of the seal policy.
   */
  minorCompaction?: false | { segmentThreshold?: number; targetLevel?: number };
  /** WAL settings; selects durability `"wal"`. */
  wal?: WalOptions;
  /** Manifest compare-and-swap retry backoff (default 50 ms doubling to 1 s, 16 attempts). */
  casBackoff?: { baseMs?: number; maxMs?: number; maxAttempts?: number };
  /**
   * History kept for time travel (default: 16 versions, one hour). `graceMs` (default 10
   * minutes): keep it above the longest time any writer of the prefix takes from writing an SST
   * to committing it, since GC condemns unreferenced files older than that (a later commit of
   * one fails `CONFLICT`). `dropGraceMs` (default 0): how long files a compaction dropped stay
   * before GC deletes them; readers elsewhere that still read one move to the newest head at
   * their own timestamp, so only readers that cannot (builds before 0.5) need more.
   */
  retention?: { minVersions?: number; maxAgeMs?: number; graceMs?: number; dropGraceMs?: number };
  /**
   * When a commit resolves: `"strict"` (default) once durable; `"fast"` once applied in memory,
   * made durable by the next strict commit, `flush()`, `sync()` or `close()`.
   */
  commitAckMode?: "strict" | "fast";
  compaction?: CompactionOptions;
  /**
   * Whether the SSTs this handle writes carry point-read blocks: a `get` then reads one small
   * range per file instead of one per column, for about twice the bytes per SST. Default: on
   * with `durability: "sealEveryBatch"` (bucket and S3 storage), off otherwise.
   */
  pointReadBlocks?: boolean;
  /**
   * Bytes of decoded point-read blocks kept in memory for the whole wasm instance (a tab, a
   * worker, a Workers isolate), least recently used first out: a `get` whose block is cached
   * reads no storage (a strict read still checks the manifest). Shared by every handle of the
   * instance, so the last `open` that sets it decides. Default 8 MiB (8388608); 0 turns it off.
   */
  blockCacheBytes?: number;
  /**
   * Whether this handle keeps the tail pack: its compactions store the tails (footer, page
   * index, bloom filters) of large SSTs in one object that an open fetches beside the manifest
   * head, so a fresh handle's first `get` costs two round trips instead of three. Default: on
   * with `durability: "sealEveryBatch"` (bucket and S3 storage), off otherwise.
   */
  tailPack?: boolean;
}

/** One key value; an array of them for a composite key. */
export type KeyPart = string | number | bigint | boolean | Uint8Array | Date;
export type Key = KeyPart | KeyPart[];

/** A cell value: scalars, arrays for list columns, objects for struct columns. */
export type CellValue = KeyPart | null | undefined | CellValue[] | { [field: string]: CellValue };

/** A row as a plain object: property names are column names; missing properties are null. */
export type Row = Record<string, CellValue>;

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
  /**
   * The next piece of one Arrow IPC stream over the whole scan, or `null` after its end: the
   * schema first, then a batch per piece, then the end-of-stream marker (what `scanStream`
   * is made of). A cursor is read one way: mixing it with `next`/`nextRows` is refused.
   */
  nextPart(): Promise<Uint8Array | null>;
  /** Releases the cursor early. */
  free(): void;
}

/** Rows to write: plain objects, or Arrow IPC bytes in the stream or the file format (e.g. apache-arrow's `tableToIPC(t)` or `tableToIPC(t, "file")`). */
export type Rows = Row[] | Uint8Array | ArrayBuffer;

/** A streaming read's options: a scan's, and a signal that stops it (rejecting with `ABORTED`). */
export interface StreamOptions extends ScanOptions {
  signal?: AbortSignal;
}

/** What every readable view offers: a database, a snapshot, a transaction. */
export interface Readable {
  /** The row with this key as an Arrow IPC stream, or `null`. */
  get(key: Key): Promise<Uint8Array | null>;
  /** The row with this key as a plain object (as `ScanCursor.nextRows` makes them), or `null`. */
  getRow(key: Key): Promise<Record<string, unknown> | null>;
  /** The selected rows as one Arrow IPC stream, in key order. */
  scan(options?: ScanOptions): Promise<Uint8Array>;
  /** A cursor over the selected rows; validates the options before resolving. */
  scanCursor(options?: ScanOptions): Promise<ScanCursor>;
  /** The selected rows as Arrow IPC streams of at most 8,192 rows each (bounded memory). */
  scanBatches(options?: StreamOptions): AsyncIterableIterator<Uint8Array>;
  /** The selected rows one plain object at a time, in key order (read a batch ahead). */
  scanRows(options?: StreamOptions): AsyncIterableIterator<Record<string, unknown>>;
  /**
   * The selected rows as one Arrow IPC stream in a `ReadableStream`, pulled a batch at a time
   * (bounded memory): a `Response` body as it is, or input for apache-arrow's
   * `RecordBatchReader.from`. Resolves once the options are checked, so a bad option rejects
   * here rather than breaking a response already sent. Cancelling the stream, or firing
   * `signal`, frees the scan.
   * @example return new Response(await db.scanStream({ limit: 1000 }), { headers: { "content-type": "application/vnd.apache.arrow.stream" } });
   */
  scanStream(options?: StreamOptions): Promise<ReadableStream<Uint8Array>>;
  /**
   * How many rows `scan(options)` would return, without returning them: only the key columns
   * (and a filter's) are read. `projection` is refused.
   */
  count(options?: Omit<ScanOptions, "projection">): Promise<number>;
  /**
   * The rows with these keys (each an Arrow IPC stream), in the order given, `null` where there
   * is none. The gets run together, at most 32 at a time; `signal` rejects with `ABORTED` and
   * starts no further get.
   */
  getMany(keys: Key[], options?: { signal?: AbortSignal }): Promise<(Uint8Array | null)[]>;
}

/**
 * A read-only view at one commit timestamp (`Db.snapshot`, `Db.at`). It keeps the versions it
 * reads from compaction and GC until `release()`.
 */
export interface Snapshot extends Readable {
  /** Commits at or below this timestamp are visible. */
  readonly timestamp: number;
  /** Lets compaction and GC reclaim what this snapshot kept. Idempotent. */
  release(): void;
}

/**
 * The class of the snapshots handles in this thread return, for `instanceof` (a
 * worker-hosted handle's snapshots are plain objects of the same shape). Not constructible.
 */
export const Snapshot: abstract new () => Snapshot;

/** An open transaction (see `Db.transaction`): reads see its own writes. */
export interface Transaction extends Readable {
  /** The snapshot timestamp it reads at. */
  readonly readTimestamp: number;
  /** Buffers an upsert. */
  put(rows: Rows): Promise<void>;
  /** Buffers the delete of a key, or of every key in an array. */
  delete(keys: Key | Key[]): Promise<void>;
  /** Writes everything with one timestamp (resolved), or rejects with `CONFLICT` and writes nothing. */
  commit(): Promise<number>;
  /** Drops every buffered write. Idempotent. */
  abort(): void | Promise<void>;
}

/** The class of this thread's transactions, for `instanceof` (as `Snapshot`). Not constructible. */
export const Transaction: abstract new () => Transaction;

/** One retained version of the table (`Db.versions`). */
export interface VersionInfo {
  version: number;
  /** The newest commit timestamp in it: `db.at({ timestamp })` reads it. */
  timestamp: number;
  /** Wall-clock time of the commit, ms since the epoch. */
  wallMs: number;
  kind: "init" | "put" | "flush" | "compact" | "gc" | "claim";
  /** Live SSTs and their bytes in this version. */
  ssts: number;
  bytes: number;
  /** SSTs the commit added and removed. */
  added: number;
  removed: number;
}

export interface CompactReport {
  inputs: number;
  rowsIn: number;
  rowsOut: number;
  bytesOut: number;
}

export interface GcReport {
  /** SSTs dropped from the head (by compaction) whose grace period passed, deleted. */
  sstsDeleted: number;
  /** Drop notes (`manifest/dropped/`) whose files are all gone, deleted. */
  notesDeleted: number;
  orphansDeleted: number;
  walSegmentsDeleted: number;
  archivesDeleted: number;
  historyFloor: number;
}

/**
 * How fresh `Db.get` must be when other handles (Workers, processes, tabs) write the same
 * table. Default: the handle's own view (commits made elsewhere appear after `refresh()`).
 */
export type GetOptions =
  /** `"strict"`: every commit acknowledged anywhere before the call (one manifest read, made
   * together with the data reads: one round trip when nothing changed). */
  | { freshness?: "view" | "strict" }
  /** Checks the manifest only when this handle's last check is older than this. */
  | { maxStalenessMs: number };

/** The methods of an open table shared by `Db` and the worker-hosted `WorkerDb`. */
export interface DbMethods extends Readable {
  /**
   * `await using db = await Anax.open(...)` closes the handle when the block ends. There is
   * no `Symbol.dispose`: a plain `using` cannot wait for `close()`, so it refuses a handle.
   */
  [Symbol.asyncDispose](): Promise<void>;
  /** The row with this key as an Arrow IPC stream, or `null`, at the freshness asked for. */
  get(key: Key, options?: GetOptions): Promise<Uint8Array | null>;
  /** The selected rows as one Arrow IPC stream, at the freshness asked for (as `get`). */
  scan(options?: ScanOptions & GetOptions): Promise<Uint8Array>;
  /**
   * A cursor over the selected rows at the freshness asked for (as `get`): the manifest is
   * checked when the cursor is created, and every row comes from the view it settled on.
   */
  scanCursor(options?: ScanOptions & GetOptions): Promise<ScanCursor>;
  /** `count` at the freshness asked for (as `get`). */
  count(options?: Omit<ScanOptions, "projection"> & GetOptions): Promise<number>;
  /** `getMany` at the freshness asked for (as `get`; each get checks it). */
  getMany(keys: Key[], options?: GetOptions & { signal?: AbortSignal }): Promise<(Uint8Array | null)[]>;
  /** `scanCursor` as an async iterator of Arrow IPC streams, at the freshness asked for. */
  scanBatches(options?: StreamOptions & GetOptions): AsyncIterableIterator<Uint8Array>;
  /** `getRow` at the freshness asked for (as `get`). */
  getRow(key: Key, options?: GetOptions): Promise<Record<string, unknown> | null>;
  /** `scanRows` at the freshness asked for (checked once, when the scan starts). */
  scanRows(options?: StreamOptions & GetOptions): AsyncIterableIterator<Record<string, unknown>>;
  /** `scanStream` at the freshness asked for (checked once, when the scan starts). */
  scanStream(options?: StreamOptions & GetOptions): Promise<ReadableStream<Uint8Array>>;
  /**
   * Upserts rows in one commit (the last row wins when a key repeats) and resolves to the commit
   * timestamp.
   * @example await db.put([{ id: "a", score: 1 }]);
   * @example await db.put(tableToIPC(arrowTable, "stream"));
   */
  put(rows: Rows): Promise<number>;
  /**
   * Deletes a key, or every key of an array, in one commit; resolves to its timestamp. A
   * composite key is an array of parts, so several of them are an array of arrays.
   */
  delete(keys: Key | Key[]): Promise<number>;
  /**
   * Runs `fn` in an optimistic transaction: commits when it resolves (resolving to its value),
   * aborts when it throws (rethrowing), rejects with `CONFLICT` if another commit wrote one of
   * its keys after it began. With `retries`, a commit that lost to a conflict runs `fn` again on
   * a fresh transaction, up to that many times, after a growing, jittered pause (from 2 ms,
   * doubling, at most 200 ms); an error `fn` throws is never retried.
   * @example await db.transaction(async (tx) => { const a = await tx.get("a"); await tx.put([{ id: "b" }]); }, { retries: 5 });
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options?: { retries?: number; signal?: AbortSignal }): Promise<T>;
  /** Every retained version, oldest first. */
  versions(): Promise<VersionInfo[]>;
  /** A read-only view as of a retained version number, `{ version }`, or `{ timestamp }`. */
  at(versionOrTimestamp: number | { version: number } | { timestamp: number }): Promise<Snapshot>;
  /** Seals the memtable and writes it to an SST now. */
  flush(): Promise<void>;
  /** Merges every SST into one sorted run at the deepest level (files cut at `maxOutputBytes` / `maxOutputRows`). */
  compact(options?: LongCallOptions): Promise<CompactReport>;
  /** Runs up to `maxJobs` (default 1) pending strategy jobs; resolves to how many ran. */
  compactPending(maxJobs?: number, options?: LongCallOptions): Promise<number>;
  /** Deletes expired history, dropped and orphaned files and old WAL segments. */
  gc(options?: LongCallOptions): Promise<GcReport>;
  /**
   * Resolves once no compaction job runs on this handle, background ones included. With
   * `compaction: { background: true }` in a Cloudflare Worker, pass it to `ctx.waitUntil`:
   * the runtime cancels work left running after a response.
   */
  idle(): Promise<void>;
  /** Re-reads the manifest (one request) so other writers' commits become visible. */
  refresh(): Promise<boolean>;
  /** Makes every acknowledged commit durable (fast acks, relaxed WAL sync). */
  sync(): Promise<void>;
  /** Closes the handle; later calls reject with `CLOSED`. Idempotent. */
  close(): Promise<void>;
}

/** An open table in this thread (`Anax.open`): the `DbMethods`, plus the synchronous ones below. */
export class Db {
  private constructor();
  /** Starts a transaction to drive by hand (`commit()` / `abort()`); prefer `transaction(fn)`. */
  beginTransaction(): Transaction;
  /** A consistent read view of everything committed so far. */
  snapshot(): Snapshot;
  /** Where the rows are, and the storage requests this handle made so far. */
  stats(): DbStats;
}
// Declaration merging: the class carries every method of DbMethods without restating them.
export interface Db extends DbMethods {}

/**
 * A table hosted in a dedicated worker (`Anax.openInWorker`): the same methods as `Db`, with
 * `stats`, `snapshot` and `beginTransaction` returning Promises. Result buffers are
 * transferred from the worker, not copied.
 */
export interface WorkerDb extends DbMethods {
  beginTransaction(): Promise<Transaction>;
  snapshot(): Promise<Snapshot>;
  stats(): Promise<DbStats>;
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
  bytesRead: number;
  bytesWritten: number;
  /** Requests of every kind. */
  total: number;
}

/** Major compaction counters of this handle. */
export interface CompactionStats {
  jobs: number;
  followUps: number;
  /** Triggers dropped because the queue was full. */
  dropped: number;
  conflicts: number;
  failed: number;
  rowsIn: number;
  rowsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Ingests delayed, and re-checks while stalled, by L0 backpressure. */
  slowdowns: number;
  stalls: number;
  /** Jobs running on this handle now (see `Db.idle`). */
  running: number;
}

export interface DbStats {
  /** Size of the module's linear memory (it only grows): Anax's share of an isolate's limit. */
  wasmMemoryBytes: number;
  manifestVersion: number;
  lastTs: number;
  /** Versions in the mutable memtable (sealed memtables waiting for a flush are not counted). */
  memtableRows: number;
  /**
   * Rows of the mutable memtable not yet in key order. Once there are 8,192, the memtable is
   * sealed when writes pause (10 ms without a commit) and merged into the sealed run; with
   * `seal: "never"` or `{ ageMs }` its batches are sorted instead (scans then read each batch in order).
   */
  unsortedRows: number;
  /** Sealed memtables waiting for a flush into an SST. */
  sealedMemtables: number;
  /**
   * How many sealed memtables are already one sorted run (fast scans). When writes pause (10 ms
   * without a commit, at most ~1 s late) the sealed memtables are sorted and merged into one
   * run; until then they answer from their indexes.
   */
  sortedMemtables: number;
  sstRows: number;
  sstBytes: number;
  /** SSTs per level, lowest first. */
  levels: { level: number; files: number; rows: number; bytes: number }[];
  compaction: CompactionStats;
  requests: RequestCounts;
  /**
   * WAL segments whose tail recovery cut at a bad frame when this handle opened: a torn last
   * write after a crash, or damage (under `recovery: "truncateTail"` an older damaged segment is
   * cut too, and what followed the damage is not replayed).
   */
  walCutSegments: number[];
  /** Bytes those cuts left out. */
  walCutBytes: number;
}

/**
 * Builders for filters: each returns the plain-JSON `Filter`.
 * @example filter.and(filter.gt("score", 80), filter.in("tag", ["a", "b"]))
 */
export const filter: {
  and(...filters: Filter[]): Filter;
  or(...filters: Filter[]): Filter;
  not(filter: Filter): Filter;
  eq(column: string, value: FilterValue): Filter;
  ne(column: string, value: FilterValue): Filter;
  lt(column: string, value: FilterValue): Filter;
  le(column: string, value: FilterValue): Filter;
  gt(column: string, value: FilterValue): Filter;
  ge(column: string, value: FilterValue): Filter;
  between(column: string, low: FilterValue, high: FilterValue): Filter;
  in(column: string, values: FilterValue[]): Filter;
  startsWith(column: string, prefix: string | Uint8Array): Filter;
  isNull(column: string): Filter;
  isNotNull(column: string): Filter;
};

export const Anax: {
  /** Opens (or creates) a table in this thread. */
  open(options: OpenOptions): Promise<Db>;
  /**
   * Opens the table in a dedicated module worker (browser only) and returns a proxy with the
   * same Promise API; OPFS there uses sync access handles. `storage.kind: "bucket"` cannot
   * cross to a worker (rejects with `INVALID_ARGUMENT`). `where` relocates the files for
   * bundlers that move them: `workerUrl` (the package's `anax/worker.js`) and `wasmUrl` (its
   * `anax/anax_bg.wasm`), by default next to the package's own modules.
   */
  openInWorker(options: OpenOptions, where?: { workerUrl?: string | URL; wasmUrl?: string | URL }): Promise<WorkerDb>;
  /**
   * Runs Anax's storage conformance suite (ranged reads, listing, deletes, create-if-absent
   * and compare-and-swap races between two clients) under a scratch prefix it cleans up.
   * Resolves to the number of cases passed; rejects with the first broken expectation.
   */
  checkStorage(storage: StorageOptions): Promise<number>;
  /**
   * Whether the browser exempts this origin's storage (OPFS) from eviction under storage
   * pressure; with `true`, asks for that first (`navigator.storage.persist()`, window contexts
   * only; Firefox shows the user a prompt). `null` where there is no StorageManager (Node,
   * Workers). Anax never asks on its own.
   */
  persistStorage(request?: boolean): Promise<boolean | null>;
};

/**
 * Loads the wasm module ahead of the first `Anax.open` (browser entry). Pass a URL, Response,
 * bytes or `WebAssembly.Module` when the .wasm is hosted elsewhere than next to the package.
 */
export function initialize(
  source?: string | URL | Response | BufferSource | WebAssembly.Module,
): Promise<unknown>;
