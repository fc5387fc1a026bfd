// The option names index.d.ts declares are the names the runtime accepts, object by object.
// Options are parsed by hand in src/wasm (serde-wasm-bindgen would declare them once, but its
// measured cost, ~4.9 kB gzipped for the first derived struct and ~0.6 kB per further one, does
// not fit the size budget's headroom; see docs/benchmarks.md), so this test is what keeps the
// two from drifting: TypeScript's own checker reads the declared names, and each options
// object is probed with a name nobody declares, whose refusal lists what the runtime takes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { Anax } from "anax";

const file = fileURLToPath(new URL("../index.d.ts", import.meta.url));
const program = ts.createProgram([file], { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022 });
const checker = program.getTypeChecker();
const exported = checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(file)));

function declared(name) {
  const symbol = exported.find((s) => s.name === name);
  assert.ok(symbol, `index.d.ts exports ${name}`);
  return checker.getDeclaredTypeOfSymbol(symbol);
}

/** The object types a value of `type` may be (unions and intersections opened up). */
function objects(type) {
  if (type.isUnion()) return type.types.flatMap(objects);
  // `ScanOptions & GetOptions`: one object with the names of both.
  if (type.isIntersection()) return [type];
  if (!(type.flags & ts.TypeFlags.Object)) return [];
  if (checker.isArrayType(type) || type.getCallSignatures().length > 0) return [];
  const name = type.getSymbol()?.getName();
  // Values the runtime takes as they are, not as options objects.
  if (["Uint8Array", "ArrayBuffer", "AbortSignal", "Date", "BucketLike", "URL"].includes(name)) return [];
  return [type];
}

/** Property names of every object `type` may be. */
function names(type) {
  const out = new Set();
  for (const t of objects(type)) for (const p of checker.getPropertiesOfType(t)) out.add(p.getName());
  return out;
}

function propType(type, name) {
  const symbol = checker.getPropertyOfType(checker.getNonNullableType(type), name);
  return checker.getNonNullableType(checker.getTypeOfSymbol(symbol));
}

/** The type of parameter `index` of method `method` of the exported interface `owner`. */
function paramType(owner, method, index) {
  const signature = propType(declared(owner), method).getCallSignatures()[0];
  return checker.getNonNullableType(checker.getTypeOfSymbol(signature.getParameters()[index]));
}

const BOGUS = "zzNotAnOption";

/** The names the runtime lists when `call(BOGUS)` refuses the bogus name. */
async function accepted(call, what) {
  let error;
  try {
    const r = await call(BOGUS);
    await r?.close?.();
  } catch (e) {
    error = e;
  }
  assert.ok(error, `${what}: a name nobody declares was accepted`);
  assert.equal(error.code, "INVALID_ARGUMENT", `${what}: ${error.message}`);
  assert.match(error.message, new RegExp(`'[^']*\\b${BOGUS}'`), `${what}: the refusal names the bogus option`);
  const m = /takes (.+)$/.exec(error.message);
  assert.ok(m, `${what}: the refusal lists the accepted names: ${error.message}`);
  return new Set(m[1].split(", "));
}

const sorted = (s) => [...s].sort();
const base = { schema: { id: "utf8" }, key: "id", storage: { kind: "memory" } };

/** `value` placed at `path` (["compaction", "cascade"]) inside `outer`. */
function at(outer, path, value) {
  if (path.length === 0) return { ...outer, ...value };
  const [head, ...rest] = path;
  return { ...outer, [head]: at(outer[head] ?? {}, rest, value) };
}

// Open options the walk does not enter, and why: a schema maps column names (any name is
// valid) to column specs, whose refusal is prose checked by api tests.
const SKIP = new Set(["schema"]);

/**
 * Every options object inside Anax.open's options: declared names against the runtime's, for
 * each object (and for each `kind` of one that has kinds).
 */
