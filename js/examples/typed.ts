// A typed tour of the API, compiled with `tsc --noEmit --strict` by the tests (scripts/test.sh):
// every call here must type-check, and each `@ts-expect-error` line must NOT, so the
// declarations stay both complete and strict.
import { Anax, AnaxError, ErrorCodes, filter, ScanCursor, Snapshot, type Db, type OpenOptions, type WorkerDb } from "anax";
import { tableFromIPC, tableToIPC, tableFromArrays } from "apache-arrow";

const options: OpenOptions = {
  schema: {
    id: "utf8",
    score: { type: "float64", nullable: true },
    tags: { type: "list", items: "utf8" },
    at: { type: "struct", fields: { x: "float64", y: "float64" } },
  },
  key: "id",
  storage: { kind: "opfs", path: "apps/scores" },
  tableName: "scores",
  durability: "wal",
  seal: { rows: 10_000 },
  minorCompaction: { segmentThreshold: 4, targetLevel: 0 },
  wal: { syncPolicy: { intervalMs: 50 }, segmentBytes: 1 << 24, recovery: "truncateTail" },
  casBackoff: { baseMs: 50, maxMs: 1000, maxAttempts: 16 },
  retention: { minVersions: 16, maxAgeMs: 3_600_000, graceMs: 600_000, dropGraceMs: 0 },
  commitAckMode: "fast",
  compaction: {
    strategy: { kind: "tiered", minMerge: 4, maxMerge: 32, sizeRatio: 2 },
    maxOutputBytes: 64 << 20,
    l0Backpressure: { slowdownFiles: 16, stopFiles: 32 },
    cascade: { maxFollowUps: 1, cooldownMs: 500 },
    background: true,
  },
};

export async function tour(): Promise<number> {
  const db: Db = await Anax.open(options);
  const ts: number = await db.put([{ id: "a", score: 91, tags: ["x"], at: { x: 1, y: 2 } }]);
  await db.put(tableToIPC(tableFromArrays({ id: ["b"], score: Float64Array.from([70]) }), "stream"));
  const row: Uint8Array | null = await db.get("a");
  if (row) console.log(tableFromIPC(row).toArray());
  const top = await db.scan({
    filter: filter.and(filter.gt("score", 80), filter.in("id", ["a", "b"])),
    projection: ["id", "score"],
    limit: 10,
    reverse: true,
  });
  console.log(tableFromIPC(top).numRows);
  for await (const chunk of db.scanBatches({ start: "a", end: "z", endInclusive: true })) {
    console.log(tableFromIPC(chunk).numRows);
  }
  const total: number = await db.transaction(async (tx) => {
    const a = await tx.get("a");
    await tx.put([{ id: "c", score: a ? 1 : 0 }]);
    await tx.delete(["b"]);
    return 1;
  });
  const n: number = await db.count({ start: "a", filter: filter.gt("score", 80), freshness: "strict" });
  const many: (Uint8Array | null)[] = await db.getMany(["a", "b", "zz"]);
  console.log(n, many.length);
  const snap: Snapshot = db.snapshot();
  if (!(snap instanceof Snapshot) || !((await db.scanCursor()) instanceof ScanCursor)) throw new Error("classes");
  {
    // Closed when the block ends.
    await using scratch = await Anax.open({ schema: { id: "utf8" }, key: "id" });
    await scratch.put([{ id: "tmp" }]);
  }
  console.log(snap.timestamp, await snap.scan());
  snap.release();
  const versions = await db.versions();
  const old = await db.at({ version: versions[0].version });
  console.log(await old.get("a"), await db.at({ timestamp: ts }));
  const s = db.stats();
  console.log(s.levels.map((l) => l.rows), s.requests.getRange, s.compaction.jobs);
  console.log(await db.compactPending(2), await db.compact(), await db.gc(), await db.refresh());
  await db.sync();
  try {
    await db.put([{ id: null }]);
  } catch (e) {
    if (e instanceof AnaxError && e.code === "KEY_NULL") console.log(e.message, ErrorCodes.length);
  }
  await db.close();

  const remote: WorkerDb = await Anax.openInWorker({ schema: { id: "utf8" }, key: "id" });
  const stats = await remote.stats();
  const remoteSnap = await remote.snapshot();
  console.log(stats.sstRows, remoteSnap.timestamp);
  await remote.close();

  // @ts-expect-error: the key option is required
  await Anax.open({ schema: { id: "utf8" } });
  // @ts-expect-error: seal takes one of the documented shapes
  await Anax.open({ schema: { id: "utf8" }, key: "id", seal: { files: 3 } });
  // @ts-expect-error: ack modes are "strict" or "fast"
  await Anax.open({ schema: { id: "utf8" }, key: "id", commitAckMode: "eventual" });
  // @ts-expect-error: filters are objects, not SQL strings
  await db.scan({ filter: "score > 80" });
  // @ts-expect-error: a WorkerDb's stats are a Promise
  remote.stats().levels;
  return total;
}

/** Type-level check only: a plain `using` refuses a Db, which only `await using` can close. */
export async function plainUsingIsRefused(): Promise<void> {
  // @ts-expect-error: Db has Symbol.asyncDispose and no Symbol.dispose
  using db = await Anax.open({ schema: { id: "utf8" }, key: "id" });
  console.log(db);
}
