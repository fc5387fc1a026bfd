// The JS API suite: every method and option of the npm package, run unchanged in every
// placement (Node, workerd, a browser page's main thread, a dedicated worker, and through
// `Anax.openInWorker`). Results are decoded with apache-arrow and their values asserted.
//
// `env`: { Anax, AnaxError, filter, placement, open, storages, freshStorage? } where
// `open(options)` opens a database the way this placement does (Anax.open or
// Anax.openInWorker), `storages` lists the backends available here as { name, storage(tag) }
// factories, and `freshStorage()`, when given, makes the new, empty store each case's table
// opens on (memory otherwise).
import { tableFromIPC, tableToIPC, tableFromArrays, Table, vectorFromArray, Utf8, Float64, Int32, RecordBatchReader } from "apache-arrow";

// ---- tiny assertion kit (no node:assert in browsers or workerd) ---------------------------

function show(v) {
  try {
    return JSON.stringify(v, (_, x) => (typeof x === "bigint" ? `${x}n` : x instanceof Uint8Array ? `bytes[${Array.from(x)}]` : x));
  } catch {
    return String(v);
  }
}

function eq(actual, expected, what = "value") {
  if (show(actual) !== show(expected)) {
    throw new Error(`${what}: expected ${show(expected)}, got ${show(actual)}`);
  }
}

function ok(cond, what) {
  if (!cond) throw new Error(`expected: ${what}`);
}

async function rejects(promiseOrFn, code, what) {
  let error;
  try {
    await (typeof promiseOrFn === "function" ? promiseOrFn() : promiseOrFn);
  } catch (e) {
    error = e;
  }
  if (!error) throw new Error(`${what}: resolved, expected a ${code} rejection`);
  if (error.name !== "AnaxError" || error.code !== code) {
    throw new Error(`${what}: expected ${code}, got ${error.name} ${error.code}: ${error.message}`);
  }
  if (!error.message || error.message.length < 10) throw new Error(`${what}: the message says nothing: '${error.message}'`);
  return error;
}

// ---- decoding ------------------------------------------------------------------------------