async function walk(type, path, checked) {
  const members = objects(type);
  if (members.length === 0) return;
  const kinds = members.map((t) => checker.getPropertyOfType(t, "kind")).filter(Boolean);
  const groups =
    kinds.length === members.length && path.length > 0
      ? members.map((t) => [checker.getTypeOfSymbol(checker.getPropertyOfType(t, "kind")).value, t])
      : [[undefined, type]];
  for (const [kind, t] of groups) {
    const where = path.length ? `options.${path.join(".")}${kind ? ` (kind "${kind}")` : ""}` : "options";
    const fill = kind === undefined ? {} : { kind };
    const runtime = await accepted(
      (bogus) => Anax.open(path.length ? at(base, path, { ...fill, [bogus]: 1 }) : { ...base, [bogus]: 1 }),
      where,
    );
    assert.deepEqual(sorted(runtime), sorted(names(t)), `${where}: index.d.ts and the runtime name the same options`);
    checked.push(where);
    for (const name of names(t)) {
      if (path.length === 0 && SKIP.has(name)) continue;
      for (const member of objects(t)) {
        const symbol = checker.getPropertyOfType(member, name);
        if (!symbol) continue;
        await walk(checker.getNonNullableType(checker.getTypeOfSymbol(symbol)), [...path, name], checked);
      }
    }
  }
}

test("Anax.open: every options object's names in index.d.ts are the names the runtime takes", async () => {
  const checked = [];
  await walk(declared("OpenOptions"), [], checked);
  console.log(`option objects checked: ${checked.length}`);
  // The walk reached every nested object, so a new one cannot slip past unchecked.
  for (const where of [
    "options",
    "options.storage (kind \"s3\")",
    "options.storage (kind \"dir\")",
    "options.seal",
    "options.wal",
    "options.wal.syncPolicy",
    "options.compaction",
    "options.compaction.strategy (kind \"timeWindow\")",
    "options.compaction.l0Backpressure",
    "options.compaction.cascade",
    "options.retention",
    "options.casBackoff",
    "options.minorCompaction",
  ]) {
    assert.ok(checked.includes(where), `checked ${where} (checked: ${checked.join("; ")})`);
  }
});

test("the calls that take options: index.d.ts and the runtime name the same ones", async () => {
  const db = await Anax.open(base);
  await db.put([{ id: "a" }]);
  const snap = await db.snapshot();
  const pairs = [
    ["Db.scan", paramType("DbMethods", "scan", 0), (b) => db.scan({ [b]: 1 })],
    // count shares a scan's list but refuses a projection with its own message.
    ["Db.count", paramType("DbMethods", "count", 0), (b) => db.count({ [b]: 1 }), [], ["projection"]],
    ["Db.get", paramType("DbMethods", "get", 1), (b) => db.get("a", { [b]: 1 })],
    ["Db.getRow", paramType("DbMethods", "getRow", 1), (b) => db.getRow("a", { [b]: 1 })],
    ["Snapshot.scan", paramType("Snapshot", "scan", 0), (b) => snap.scan({ [b]: 1 })],
    ["Db.compact", paramType("DbMethods", "compact", 0), (b) => db.compact({ [b]: 1 })],
    ["Db.gc", paramType("DbMethods", "gc", 0), (b) => db.gc({ [b]: 1 })],
    ["Db.transaction", paramType("DbMethods", "transaction", 1), (b) => db.transaction(async () => {}, { [b]: 1 })],
    ["Db.compactPending", paramType("DbMethods", "compactPending", 1), (b) => db.compactPending(1, { [b]: 1 })],
    // getMany splits `signal` off on the JS side; the rest is each get's.
    ["Db.getMany", paramType("DbMethods", "getMany", 1), (b) => db.getMany(["a"], { [b]: 1 }), ["signal"]],
    ["Snapshot.getMany", paramType("Snapshot", "getMany", 1), (b) => snap.getMany(["a"], { [b]: 1 }), ["signal"]],
    // The streaming reads split `signal` off on the JS side; the rest is a scan's.
    ["Db.scanRows", paramType("DbMethods", "scanRows", 0), (b) => db.scanRows({ [b]: 1 }).next(), ["signal"]],
    ["Db.scanBatches", paramType("DbMethods", "scanBatches", 0), (b) => db.scanBatches({ [b]: 1 }).next(), ["signal"]],
    ["Db.scanStream", paramType("DbMethods", "scanStream", 0), (b) => db.scanStream({ [b]: 1 }), ["signal"]],
  ];
  for (const [what, type, call, jsSide = [], refused = []] of pairs) {
    const runtime = await accepted(call, what);
    for (const n of jsSide) runtime.add(n);
    for (const n of refused) runtime.delete(n);
    assert.deepEqual(sorted(runtime), sorted(names(type)), `${what}: index.d.ts and the runtime name the same options`);
  }
  await assert.rejects(db.count({ projection: ["id"] }), (e) => e.code === "INVALID_ARGUMENT" && /count takes no projection/.test(e.message));
  snap.release();
  await db.close();
});