/** A cell as plain JS: BigInt -> Number when exact, vectors -> arrays, struct rows -> objects. */
function plain(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  if (v instanceof Uint8Array) return v;
  if (typeof v === "object" && typeof v.toArray === "function" && typeof v.numChildren === "undefined" && v.type) {
    return Array.from(v.toArray(), plain);
  }
  if (typeof v === "object" && typeof v.toJSON === "function") {
    const o = v.toJSON();
    if (Array.isArray(o)) return o.map(plain);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

function rows(bytes) {
  ok(bytes instanceof Uint8Array, "an Arrow IPC Uint8Array");
  const t = tableFromIPC(bytes);
  return t.toArray().map((r) => Object.fromEntries(Object.entries(r.toJSON()).map(([k, v]) => [k, plain(v)])));
}

const ids = (bytes) => rows(bytes).map((r) => r.id);
const orNull = (bytes) => (bytes === null ? null : rows(bytes));

// ---- fixtures ------------------------------------------------------------------------------

/**
 * A valid one-row Arrow IPC stream whose record batch header then claims a body of `2^40`
 * bytes: a length bomb of about 1 kB.
 */
function ipcBodyBomb() {
  const bytes = tableToIPC(tableFromArrays({ id: ["x".repeat(1000)] }), "stream").slice();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The body is an offsets buffer plus 1,000 value bytes, padded: find its length field.
  for (let body = 1000; body <= 1100; body += 8) {
    for (let i = 0; i + 8 <= bytes.length; i++) {
      if (view.getBigInt64(i, true) === BigInt(body)) {
        view.setBigInt64(i, 1n << 40n, true);
        return bytes;
      }
    }
  }
  throw new Error("no bodyLength field found");
}

const people = { id: "utf8", name: { type: "utf8", nullable: true }, score: { type: "float64", nullable: true }, tag: "utf8" };

function peopleRows(n, prefix = "p") {
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}${String(i).padStart(5, "0")}`,
    name: i % 7 === 0 ? null : `name ${i}`,
    score: i % 100,
    tag: ["a", "b", "c"][i % 3],
  }));
}

/** Puts `rows` in batches of `batch`, in the order row i goes to place (i * step) % n (keys in no order). */
async function putPermuted(db, rows, step, batch) {
  const n = rows.length;
  const order = rows.map((r, i) => [(i * step) % n, r]).sort((a, b) => a[0] - b[0]).map(([, r]) => r);
  for (let i = 0; i < n; i += batch) await db.put(order.slice(i, i + batch));
}

/**
 * Arrow IPC streams made by apache-arrow's builders. workerd forbids the code generation
 * those builders use, so its runner makes these in Node and passes them in `env.fixtures`.
 */
export function arrowFixtures() {
  const source = new Table({ id: vectorFromArray(["q", "p"], new Utf8()), v: vectorFromArray([1.5, 0.5], new Float64()), n: vectorFromArray([1, 2], new Int32()) });
  return {
    schemaOnly: tableToIPC(source.slice(0, 0), "stream"),
    source: tableToIPC(source, "stream"),
    // tableFromArrays dictionary-encodes strings.
    dict: tableToIPC(tableFromArrays({ id: ["r"], v: Float64Array.from([9]), n: Int32Array.from([3]) }), "stream"),
    other: tableToIPC(tableFromArrays({ other: Float64Array.from([1]) }), "stream"),
    // Hostile streams (made here: workerd forbids apache-arrow's code generation at run time).
    bomb: ipcBodyBomb(),
    cut: tableToIPC(tableFromArrays({ id: ["a", "b"] }), "stream").slice(0, 150),
    // The IPC file format (".arrow" files), whole and cut short.
    file: tableToIPC(new Table({ id: vectorFromArray(["s", "t"], new Utf8()), v: vectorFromArray([2.5, 3.5], new Float64()), n: vectorFromArray([4, 5], new Int32()) }), "file"),
    cutFile: tableToIPC(source, "file").slice(0, -3),
  };
}

let counter = 0;
function tag(name) {
  counter += 1;
  return `${name}-${Date.now().toString(36)}-${counter}`;
}

async function stats(db) {
  return await db.stats();
}

// ---- cases ---------------------------------------------------------------------------------

/**
 * `error` with the case's name in front of its message ("<case>: <what>: expected ..., got
 * ..."), so every placement's report names the case whatever carries it (node:test's output,
 * the JSON results of workerd and Chromium). The error itself is kept (its name, code and
 * stack); a thrown non-Error becomes an Error.
 */
function named(name, error) {
  if (!(error instanceof Error)) return new Error(`${name}: ${show(error)}`);
  const before = error.message;
  try {
    error.message = `${name}: ${before}`;
    // A stack already formatted keeps the old message in its first line.
    if (typeof error.stack === "string" && !error.stack.includes(error.message)) error.stack = error.stack.replace(before, error.message);
    return error;
  } catch {
    return Object.assign(new Error(`${name}: ${before}`, { cause: error }), { code: error.code });
  }
}

/**
 * The cases, in the order they run (each opens tables of its own), as [{ name, fn }]: `name`
 * says the behaviour, and `fn` rejects with an error whose message begins with that name.
 */
export function cases(env) {
  const { AnaxError, filter: f } = env;
  let fixtures = env.fixtures;
  const fx = () => (fixtures ??= arrowFixtures());
  // Each open gets a new, empty store: memory, or what `env.freshStorage()` makes (a new
  // directory, say, to run every case on another backend).
  const open = (options) => env.open({ storage: env.freshStorage?.() ?? { kind: "memory" }, tableName: tag("t"), ...options });
  const list = [];
  const test = (name, fn) =>
    list.push({
      name,
      fn: async () => {
        try {
          await fn();
        } catch (e) {
          throw named(name, e);
        }
      },
    });

  test("every column type round-trips from row objects", async () => {
    const db = await open({
      key: "id",
      schema: {
        id: "int64",
        b: "bool",
        i8: "int8", i16: "int16", i32: "int32", i64: "int64",
        u8: "uint8", u16: "uint16", u32: "uint32", u64: "uint64",
        f32: "float32", f64: "float64",
        s: "utf8", ls: "large_utf8", bin: "binary", lbin: "large_binary", fixed: "fixed_size_binary[3]",
        d32: "date32", d64: "date64", ts: "timestamp[ms]", tsz: "timestamp[us, UTC]",
        tags: { type: "list", items: "utf8" },
        nums: { type: "largeList", items: { type: "int32", nullable: false } },
        at: { type: "struct", fields: { x: "float64", y: { type: "float64", nullable: true }, label: "utf8" } },
        nested: { type: "list", items: { type: "struct", fields: { k: "utf8", v: "int64" } } },
      },
    });
    const row = {
      id: 1, b: true, i8: -8, i16: -16, i32: -32, i64: 2n ** 60n, u8: 8, u16: 16, u32: 32, u64: 2n ** 63n,
      f32: 1.5, f64: -2.25, s: "héllo", ls: "large", bin: new Uint8Array([1, 2]), lbin: new Uint8Array([3]),
      fixed: new Uint8Array([7, 8, 9]), d32: 19000, d64: 1_700_000_000_000, ts: 1_700_000_000_123, tsz: 1_700_000_000_123_456,
      tags: ["x", null, "z"], nums: [1, 2, 3], at: { x: 1, label: "here" }, nested: [{ k: "a", v: 1 }, null],
    };
    await db.put([row, { id: 2 }]);
    const [got] = rows(await db.get(1));
    eq(got.b, true, "bool");
    eq([got.i8, got.i16, got.i32], [-8, -16, -32], "small ints");
    eq(got.i64, 2n ** 60n, "int64 beyond 2^53 stays exact");
    eq(got.u64, 2n ** 63n, "uint64");
    eq([got.f32, got.f64], [1.5, -2.25], "floats");
    eq([got.s, got.ls], ["héllo", "large"], "strings");
    eq([Array.from(got.bin), Array.from(got.lbin), Array.from(got.fixed)], [[1, 2], [3], [7, 8, 9]], "binary");
    const t = tableFromIPC(await db.get(1));
    eq(t.schema.fields.map((x) => String(x.type)), [
      "Int64", "Bool", "Int8", "Int16", "Int32", "Int64", "Uint8", "Uint16", "Uint32", "Uint64", "Float32", "Float64",
      "Utf8", "LargeUtf8", "Binary", "LargeBinary", "FixedSizeBinary[3]", "Date32<DAY>", "Date64<MILLISECOND>",
      "Timestamp<MILLISECOND>", "Timestamp<MICROSECOND, UTC>", "List<Utf8>", "LargeList<Int32>",
      "Struct<{x:Float64, y:Float64, label:Utf8}>", "List<Struct<{k:Utf8, v:Int64}>>",
    ], "Arrow types");
    eq(t.getChild("ts").type.unit, 1, "timestamp unit ms");
    eq(plain(t.getChild("tags").get(0)), ["x", null, "z"], "list of strings");
    eq(plain(t.getChild("nums").get(0)), [1, 2, 3], "large list");
    eq(plain(t.getChild("at").get(0)), { x: 1, y: null, label: "here" }, "struct");
    eq(plain(t.getChild("nested").get(0)), [{ k: "a", v: 1 }, null], "list of structs");
    const [two] = rows(await db.get(2));
    eq([two.b, two.tags, two.at], [null, null, null], "missing properties are null");
    // The same through the JSON cursor.
    const cursor = await db.scanCursor({ limit: 1 });
    const [json] = await cursor.nextRows();
    eq([json.i64, json.tags, json.at, json.nested], [2n ** 60n, ["x", null, "z"], { x: 1, y: null, label: "here" }, [{ k: "a", v: 1 }, null]], "nextRows");
    eq(await cursor.nextRows(), null, "cursor end");
    await db.close();
  });

  test("rows of scalar cells (the packed fast path) store what the general path stores", async () => {
    const schema = { id: "utf8", i: { type: "int32", nullable: true }, f: { type: "float64", nullable: true }, b: { type: "bool", nullable: true }, s: { type: "utf8", nullable: true }, bin: { type: "binary", nullable: true } };
    const text = ["", "plain", "héllo", "😀 wide", "a\u{10FFFF}b", "x".repeat(5000), "ü".repeat(3000)];
    const base = text.map((s, k) => ({ id: `k${k}`, i: k % 3 === 0 ? null : -k, f: [0.5, -0, NaN, 1e300, undefined][k % 5], b: k % 2 === 0, s }));
    const fast = await open({ schema, key: "id" });
    const general = await open({ schema, key: "id" });
    await fast.put(base);
    // A Uint8Array cell sends the whole batch down the general path.
    await general.put(base.map((r, k) => (k === 0 ? { ...r, bin: new Uint8Array([1]) } : r)));
    const strip = (all) => all.map(({ bin, ...r }) => r);
    const want = strip(rows(await general.scan()));
    eq(strip(rows(await fast.scan())), want, "same rows");
    eq(want[4].s, "a\u{10FFFF}b", "the last code point, a surrogate pair, kept on both paths");
    // A lone surrogate is refused on both paths (it once became U+FFFD, merging distinct keys).
    await rejects(fast.put([{ id: "lone", s: "a\ud800b" }]), "INVALID_ARGUMENT", "lone surrogate, fast path");
    await rejects(general.put([{ id: "lone", s: "a\ud800b", bin: new Uint8Array([1]) }]), "INVALID_ARGUMENT", "lone surrogate, general path");
    eq(Object.is(rows(await fast.get("k1"))[0].f, -0), true, "-0 kept");
    // Errors on the fast path keep their codes, and the table is untouched by them.
    await rejects(fast.put([{ id: "e1", i: 1.5 }]), "TYPE_MISMATCH", "fractional int32");
    await rejects(fast.put([{ id: "e2", i: 2 ** 31 }]), "TYPE_MISMATCH", "int32 overflow");
    await rejects(fast.put([{ id: "e3", s: 5 }]), "TYPE_MISMATCH", "number in a string column");
    await rejects(fast.put([{ id: "e4" }, { i: 1 }]), "KEY_NULL", "missing key");
    await rejects(fast.put([{ id: "e5", typo: 1 }]), "SCHEMA_MISMATCH", "unknown property");
    await rejects(fast.put([{ id: "e6" }, "row"]), "INVALID_ARGUMENT", "a row that is not an object");
    eq(ids(await fast.scan()), ids(await general.scan()), "no partial writes");
    // Rows run their own code while they are packed: a getter that puts into another table
    // gets the general path (not the buffer in use), one that throws is a rejection (never a
    // synchronous throw), and the table is intact after each.
    const other = await open({ schema, key: "id" });
    await fast.put([{ id: "n1", s: "outer" }, { id: "n2", get s() { other.put([{ id: "inner", s: "x".repeat(50) }]); return "second"; } }]);
    eq(rows(await fast.scan({ start: "n1", end: "n3" })).map((r) => r.s), ["outer", "second"], "outer rows intact");
    eq(ids(await other.scan()), ["inner"], "inner put stored");
    let thrown = null;
    const p = (() => {
      try {
        return fast.put([{ id: "g1", get s() { throw new Error("boom"); } }]);
      } catch (e) {
        thrown = e;
        return null;
      }
    })();
    eq(thrown, null, "no synchronous throw");
    await rejects(p, "INVALID_ARGUMENT", "a getter that throws");
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    await rejects(fast.get(revoked.proxy), "INVALID_ARGUMENT", "a revoked proxy as key");
    eq(rows(await fast.get("n1"))[0].s, "outer", "gets work after a key that threw");
    await other.close();
    // Transactions take the same path.
    await fast.transaction(async (tx) => {
      await tx.put([{ id: "t1", i: 7, s: "in tx" }]);
    });
    eq(rows(await fast.get("t1"))[0].s, "in tx", "transaction put");
    await fast.close();
    await general.close();
    await rejects(fast.put([{ id: "z" }]), "CLOSED", "after close");
  });

  test("a schema given as Arrow IPC bytes opens a table; put takes tableToIPC output and ArrayBuffers, not Table objects", async () => {
    const db = await open({ schema: fx().schemaOnly, key: "id" });
    await db.put(fx().source);
    eq(rows(await db.scan()), [{ id: "p", v: 0.5, n: 2 }, { id: "q", v: 1.5, n: 1 }], "IPC put");
    const dict = fx().dict;
    await db.put(dict.buffer.slice(dict.byteOffset, dict.byteOffset + dict.byteLength));
    eq(ids(await db.scan()), ["p", "q", "r"], "ArrayBuffer put with dictionary strings");
    await rejects(db.put(tableFromIPC(fx().source)), "INVALID_ARGUMENT", "a Table object (not IPC)");
    await db.put(fx().file);
    eq(rows(await db.scan({ start: "s" })), [{ id: "s", v: 2.5, n: 4 }, { id: "t", v: 3.5, n: 5 }], "IPC file format put");
    const cut = await rejects(db.put(fx().cutFile), "INVALID_ARGUMENT", "an IPC file cut short");
    ok(/closing magic/.test(cut.message), `the message says what is wrong: ${cut.message}`);
    eq(await db.count(), 5, "nothing of the cut file was written");
    await db.close();
  });

  test("put and delete resolve to increasing commit timestamps, the last row of a batch wins, single and composite keys are got, scanned and deleted", async () => {
    const db = await open({ schema: people, key: "id" });
    const t1 = await db.put([{ id: "a", tag: "x", score: 1 }, { id: "a", tag: "y", score: 2 }, { id: "b", tag: "z" }]);
    const t2 = await db.put([{ id: "c", tag: "w" }]);
    ok(typeof t1 === "number" && t2 > t1, "put resolves to increasing commit timestamps");
    eq(rows(await db.get("a")), [{ id: "a", name: null, score: 2, tag: "y" }], "last row of a batch wins");
    eq(await db.get("nope"), null, "missing key is null");
    const t3 = await db.delete(["a", "c"]);
    ok(t3 > t2, "delete resolves to a commit timestamp");
    eq(ids(await db.scan()), ["b"], "deleted many");
    await db.delete("b");
    eq(ids(await db.scan()), [], "deleted one");

    const comp = await open({ schema: { org: "utf8", n: "int32", v: "utf8" }, key: ["org", "n"] });
    await comp.put([{ org: "x", n: 1, v: "x1" }, { org: "x", n: 2, v: "x2" }, { org: "y", n: 1, v: "y1" }]);
    eq(rows(await comp.get(["x", 2])).map((r) => r.v), ["x2"], "composite get");
    eq(rows(await comp.scan({ prefix: ["x"] })).map((r) => r.v), ["x1", "x2"], "prefix scan");
    await comp.delete([["x", 1], ["y", 1]]);
    eq(rows(await comp.scan()).map((r) => r.v), ["x2"], "composite delete of many");
    await comp.delete(["x", 2]);
    eq(rows(await comp.scan()).length, 0, "composite delete of one");
    await db.close();
    await comp.close();
  });

  test("scan honours bounds, prefix, projection, limit and reverse, and every filter operator selects its rows", async () => {
    const db = await open({ schema: people, key: "id" });
    await db.put(peopleRows(30));
    await db.flush();
    await db.put([{ id: "p00003", name: "newer", score: 99, tag: "z" }]);
    const r = (o) => db.scan(o);
    eq(ids(await r({ start: "p00028" })), ["p00028", "p00029"], "start inclusive by default");
    eq(ids(await r({ start: "p00028", startInclusive: false })), ["p00029"], "start exclusive");
    eq(ids(await r({ end: "p00002" })), ["p00000", "p00001"], "end exclusive by default");
    eq(ids(await r({ end: "p00001", endInclusive: true })), ["p00000", "p00001"], "end inclusive");
    eq(ids(await r({ prefix: "p00010" })), ["p00010"], "prefix of a one-column key is that key");
    eq(ids(await r({ limit: 3, reverse: true })), ["p00029", "p00028", "p00027"], "reverse + limit");
    eq(rows(await r({ start: "p00003", limit: 1, projection: ["score", "id"] })), [{ score: 99, id: "p00003" }], "projection order, newest version");
    const check = async (filter, expected, what) => eq(ids(await r({ filter })), expected, what);
    await check(f.eq("score", 99), ["p00003"], "eq");
    await check({ and: [f.ne("tag", "a"), f.lt("score", 3)] }, ["p00001", "p00002"], "ne + lt (JSON and helpers mix)");
    await check(f.le("score", 1), ["p00000", "p00001"], "le");
    await check(f.gt("score", 28), ["p00003", "p00029"], "gt");
    await check(f.and(f.ge("score", 28), f.lt("score", 99)), ["p00028", "p00029"], "ge");
    await check(f.between("score", 10, 11), ["p00010", "p00011"], "between");
    await check(f.and(f.in("tag", ["z"]), f.isNotNull("name")), ["p00003"], "in + isNotNull");
    await check(f.and(f.isNull("name"), f.lt("score", 10)), ["p00000", "p00007"], "isNull");
    await check(f.or(f.startsWith("name", "name 2"), f.eq("id", "p00001")), ["p00001", "p00002", "p00020", "p00022", "p00023", "p00024", "p00025", "p00026", "p00027", "p00029"], "or + startsWith (null names never match)");
    await check(f.not(f.lt("score", 29)), ["p00003", "p00029"], "not");
    await db.close();
  });

  test("sealed memtables answer the same before and after they are merged into one run", async () => {
    // Small seals and no flushes: many sealed memtables with several versions per key,
    // tombstones and keys put in no order.
    const db = await open({ schema: people, key: "id", seal: { rows: 40 }, minorCompaction: false });
    const all = peopleRows(150);
    await putPermuted(db, all, 61, 25);
    const snap = await db.snapshot();
    await db.put(all.filter((_, i) => i % 4 === 0).map((r) => ({ ...r, tag: "new" })));
    await db.delete(all.filter((_, i) => i % 10 === 1).map((r) => r.id));
    await db.put([{ id: "p00011", tag: "back" }]);
    // Right after a write nothing is reorganized yet (that waits for 10 ms without one).
    const sealed = (await db.stats()).sealedMemtables;
    ok(sealed >= 4, `several sealed memtables (${sealed})`);
    const read = async () => [
      rows(await db.scan()),
      ids(await db.scan({ reverse: true })),
      ids(await db.scan({ start: "p00040", end: "p00060", reverse: true })),
      ids(await db.scan({ filter: f.eq("tag", "new"), limit: 5 })),
      ...(await Promise.all(["p00000", "p00001", "p00011", "p00149", "zz"].map((k) => db.get(k).then(orNull)))),
      ids(await snap.scan()),
      orNull(await snap.get("p00001")),
    ];
    const before = await read();
    // Writes paused: the sealed memtables are sorted and merged into one run now.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const st = await db.stats();
    eq([st.sealedMemtables, st.sortedMemtables], [1, 1], "one sorted run after writes paused");
    eq(await read(), before, "the same answers from one run as from the indexes");
    // And they are the right answers.
    const want = new Map(all.map((r) => [r.id, r]));
    all.forEach((r, i) => { if (i % 4 === 0) want.set(r.id, { ...r, tag: "new" }); });
    all.forEach((r, i) => { if (i % 10 === 1) want.delete(r.id); });
    want.set("p00011", { id: "p00011", name: null, score: null, tag: "back" });
    eq(before[0], [...want.values()].sort((a, b) => (a.id < b.id ? -1 : 1)), "full scan");
    eq(before[1], [...want.keys()].sort().reverse(), "reverse scan");
    eq(before[5], null, "a deleted key is absent");
    eq(before[6], [want.get("p00011")], "a key put again after its delete");
    eq(before[9], all.map((r) => r.id), "the snapshot from before the updates sees every row");
    eq(before[10], [all[1]], "and the old version of a key deleted since");
    snap.release();
    await db.close();
  });

  test("a bulk load is sealed and merged into one run when writes pause, answers unchanged", async () => {
    const db = await open({ schema: people, key: "id" });
    const all = peopleRows(12000);
    await putPermuted(db, all, 7919, 1000);
    const snap = await db.snapshot();
    await db.put(all.filter((_, i) => i % 7 === 0).map((r) => ({ ...r, tag: "new" })));
    await db.delete(all.filter((_, i) => i % 11 === 3).map((r) => r.id));
    // The 8 MiB policy seals nothing here. A pause of a few ms between the relayed puts of a loaded
    // machine may already have sealed early once, so one sealed memtable is allowed, not two.
    const early = (await db.stats()).sealedMemtables;
    eq(early <= 1, true, `nothing sealed by the policy (8 MiB), got ${early} sealed`);
    const read = async () => [
      rows(await db.scan()),
      ids(await db.scan({ start: "p05000", end: "p05100", reverse: true })),
      ...(await Promise.all(["p00000", "p00003", "p11999", "zz"].map((k) => db.get(k).then(orNull)))),
      rows(await snap.scan({ start: "p00000", end: "p00050" })),
      // The rows, not the stream's bytes: how many record batches carry them may change once
      // the rows sit in one run (a scan then answers with one batch).
      rows(await snap.scan()),
    ];
    const before = await read();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const st = await db.stats();
    eq([st.sealedMemtables, st.sortedMemtables, st.memtableRows], [1, 1, 0], "sealed into one run when idle");
    eq(await read(), before, "the same answers from the run");
    const want = all.map((r, i) => (i % 7 === 0 ? { ...r, tag: "new" } : r)).filter((_, i) => i % 11 !== 3);
    eq(before[0], want, "full scan");
    eq(before[3], null, "a deleted key is absent");
    eq(before[6], all.slice(0, 50), "the snapshot from before the updates");
    // Writes go on into a fresh mutable memtable.
    await db.put([{ id: "p00003", tag: "again" }]);
    eq(rows(await db.get("p00003")), [{ id: "p00003", name: null, score: null, tag: "again" }], "a write after the seal");
    eq((await db.stats()).memtableRows, 1, "in the new mutable memtable");
    snap.release();
    await db.close();
  });

  test("the mutable memtable answers the same after its batches are sorted when idle", async () => {
    const db = await open({ schema: people, key: "id", seal: "never" });
    const all = peopleRows(7000);
    await putPermuted(db, all, 7919, 1000);
    // The last put takes the unsorted rows past 8,192 (7,000 + 1,400): only what follows it is
    // deletes, which leave the count alone, so an early idle turn cannot leave rows unsorted.
    await db.put(all.filter((_, i) => i % 5 === 0).map((r) => ({ ...r, tag: "new" })));
    const snap = await db.snapshot();
    await db.delete(all.filter((_, i) => i % 9 === 2).map((r) => r.id));
    const read = async () => [
      rows(await db.scan()),
      ids(await db.scan({ start: "p01000", end: "p01100", reverse: true })),
      ...(await Promise.all(["p00000", "p00002", "p06999", "zz"].map((k) => db.get(k).then(orNull)))),
      rows(await snap.scan()),
    ];
    const before = await read();
    await new Promise((resolve) => setTimeout(resolve, 50));
    eq((await db.stats()).unsortedRows, 0, "the batches were sorted when the caller was idle");
    eq(await read(), before, "the same answers from sorted batches");
    const want = all.map((r, i) => (i % 5 === 0 ? { ...r, tag: "new" } : r)).filter((_, i) => i % 9 !== 2);
    eq(before[0], want, "full scan");
    eq(before[3], null, "a deleted key is absent");
    snap.release();
    await db.close();
  });

  test("scanBatches and scanCursor stream key-ordered chunks of at most 8,192 rows", async () => {
    const db = await open({ schema: people, key: "id" });
    await db.put(peopleRows(20000));
    let total = 0;
    let chunks = 0;
    let last = "";
    for await (const chunk of db.scanBatches({ projection: ["id"] })) {
      const t = tableFromIPC(chunk);
      ok(t.numRows <= 8192, "a chunk holds at most 8,192 rows");
      const first = t.getChild("id").get(0);
      ok(first > last, "chunks come in key order");
      last = t.getChild("id").get(t.numRows - 1);
      total += t.numRows;
      chunks += 1;
    }
    eq([total, chunks], [20000, 3], "rows and chunks");
    for await (const chunk of db.scanBatches({ reverse: true, limit: 5 })) {
      eq(ids(chunk), ["p19999", "p19998", "p19997", "p19996", "p19995"], "reverse limited batches");
    }
    const cursor = await db.scanCursor({ start: "p19998" });
    eq(ids(await cursor.next()), ["p19998", "p19999"], "cursor next");
    eq(await cursor.next(), null, "cursor end");
    cursor.free();
    await db.close();
  });

  test("scanStream is one Arrow IPC stream of the scan pulled a batch at a time (a Response body, RecordBatchReader input); scanRows and getRow give plain objects; a signal stops a streaming read with ABORTED", async () => {
    const db = await open({ schema: people, key: "id" });
    await db.put(peopleRows(20000));
    await db.put([{ id: "ключ-\u{1F600}-" + "k".repeat(80), name: "ünïcødé", score: 1.5, tag: "u" }]);
    const collect = async (stream) => {
      const parts = [];
      for (const reader = stream.getReader(); ; ) {
        const { value, done } = await reader.read();
        if (done) break;
        ok(value instanceof Uint8Array, "each piece is a Uint8Array");
        parts.push(value);
      }
      const all = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
      let at = 0;
      for (const p of parts) {
        all.set(p, at);
        at += p.byteLength;
      }
      return [parts.length, all];
    };
    for (const options of [{}, { start: "p00010", projection: ["id", "score"] }, { reverse: true, limit: 9000 }, { filter: f.eq("tag", "u") }]) {
      const [pieces, bytes] = await collect(await db.scanStream(options));
      const want = rows(await db.scan(options));
      eq(rows(bytes), want, `scanStream(${show(options)}) is scan's rows`);
      // Schema with the first batch, a piece per later batch, the end marker: the batches
      // scanBatches gives, plus one.
      let batches = 0;
      for await (const _ of db.scanBatches(options)) batches += 1;
      ok(batches >= Math.ceil(want.length / 8192), "at most 8,192 rows a batch");
      eq(pieces, batches + 1, `pieces of scanStream(${show(options)})`);
    }
    const [emptyPieces, empty] = await collect(await db.scanStream({ prefix: "nothing-here" }));
    eq(emptyPieces, 1, "a scan of nothing is one piece");
    const none = tableFromIPC(empty);
    eq([none.numRows, none.schema.fields.map((x) => x.name)], [0, ["id", "name", "score", "tag"]], "a scan of nothing is a stream of its schema");
    const res = new Response(await db.scanStream({ limit: 3, projection: ["id"] }), { headers: { "content-type": "application/vnd.apache.arrow.stream" } });
    eq(ids(new Uint8Array(await res.arrayBuffer())), ["p00000", "p00001", "p00002"], "a Response body");
    let read = 0;
    for await (const batch of await RecordBatchReader.from(await db.scanStream({ limit: 10000 }))) read += batch.numRows;
    eq(read, 10000, "rows apache-arrow's RecordBatchReader read from the stream");
    await rejects(db.scanStream({ limt: 3 }), "INVALID_ARGUMENT", "a misspelt option rejects before any stream exists");
    await rejects(db.scanStream({ signal: "stop" }), "INVALID_ARGUMENT", "a signal that is not an AbortSignal");
    await rejects(db.scanStream({ signal: AbortSignal.abort() }), "ABORTED", "a signal that fired already");
    // Cancelled after one piece: the scan is freed and the table goes on.
    const cancelled = (await db.scanStream()).getReader();
    ok(!(await cancelled.read()).done, "a first piece");
    await cancelled.cancel();
    const ac = new AbortController();
    const aborted = (await db.scanStream({ signal: ac.signal })).getReader();
    ok(!(await aborted.read()).done, "a first piece before the abort");
    ac.abort(new Error("enough rows"));
    const stopped = await rejects(aborted.read(), "ABORTED", "a read after the signal fired");
    eq(stopped.cause?.message, "enough rows", "the signal's reason is the cause");
    // A cursor is read one way.
    const cursor = await db.scanCursor({ limit: 1 });
    ok((await cursor.nextPart()) instanceof Uint8Array, "nextPart");
    await rejects(cursor.next(), "INVALID_ARGUMENT", "next after nextPart");
    cursor.free();

    const some = [];
    for await (const row of db.scanRows({ start: "p19997" })) some.push(row);
    eq(some.map((r) => r.id), ["p19997", "p19998", "p19999", "ключ-\u{1F600}-" + "k".repeat(80)], "scanRows yields rows in key order");
    eq(some[3], { id: "ключ-\u{1F600}-" + "k".repeat(80), name: "ünïcødé", score: 1.5, tag: "u" }, "a scanRows row is a plain object");
    let counted = 0;
    for await (const _ of db.scanRows({ projection: ["id"] })) counted += 1;
    eq(counted, 20001, "scanRows crosses batches");
    const stop = new AbortController();
    const seen = [];
    const err = await rejects(
      (async () => {
        for await (const row of db.scanRows({ signal: stop.signal })) {
          seen.push(row.id);
          if (seen.length === 5) stop.abort();
        }
      })(),
      "ABORTED",
      "scanRows after the signal fired",
    );
    ok(err.cause?.name === "AbortError", `the default reason is an AbortError: ${err.cause?.name}`);
    eq(seen.length, 5, "no row after the abort");
    const batches = new AbortController();
    let chunks = 0;
    await rejects(
      (async () => {
        for await (const _ of db.scanBatches({ signal: batches.signal })) {
          chunks += 1;
          batches.abort();
        }
      })(),
      "ABORTED",
      "scanBatches after the signal fired",
    );
    eq(chunks, 1, "one batch before the abort");

    eq(await db.getRow("p00007"), { id: "p00007", name: null, score: 7, tag: "b" }, "getRow");
    eq(await db.getRow("missing"), null, "getRow of a missing key");
    eq(await db.getRow("p00008", { freshness: "strict" }), { id: "p00008", name: "name 8", score: 8, tag: "c" }, "getRow at strict freshness");
    const snap = await db.snapshot();
    await db.put([{ id: "p00007", tag: "new" }]);
    eq((await snap.getRow("p00007")).tag, "b", "a snapshot's getRow reads its version");
    eq((await db.getRow("p00007")).tag, "new", "the table's getRow reads the new one");
    await db.transaction(async (tx) => {
      await tx.put([{ id: "tx-row", tag: "t" }]);
      eq(await tx.getRow("tx-row"), { id: "tx-row", name: null, score: null, tag: "t" }, "a transaction's getRow sees its own write");
      const inTx = [];
      for await (const row of tx.scanRows({ start: "tx" })) inTx.push(row.id);
      eq(inTx, ["tx-row", "ключ-\u{1F600}-" + "k".repeat(80)], "a transaction's scanRows");
    });
    await rejects(db.getRow({ id: "a" }), "INVALID_ARGUMENT", "getRow of an object key");
    await rejects(db.getRow(12), "TYPE_MISMATCH", "getRow of a key of the wrong type");
    snap.release?.();
    await db.close();
  });

  test("an OPFS open waits for the writer lock when asked (lockWaitMs) instead of failing, and fails with CONFLICT when the wait runs out", async () => {
    if (typeof globalThis.navigator?.storage?.getDirectory !== "function") return; // OPFS: browsers only
    const storage = { kind: "opfs", path: tag("lock-wait") };
    const a = await env.open({ schema: people, key: "id", storage });
    await rejects(env.open({ schema: people, key: "id", storage }), "CONFLICT", "a second writer that does not wait");
    const started = Date.now();
    const late = await rejects(env.open({ schema: people, key: "id", storage: { ...storage, lockWaitMs: 300 } }), "CONFLICT", "a wait that runs out");
    ok(Date.now() - started >= 250, `it waited (${Date.now() - started} ms)`);
    ok(/300 ms/.test(late.message), `the message says how long: ${late.message}`);
    let opened = false;
    const waiting = env.open({ schema: people, key: "id", storage: { ...storage, lockWaitMs: 20_000 } }).then((db) => {
      opened = true;
      return db;
    });
    await a.put(peopleRows(3));
    await new Promise((resolve) => setTimeout(resolve, 200));
    ok(!opened, "the waiting open is still waiting while the holder is open");
    await a.close();
    const b = await waiting;
    eq(ids(await b.scan()), ["p00000", "p00001", "p00002"], "the waiting handle reads what the first one wrote");
    await b.close();
    await rejects(env.open({ schema: people, key: "id", storage: { ...storage, lockWaitMs: -1 } }), "INVALID_ARGUMENT", "a negative wait");
    await rejects(env.open({ schema: people, key: "id", storage: { ...storage, lockWaitMs: 1.5 } }), "INVALID_ARGUMENT", "a fractional wait");
  });

  test("count counts what scan would return (bounds, filter, limit, deletes, overwrites) without returning it; getMany keeps the order and answers null for missing keys", async () => {
    const db = await open({ schema: people, key: "id" });
    await db.put(peopleRows(300, "k"));
    await db.delete(["k00003", "k00004"]);
    await db.put([{ id: "k00005", tag: "again", score: 99 }]);
    const f = env.filter;
    for (const options of [undefined, {}, { start: "k00100" }, { start: "k00010", end: "k00020", endInclusive: true }, { limit: 7 }, { filter: f.eq("tag", "again") }, { prefix: "k00299" }, { reverse: true, limit: 400 }]) {
      eq(await db.count(options), rows(await db.scan(options)).length, `count(${show(options)})`);
    }
    eq(await db.count({ freshness: "strict" }), 298, "count at strict freshness");
    await rejects(db.count({ projection: ["id"] }), "INVALID_ARGUMENT", "count with a projection");
    await rejects(db.count({ limt: 1 }), "INVALID_ARGUMENT", "count with a misspelt option");
    const snap = await db.snapshot();
    await db.put([{ id: "zz-after", tag: "x" }]);
    eq(await snap.count(), 298, "a snapshot counts its version");
    eq(await db.count(), 299, "the table counts the new row");
    await db.transaction(async (tx) => {
      await tx.put([{ id: "zz-tx", tag: "t" }]);
      await tx.delete("k00000");
      eq(await tx.count(), 299, "a transaction counts its own writes");
    });
    const got = await db.getMany(["k00001", "missing", "k00003", "k00005", "zz-after"]);
    eq(got.map((r) => (r === null ? null : rows(r)[0].id)), ["k00001", null, null, "k00005", "zz-after"], "getMany");
    eq((await db.getMany([])).length, 0, "getMany of nothing");
    const many = Array.from({ length: 100 }, (_, i) => `k${String(i * 2).padStart(5, "0")}`);
    eq((await db.getMany(many, { freshness: "strict" })).filter((r) => r !== null).length, 98, "100 keys, 2 deleted");
    eq((await snap.getMany(["zz-after", "k00001"])).map((r) => r !== null), [false, true], "a snapshot's getMany");
    await rejects(db.getMany("k00001"), "INVALID_ARGUMENT", "getMany of a non-array");
    snap.release?.();
    await db.close();
  });

  test("transaction(fn, { retries }) runs fn again after a conflicting commit, never after fn's own error, and gives up after that many", async () => {
    const db = await open({ schema: people, key: "id" });
    await db.put([{ id: "n", tag: "0" }]);
    let attempts = 0;
    const value = await db.transaction(
      async (tx) => {
        attempts += 1;
        const seen = rows(await tx.get("n"))[0].tag;
        await tx.put([{ id: "n", tag: `${seen}+tx` }]);
        // The first two attempts lose to a commit made while they run.
        if (attempts <= 2) await db.put([{ id: "n", tag: `rival${attempts}` }]);
        return attempts;
      },
      { retries: 2 },
    );
    eq(value, 3, "the third attempt committed");
    eq(rows(await db.get("n"))[0].tag, "rival2+tx", "it read what the rival wrote");
    attempts = 0;
    await rejects(
      db.transaction(
        async (tx) => {
          attempts += 1;
          await tx.put([{ id: "n", tag: "mine" }]);
          await db.put([{ id: "n", tag: `always${attempts}` }]);
        },
        { retries: 1 },
      ),
      "CONFLICT",
      "out of retries",
    );
    eq(attempts, 2, "one try and one retry");
    attempts = 0;
    const boom = new Error("boom");
    let thrown;
    try {
      await db.transaction(
        async () => {
          attempts += 1;
          throw boom;
        },
        { retries: 5 },
      );
    } catch (e) {
      thrown = e;
    }
    ok(thrown === boom && attempts === 1, "fn's own error is not retried");
    await rejects(db.transaction(async () => {}, { retry: 1 }), "INVALID_ARGUMENT", "a misspelt option");
    await rejects(db.transaction(async () => {}, { retries: -1 }), "INVALID_ARGUMENT", "negative retries");
    await rejects(db.transaction(async () => {}, { retries: 1.5 }), "INVALID_ARGUMENT", "fractional retries");
    await db.close();
  });

  test("a transaction reads its own writes, commits, writes nothing when its callback throws, and rejects with CONFLICT on a concurrent write", async () => {
    const db = await open({ schema: people, key: "id" });
    await db.put([{ id: "a", tag: "base", score: 1 }, { id: "b", tag: "base", score: 2 }]);
    const result = await db.transaction(async (tx) => {
      await tx.put([{ id: "c", tag: "tx" }]);
      await tx.delete("a");
      eq(ids(await tx.scan()), ["b", "c"], "scan sees own writes");
      eq(rows(await tx.get("c"))[0].tag, "tx", "get sees own write");
      eq(await tx.get("a"), null, "get sees own delete");
      eq(ids(await db.scan()), ["a", "b"], "others do not see uncommitted writes");
      const seen = [];
      for await (const chunk of tx.scanBatches({ projection: ["id"] })) seen.push(...ids(chunk));
      eq(seen, ["b", "c"], "scanBatches inside a transaction");
      return "done";
    });
    eq(result, "done", "transaction resolves to the callback's value");
    eq(ids(await db.scan()), ["b", "c"], "committed");

    const boom = new Error("boom");
    let thrown;
    try {
      await db.transaction(async (tx) => {
        await tx.put([{ id: "z", tag: "lost" }]);
        throw boom;
      });
    } catch (e) {
      thrown = e;
    }
    ok(thrown === boom, "the callback's error is rethrown as is");
    eq(await db.get("z"), null, "an aborted transaction wrote nothing");

    const err = await rejects(
      db.transaction(async (tx) => {
        eq(rows(await tx.get("b"))[0].score, 2, "read inside");
        await tx.put([{ id: "b", tag: "mine", score: 3 }]);
        await db.put([{ id: "b", tag: "theirs", score: 4 }]);
      }),
      "CONFLICT",
      "a concurrent commit to a written key",
    );
    ok(err instanceof AnaxError, "instanceof AnaxError");
    eq(rows(await db.get("b"))[0].tag, "theirs", "the loser wrote nothing");

    await db.transaction(async (tx) => {
      await tx.get("b");
      await db.put([{ id: "other", tag: "x" }]);
      await tx.put([{ id: "b2", tag: "disjoint" }]);
    });
    eq(rows(await db.get("b2"))[0].tag, "disjoint", "no conflict on disjoint keys");

    const tx = await db.beginTransaction();
    ok(typeof tx.readTimestamp === "number", "readTimestamp");
    await tx.put([{ id: "manual", tag: "m" }]);
    await tx.commit();
    await rejects(tx.commit(), "INVALID_ARGUMENT", "commit twice");
    eq(rows(await db.get("manual"))[0].tag, "m", "manual commit");
    await rejects(db.transaction("not a function"), "INVALID_ARGUMENT", "transaction without a callback");
    await db.close();
  });

  test("a snapshot reads its version after writes, compaction and release; versions() lists the versions and at() opens one by number or timestamp", async () => {
    const db = await open({ schema: people, key: "id" });
    const ts1 = await db.put([{ id: "a", tag: "v1" }]);
    const snap = await db.snapshot();
    eq(snap.timestamp, ts1, "snapshot timestamp");
    await db.put([{ id: "a", tag: "v2" }, { id: "b", tag: "v2" }]);
    await db.flush();
    await db.compact();
    eq(rows(await snap.get("a"))[0].tag, "v1", "snapshot get after compaction");
    eq(ids(await snap.scan()), ["a"], "snapshot scan");
    const seen = [];
    for await (const chunk of snap.scanBatches()) seen.push(...ids(chunk));
    eq(seen, ["a"], "snapshot scanBatches");
    // A call started before release() finishes normally.
    const started = snap.get("a");
    snap.release();
    eq(rows(await started)[0].tag, "v1", "a read started before release()");
    snap.release();
    const versions = await db.versions();
    ok(versions.length >= 2, "versions listed");
    const last = versions[versions.length - 1];
    for (const k of ["version", "timestamp", "wallMs", "kind", "ssts", "bytes", "added", "removed"]) ok(k in last, `versions have ${k}`);
    eq(last.kind, "compact", "the newest version is the compaction");
    const flushed = versions.find((v) => v.kind === "flush");
    const byVersion = await db.at(flushed.version);
    eq(rows(await byVersion.get("a"))[0].tag, "v2", "at(version)");
    const byObject = await db.at({ version: flushed.version });
    eq(ids(await byObject.scan()), ["a", "b"], "at({ version })");
    const byTs = await db.at({ timestamp: ts1 });
    eq(ids(await byTs.scan()), ["a"], "at({ timestamp })");
    await rejects(db.at(999999), "NOT_FOUND", "a version never made");
    await rejects(db.at({ nope: 1 }), "INVALID_ARGUMENT", "at() without version or timestamp");
    await db.close();
  });

  test("flush, compactPending and compact move rows down the levels stats reports; gc, refresh and sync leave the data intact", async () => {
    const db = await open({ schema: people, key: "id", compaction: { automatic: false } });
    for (let i = 0; i < 5; i++) {
      await db.put(peopleRows(50, `f${i}-`));
      await db.flush();
    }
    let s = await stats(db);
    eq(s.levels, [{ level: 0, files: 5, rows: 250, bytes: s.sstBytes }], "five L0 files with their rows");
    eq(s.memtableRows, 0, "flushed");
    ok(s.requests.putConditional > 0 && s.requests.total >= s.requests.putConditional + s.requests.get && s.requests.bytesWritten > 0, `requests by kind: ${show(s.requests)}`);
    ok(typeof s.wasmMemoryBytes === "number" && s.wasmMemoryBytes > 0, "wasm memory");
    eq(await db.compactPending(2), 1, "one leveled job pending");
    s = await stats(db);
    eq(s.levels.map((l) => [l.level, l.files, l.rows]), [[1, 1, 250]], "L0 merged into L1");
    eq(s.compaction.jobs, 1, "compaction metrics");
    await db.put(peopleRows(10, "g"));
    await db.flush();
    const report = await db.compact();
    eq([report.inputs, report.rowsOut], [2, 260], "full compaction report");
    const gc = await db.gc();
    for (const k of ["sstsDeleted", "notesDeleted", "orphansDeleted", "walSegmentsDeleted", "archivesDeleted", "historyFloor"]) ok(typeof gc[k] === "number", `gc ${k}`);
    eq(await db.refresh(), false, "nothing new from other writers");
    await db.sync();
    eq(rows(await db.scan({ filter: f.startsWith("id", "g") })).length, 10, "data intact");
    await rejects(db.compactPending(0), "INVALID_ARGUMENT", "compactPending(0)");
    await db.close();
  });

  test("compact and gc take a signal (ABORTED, its reason as cause, nothing published or lost) and report progress; open refuses a fired signal", async () => {
    const db = await open({ schema: people, key: "id", compaction: { automatic: false, maxOutputRows: 5000 } });
    // Three files of 12,000 versions: a merge longer than one row group (32,768 versions).
    for (let r = 0; r < 3; r++) {
      await db.put(peopleRows(12000, `r${r}-`));
      await db.flush();
    }
    const files = (s) => s.levels.reduce((n, l) => n + l.files, 0);
    const before = await stats(db);
    eq(files(before), 3, "three files");
    const fired = new AbortController();
    fired.abort(new Error("the user left"));
    for (const call of [() => db.compact({ signal: fired.signal }), () => db.gc({ signal: fired.signal })]) {
      const e = await rejects(call(), "ABORTED", "a fired signal");
      eq(e.cause?.message, "the user left", "the signal's reason is the cause");
    }
    // In-thread the progress callback runs inside the merge, so a stop it asks for lands at the
    // next check; a worker sees the relayed abort only when its event loop turns, which a merge
    // on memory storage (no I/O waits) never lets it do before the end.
    if (env.placement !== "openInWorker") {
      const stop = new AbortController();
      const heard = [];
      const onProgress = (p) => {
        heard.push(p);
        if (p.done >= 32768) stop.abort(new Error("enough"));
      };
      const e = await rejects(db.compact({ signal: stop.signal, onProgress }), "ABORTED", "stopped mid-merge");
      eq(e.cause?.message, "enough", "cause");
      eq(heard.map((p) => [p.phase, p.done, p.total]), [["compact", 0, 36000], ["compact", 32768, 36000]], "progress up to the stop");
      const after = await stats(db);
      eq([files(after), after.sstRows], [3, 36000], "nothing published");
      eq(after.requests.delete > before.requests.delete, true, "the outputs it had written were deleted");
    }
    const heard = [];
    const report = await db.compact({ onProgress: (p) => heard.push([p.phase, p.done, p.total]) });
    eq(report.rowsOut, 36000, "a later compaction finishes");
    eq([heard[0], heard[heard.length - 1]], [["compact", 0, 36000], ["compact", 36000, 36000]], "progress from 0 to the total");
    // compactPending, getMany and transaction stop on a signal too, writing nothing more.
    // Four new L0 files: one job for the leveled strategy.
    for (let i = 0; i < 4; i++) {
      await db.put(peopleRows(10, `z${i}-`));
      await db.flush();
    }
    for (const call of [
      () => db.compactPending(1, { signal: fired.signal }),
      () => db.getMany(["r0-00001", "r1-00002"], { signal: fired.signal }),
      () => db.transaction(async (tx) => tx.put(peopleRows(1, "never")), { signal: fired.signal }),
    ]) {
      const e = await rejects(call(), "ABORTED", "a fired signal");
      eq(e.cause?.message, "the user left", "cause");
    }
    eq(await db.count({ prefix: "never" }), 0, "the stopped transaction wrote nothing");
    const pending = [];
    eq(await db.compactPending(4, { onProgress: (p) => pending.push(p.phase) }), 1, "compactPending ran its job");
    ok(pending.length >= 2 && pending.every((p) => p === "compact"), `compactPending reported progress: ${show(pending)}`);
    const live = new AbortController();
    eq((await db.getMany(["r0-00001", "nope"], { signal: live.signal })).map((r) => r === null), [false, true], "getMany with a live signal");
    const steps = [];
    await db.gc({ onProgress: (p) => steps.push(`${p.phase}:${p.done}/${p.total}`) });
    eq(steps, ["gc:0/7", "gc:1/7", "gc:2/7", "gc:3/7", "gc:4/7", "gc:5/7", "gc:6/7", "gc:7/7"], "gc's steps");
    eq(await db.count(), 36040, "every row there");
    await rejects(db.compact({ signl: fired.signal }), "INVALID_ARGUMENT", "a misspelt compact option");
    await rejects(db.gc({ signal: "soon" }), "INVALID_ARGUMENT", "a signal that is not an AbortSignal");
    await rejects(db.compact({ onProgress: 5 }), "INVALID_ARGUMENT", "an onProgress that is not a function");
    await db.close();
    const e = await rejects(open({ schema: people, key: "id", signal: fired.signal }), "ABORTED", "open with a fired signal");
    eq(e.cause?.message, "the user left", "open's cause");
  });

  test("every open option variant (durability, seal, WAL, minor compaction, retention, CAS backoff, ack mode, point-read blocks, tail pack) stores and reads the same rows", async () => {
    const variants = [
      { durability: "wal", wal: { syncPolicy: "always", segmentBytes: 4096, flushIntervalMs: 0, retentionBytes: 0, queueSize: 8, recovery: "strict", dir: "log" } },
      { wal: { syncPolicy: { intervalBytes: 1024 }, segmentMaxAgeMs: 1000 } },
      { wal: { syncPolicy: { intervalMs: 5 } } },
      { wal: { syncPolicy: "disabled" } },
      { durability: "sealEveryBatch" },
      { durability: "volatile" },
      { seal: "never" },
      { seal: { rows: 7 }, minorCompaction: { segmentThreshold: 2, targetLevel: 0 } },
      { seal: { bytes: 2048 }, minorCompaction: false },
      { seal: { batches: 1 } },
      { seal: { ageMs: 1 } },
      { retention: { minVersions: 2, maxAgeMs: 10, graceMs: 0 }, casBackoff: { baseMs: 1, maxMs: 5, maxAttempts: 3 } },
      { commitAckMode: "fast" },
      { commitAckMode: "strict", durability: "sealEveryBatch" },
      { durability: "sealEveryBatch", pointReadBlocks: false },
      { pointReadBlocks: true },
      { durability: "sealEveryBatch", tailPack: false },
      { tailPack: true },
    ];
    for (const options of variants) {
      const what = show(options);
      const db = await open({ schema: people, key: "id", ...options });
      for (let i = 0; i < 4; i++) await db.put(peopleRows(5, `o${i}-`));
      await db.delete("o0-00000");
      await db.sync();
      await db.flush();
      const s = await stats(db);
      eq(rows(await db.scan()).length, 19, `${what}: rows`);
      eq(orNull(await db.get("o2-00003"))?.[0]?.id, "o2-00003", `${what}: a get after the flush`);
      eq(s.sstRows + s.memtableRows >= 19, true, `${what}: rows stored`);
      await db.gc();
      await db.close();
    }
  });

  test("every compaction strategy runs jobs under output caps, L0 backpressure and cascade limits without losing rows; background jobs run on the event loop", async () => {
    const strategies = [
      "leveled",
      { kind: "leveled", l0Trigger: 2, l1TargetBytes: 4096, sizeRatio: 2, maxLevel: 3 },
      "tiered",
      { kind: "tiered", minMerge: 2, maxMerge: 4, sizeRatio: 3 },
      "timeWindow",
      { kind: "timeWindow", windowMs: 60_000, minMerge: 2 },
    ];
    for (const strategy of strategies) {
      const what = show(strategy);
      const db = await open({
        schema: people,
        key: "id",
        seal: { batches: 1 },
        minorCompaction: { segmentThreshold: 1 },
        compaction: {
          strategy,
          maxConcurrentJobs: 1,
          queueCapacity: 2,
          maxOutputRows: 40,
          maxOutputBytes: 1 << 20,
          periodicTickMs: 1,
          l0Backpressure: { slowdownFiles: 3, slowdownDelayMs: 1, stopFiles: 6, stopRecheckMs: 1, slowdownBytes: 1 << 20, stopBytes: 1 << 22 },
          cascade: { maxFollowUps: 2, cooldownMs: 0 },
          automatic: true,
          background: false,
        },
      });
      for (let i = 0; i < 8; i++) await db.put(peopleRows(20, `c${i}-`));
      const s = await stats(db);
      ok(s.compaction.jobs > 0, `${what}: jobs ran (${show(s.compaction)})`);
      ok(s.levels.filter((l) => l.level === 0).every((l) => l.files < 6), `${what}: backpressure kept L0 below stop`);
      eq(rows(await db.scan()).length, 160, `${what}: every row readable`);
      await db.close();
    }
    const bg = await open({ schema: people, key: "id", seal: { batches: 1 }, minorCompaction: { segmentThreshold: 1 }, compaction: { background: true, l0Backpressure: false, strategy: { kind: "leveled", l0Trigger: 2 } } });
    for (let i = 0; i < 6; i++) await bg.put(peopleRows(10, `bg${i}-`));
    // idle() resolves only once the jobs the puts started have finished.
    await bg.idle();
    const after = await stats(bg);
    ok(after.compaction.jobs > 0, "background jobs ran on the event loop");
    eq(after.compaction.running, 0, "idle: no job running");
    eq(rows(await bg.scan()).length, 60, "background: rows");
    await bg.close();
  });

  test("close is idempotent and later calls reject with CLOSED", async () => {
    const db = await open({ schema: people, key: "id" });
    await db.put([{ id: "a", tag: "x" }]);
    // A call racing close() settles (resolved or CLOSED) instead of hanging.
    const racing = db.scan().then(() => "resolved", (e) => e.code);
    await db.close();
    ok(["resolved", "CLOSED"].includes(await racing), "a scan racing close settles");
    await db.close();
    await rejects(db.get("a"), "CLOSED", "get after close");
    await rejects(db.put([{ id: "b", tag: "y" }]), "CLOSED", "put after close");
    await rejects(db.scan(), "CLOSED", "scan after close");
  });

  test("await using closes a Db (Symbol.asyncDispose); a plain using refuses it rather than skip the close", async () => {
    const db = await open({ schema: people, key: "id" });
    await db.put([{ id: "a", tag: "x" }]);
    const asyncDispose = db[Symbol.asyncDispose ?? Symbol.for("Symbol.asyncDispose")];
    eq(typeof asyncDispose, "function", "Symbol.asyncDispose");
    eq(Symbol.dispose ? typeof db[Symbol.dispose] : "undefined", "undefined", "no Symbol.dispose");
    await asyncDispose.call(db);
    await rejects(db.get("a"), "CLOSED", "get after the block");
    await asyncDispose.call(db);
  });

  test("scan options name what a scan takes: a misspelt one is refused with the list", async () => {
    const db = await open({ schema: people, key: "id" });
    await db.put(peopleRows(5, "s"));
    let message = "";
    try {
      await db.scan({ limt: 2 });
    } catch (e) {
      message = e.message;
    }
    ok(message.includes("limt") && message.includes("limit"), message);
    eq(rows(await db.scan({ limit: 2, freshness: "view" })).length, 2, "the right names still work");
    await db.close();
  });

  test("bad input: each call rejects with its code and the database works afterwards", async () => {
    const db = await open({ schema: { ...people, tag: { type: "utf8", nullable: false }, blob: "binary", n: "int32" }, key: "id" });
    await db.put([{ id: "keep", tag: "k" }]);
    const big = "x".repeat(64);
    const table = [
      ["open: no options", () => env.open(), "INVALID_ARGUMENT"],
      ["open: no key", () => env.open({ schema: people }), "INVALID_ARGUMENT"],
      ["open: key not a column", () => env.open({ schema: people, key: "nope" }), "INVALID_ARGUMENT"],
      ["open: unknown type", () => env.open({ schema: { id: "utf9" }, key: "id" }), "INVALID_ARGUMENT"],
      ["open: empty schema", () => env.open({ schema: {}, key: "id" }), "INVALID_ARGUMENT"],
      ["open: list key", () => env.open({ schema: { id: { type: "list", items: "int32" } }, key: "id" }), "INVALID_ARGUMENT"],
      ["open: list without items", () => env.open({ schema: { id: "utf8", l: { type: "list" } }, key: "id" }), "INVALID_ARGUMENT"],
      ["open: unknown option", () => env.open({ schema: people, key: "id", sael: "never" }), "INVALID_ARGUMENT"],
      ["open: unknown column property", () => env.open({ schema: { id: "utf8", n: { type: "int32", nulable: false } }, key: "id" }), "INVALID_ARGUMENT"],
      ["open: unknown storage property", () => env.open({ schema: people, key: "id", storage: { kind: "memory", path: "x" } }), "INVALID_ARGUMENT"],
      ["open: unknown storage kind", () => env.open({ schema: people, key: "id", storage: { kind: "ftp" } }), "INVALID_ARGUMENT"],
      ["open: bad seal", () => env.open({ schema: people, key: "id", seal: { rows: -1 } }), "INVALID_ARGUMENT"],
      ["open: two seal policies", () => env.open({ schema: people, key: "id", seal: { rows: 1, bytes: 1 } }), "INVALID_ARGUMENT"],
      ["open: bad strategy", () => env.open({ schema: people, key: "id", compaction: { strategy: "fifo" } }), "INVALID_ARGUMENT"],
      ["open: stop below slowdown", () => env.open({ schema: people, key: "id", compaction: { l0Backpressure: { slowdownFiles: 8, stopFiles: 4 } } }), "INVALID_ARGUMENT"],
      ["open: bad ack mode", () => env.open({ schema: people, key: "id", commitAckMode: "eventually" }), "INVALID_ARGUMENT"],
      ["open: pointReadBlocks not a boolean", () => env.open({ schema: people, key: "id", pointReadBlocks: "yes" }), "INVALID_ARGUMENT"],
      ["open: tailPack not a boolean", () => env.open({ schema: people, key: "id", tailPack: 1 }), "INVALID_ARGUMENT"],
      ["open: wal with sealEveryBatch", () => env.open({ schema: people, key: "id", durability: "sealEveryBatch", wal: {} }), "INVALID_ARGUMENT"],
      ["open: bad schema bytes", () => env.open({ schema: new Uint8Array([1, 2, 3]), key: "id" }), "INVALID_ARGUMENT"],
      ["put: not rows", () => db.put("rows"), "INVALID_ARGUMENT"],
      ["put: a number", () => db.put(42), "INVALID_ARGUMENT"],
      ["put: row not an object", () => db.put([1]), "INVALID_ARGUMENT"],
      ["put: null key", () => db.put([{ id: null, tag: "x" }]), "KEY_NULL"],
      ["put: missing key", () => db.put([{ tag: "x" }]), "KEY_NULL"],
      ["put: unknown column", () => db.put([{ id: "x", tag: "x", color: "red" }]), "SCHEMA_MISMATCH"],
      ["put: wrong type", () => db.put([{ id: "x", tag: "x", score: "high" }]), "TYPE_MISMATCH"],
      ["put: int out of range", () => db.put([{ id: "x", tag: "x", n: 2 ** 40 }]), "TYPE_MISMATCH"],
      ["put: null in non-null column", () => db.put([{ id: "x", tag: null }]), "TYPE_MISMATCH"],
      ["put: nested value in scalar column", () => db.put([{ id: "x", tag: ["a"] }]), "TYPE_MISMATCH"],
      ["put: invalid IPC bytes", () => db.put(new Uint8Array([255, 255, 255, 255, 1, 0, 0, 0, 9])), "INVALID_ARGUMENT"],
      ["put: IPC whose header claims a 1 TiB body", () => db.put(fx().bomb), "INVALID_ARGUMENT"],
      ["put: IPC cut in the middle", () => db.put(fx().cut), "INVALID_ARGUMENT"],
      ["put: lone surrogate in a key", () => db.put([{ id: "cut\ud83d", tag: "x" }]), "INVALID_ARGUMENT"],
      ["put: lone surrogate in a value", () => db.put([{ id: "x", tag: "a\udc00b" }]), "INVALID_ARGUMENT"],
      ["put: lone surrogate after non-ASCII", () => db.put([{ id: "x", tag: "é\ud800" }]), "INVALID_ARGUMENT"],
      ["get: lone surrogate key", () => db.get("cut\ud83c"), "INVALID_ARGUMENT"],
      ["delete: lone surrogate key", () => db.delete("cut\ud83c"), "INVALID_ARGUMENT"],
      ["scan: lone surrogate bound", () => db.scan({ start: "\udfff" }), "INVALID_ARGUMENT"],
      ["scan: lone surrogate filter value", () => db.scan({ filter: f.eq("tag", "\ud83d") }), "INVALID_ARGUMENT"],
      ["put: IPC of another schema", () => db.put(fx().other), "SCHEMA_MISMATCH"],
      ["put: bigint beyond 64 bits", () => db.put([{ id: "x", tag: "x", n: 2n ** 70n }]), "INVALID_ARGUMENT"],
      ["get: no key", () => db.get(), "INVALID_ARGUMENT"],
      ["get: object key", () => db.get({ id: "a" }), "INVALID_ARGUMENT"],
      ["get: wrong key type", () => db.get(12), "TYPE_MISMATCH"],
      ["getRow: lone surrogate key", () => db.getRow("cut\ud83c"), "INVALID_ARGUMENT"],
      ["scanRows: bad signal", () => db.scanRows({ signal: {} }).next(), "INVALID_ARGUMENT"],
      ["scanStream: unknown option", () => db.scanStream({ reverse: true, limt: 2 }), "INVALID_ARGUMENT"],
      ["delete: empty array", () => db.delete([]), "INVALID_ARGUMENT"],
      ["scan: options not an object", () => db.scan("all"), "INVALID_ARGUMENT"],
      ["scan: misspelt option (would return every row)", () => db.scan({ limt: 1 }), "INVALID_ARGUMENT"],
      ["scanCursor: misspelt option", () => db.scanCursor({ revers: true }), "INVALID_ARGUMENT"],
      ["snapshot scan: misspelt option", async () => (await db.snapshot()).scan({ prefx: "k" }), "INVALID_ARGUMENT"],
      ["snapshot scan: freshness (it reads at its own timestamp)", async () => (await db.snapshot()).scan({ freshness: "strict" }), "INVALID_ARGUMENT"],
      ["openInWorker: misspelt file option", () => env.Anax.openInWorker({ schema: people, key: "id" }, { wrkerUrl: "x.js" }), "INVALID_ARGUMENT"],
      ["openInWorker: files not a plain object", () => env.Anax.openInWorker({ schema: people, key: "id" }, "x.js"), "INVALID_ARGUMENT"],
      ["scan: unknown projection column", () => db.scan({ projection: ["nope"] }), "INVALID_ARGUMENT"],
      ["scan: negative limit", () => db.scan({ limit: -1 }), "INVALID_ARGUMENT"],
      ["scan: reverse not boolean", () => db.scan({ reverse: "yes" }), "INVALID_ARGUMENT"],
      ["scan: filter unknown column", () => db.scan({ filter: f.eq("nope", 1) }), "INVALID_ARGUMENT"],
      ["scan: filter two operators", () => db.scan({ filter: { eq: ["id", "a"], ne: ["id", "b"] } }), "INVALID_ARGUMENT"],
      ["scan: filter unknown operator", () => db.scan({ filter: { like: ["id", "a%"] } }), "INVALID_ARGUMENT"],
      ["scan: filter wrong arity", () => db.scan({ filter: { between: ["score", 1] } }), "INVALID_ARGUMENT"],
      ["scan: filter type mismatch", () => db.scan({ filter: f.gt("score", "high") }), "TYPE_MISMATCH"],
      ["scan: filter not an object", () => db.scan({ filter: "score > 1" }), "INVALID_ARGUMENT"],
      ["scan: bad bound", () => db.scan({ start: { a: 1 } }), "INVALID_ARGUMENT"],
      ["scanCursor: bad options", () => db.scanCursor({ limit: 1.5 }), "INVALID_ARGUMENT"],
      ["at: bad argument", () => db.at("yesterday"), "INVALID_ARGUMENT"],
      ["compactPending: bad count", () => db.compactPending(-3), "INVALID_ARGUMENT"],
    ];
    ok(table.length >= 30, "at least 30 cases");
    for (const [what, call, code] of table) await rejects(call, code, what);
    // Oversized values are stored intact, not truncated or rejected by accident.
    const huge = new Uint8Array(2 << 20).fill(7);
    await db.put([{ id: "huge", tag: big, blob: huge }]);
    const [h] = rows(await db.get("huge"));
    eq([h.blob.length, h.blob[12345], h.tag.length], [2 << 20, 7, 64], "a 2 MiB value");
    await db.put([{ id: "after", tag: "ok", n: 5 }]);
    eq(ids(await db.scan()), ["after", "huge", "keep"], "the database works after every bad call");
    // Well-formed surrogate pairs (emoji) are kept exactly, on both put paths.
    await db.put([{ id: "emoji\ud83d\ude00", tag: "\ud83c\udf89" }]);
    await db.put([{ id: "emoji2", tag: "\ud83c\udf89", blob: new Uint8Array([1]) }]);
    eq(rows(await db.get("emoji\ud83d\ude00")).map((r) => r.tag), ["\ud83c\udf89"], "an emoji key and value");
    eq(rows(await db.get("emoji2")).map((r) => r.tag), ["\ud83c\udf89"], "an emoji value, general path");
    await db.close();
  });

  test("bad input matrix: every call with hostile arguments rejects with a code, the instance keeps working", async () => {
    const db = await open({ schema: { id: "utf8", n: { type: "int32", nullable: true }, s: { type: "utf8", nullable: true } }, key: "id" });
    await db.put([{ id: "keep", n: 1, s: "x" }]);
    const hostile = {
      symbol: Symbol("s"),
      function: () => 1,
      map: new Map([["id", "a"]]),
      "bad date": new Date(NaN),
      NaN: NaN,
      "-Infinity": -Infinity,
      "huge bigint": 10n ** 40n,
      "deep array": JSON.parse("[".repeat(200) + "]".repeat(200)),
      "throwing getter": { get id() { throw new Error("getter says no"); } },
      "lone surrogate": "a\udc00",
      "garbage bytes": new Uint8Array([255, 255, 255, 255, 200, 0, 0, 0, 1, 2, 3]),
      "ArrayBuffer of zeros": new ArrayBuffer(64),
    };
    const calls = {
      "put(v)": (v) => db.put(v),
      "put([v])": (v) => db.put([v]),
      "put([{id: v}])": (v) => db.put([{ id: v }]),
      "put([{id, n: v}])": (v) => db.put([{ id: "m", n: v }]),
      "get(v)": (v) => db.get(v),
      "delete(v)": (v) => db.delete(v),
      "scan({start: v})": (v) => db.scan({ start: v }),
      "scan({limit: v})": (v) => db.scan({ limit: v }),
      "scan({filter: v})": (v) => db.scan({ filter: v }),
      "scan({filter: eq(n, v)})": (v) => db.scan({ filter: f.eq("n", v) }),
      "scan({projection: v})": (v) => db.scan({ projection: v }),
      "scanCursor({end: v})": (v) => db.scanCursor({ end: v }),
      "at(v)": (v) => db.at(v),
      "compactPending(v)": (v) => db.compactPending(v),
    };
    let rejected = 0;
    const uncoded = [];
    for (const [callName, call] of Object.entries(calls)) {
      for (const [valueName, v] of Object.entries(hostile)) {
        const what = `${callName} with ${valueName}`;
        let outcome;
        try {
          outcome = await call(v);
        } catch (e) {
          if (e instanceof AnaxError && e.code !== "INTERNAL" && e.message.length >= 10) rejected++;
          else uncoded.push(`${what}: ${e && e.name} ${e && e.code} ${e && e.message}`);
          continue;
        }
        // A few are valid calls (an ArrayBuffer of zeros scans nothing...): they must not
        // have changed the table.
        if (outcome && typeof outcome.close === "function") await outcome.close();
        if (outcome && typeof outcome.release === "function") outcome.release();
      }
    }
    console.log(`bad_js_inputs: ${rejected} coded rejections of ${Object.keys(calls).length * Object.keys(hostile).length} hostile calls, ${uncoded.length} uncoded`);
    eq(uncoded, [], "every rejection is a coded AnaxError");
    ok(rejected >= 100, `at least 100 distinct bad calls rejected (got ${rejected})`);
    eq(ids(await db.scan()), ["keep"], "nothing written by any bad call");
    await db.put([{ id: "after", n: 2 }]);
    eq(ids(await db.scan()), ["after", "keep"], "the instance keeps working");
    await db.close();
    await rejects(db.get("keep"), "CLOSED", "a call after close");
    await rejects(db.put([{ id: "z" }]), "CLOSED", "a put after close");
  });

  test("checkStorage passes the memory storage contract and rejects an unknown kind; initialize is idempotent", async () => {
    if (env.initialize) {
      await env.initialize();
      await env.initialize();
    }
    const passed = await env.Anax.checkStorage({ kind: "memory" });
    ok(typeof passed === "number" && passed >= 8, `conformance cases passed: ${passed}`);
    await rejects(env.Anax.checkStorage({ kind: "floppy" }), "INVALID_ARGUMENT", "checkStorage of an unknown kind");
  });

  test("persistStorage reports whether the browser may evict the origin's storage", async () => {
    const browser = typeof globalThis.navigator?.storage?.persisted === "function";
    const now = await env.Anax.persistStorage();
    if (browser) ok(typeof now === "boolean", `persisted() in a browser: ${now}`);
    else eq(now, null, "no StorageManager here");
    const asked = await env.Anax.persistStorage(true);
    if (browser) ok(typeof asked === "boolean", `persist() in a browser: ${asked}`);
    else eq(asked, null, "no StorageManager here");
    await rejects(env.Anax.persistStorage("yes"), "INVALID_ARGUMENT", "persistStorage with a string");
  });

  for (const backend of env.storages ?? []) {
    test(`storage ${backend.name}: rows, a delete and a write after a flush survive close and reopen`, async () => {
      const storage = backend.storage(tag(backend.name));
      const a = await env.open({ schema: people, key: "id", storage, tableName: "t" });
      await a.put(peopleRows(25));
      await a.delete("p00001");
      await a.flush();
      await a.put([{ id: "p00002", tag: "after-flush" }]);
      await a.close();
      const b = await env.open({ schema: people, key: "id", storage, tableName: "t" });
      const all = rows(await b.scan());
      eq(all.length, 24, "rows after reopen");
      eq(all.find((r) => r.id === "p00002").tag, "after-flush", "newest version after reopen");
      await b.close();
    });
  }

  return list;
}

/** An error as one string for the JSON results: its message (which names the case), code and stack. */
function describe(error) {
  const kind = error?.code ? ` [${error.name} ${error.code}]` : "";
  const stack = typeof error?.stack === "string" ? `\n${error.stack}` : "";
  return `${error?.message ?? show(error)}${kind}${stack}`;
}

/**
 * Runs every case (or those whose name contains `filterName`) in order; resolves to
 * [{ name, ok, ms, error }] (never rejects), `error` beginning with the case's name.
 * `onCase(name)`, when given, is told each case's name before it starts, so a runner can say
 * which case a hang stopped in.
 */
export async function run(env, filterName, onCase) {
  const results = [];
  for (const c of cases(env)) {
    if (filterName && !c.name.includes(filterName)) continue;
    onCase?.(c.name);
    const start = Date.now();
    try {
      await c.fn();
      results.push({ name: c.name, ok: true, ms: Date.now() - start });
    } catch (e) {
      results.push({ name: c.name, ok: false, ms: Date.now() - start, error: describe(e) });
    }
  }
  return results;
}
