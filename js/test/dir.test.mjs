// `storage: { kind: "dir", path }` in Node: the JS API suite on it, the storage contract, and
// what a directory adds: rows that outlive the process (a crash included), one writer at a
// time, and a lock left by a dead process broken.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { tmpdir, hostname } from "node:os";
import { join } from "node:path";
import { execFileSync, spawn } from "node:child_process";
import { Anax, AnaxError, filter } from "anax";
import { cases } from "./suite.mjs";

const root = mkdtempSync(join(tmpdir(), "anax-dir-test-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, `t${++n}`);

const env = {
  Anax,
  AnaxError,
  filter,
  placement: "node",
  open: (o) => Anax.open(o),
  storages: [{ name: "dir", storage: () => ({ kind: "dir", path: fresh() }) }],
  freshStorage: () => ({ kind: "dir", path: fresh() }),
};
for (const c of cases(env)) test(`dir: ${c.name}`, c.fn);

const schema = { id: "utf8", body: "utf8" };
const code = (want) => (e) => e instanceof AnaxError && e.code === want;

test("dir: the storage contract holds (Anax.checkStorage), also beside an open handle", async () => {
  const path = fresh();
  assert.ok((await Anax.checkStorage({ kind: "dir", path })) > 5);
  const db = await Anax.open({ schema, key: "id", storage: { kind: "dir", path } });
  assert.ok((await Anax.checkStorage({ kind: "dir", path })) > 5);
  await db.close();
  await assert.rejects(Anax.checkStorage({ kind: "dir", path: "" }), code("INVALID_ARGUMENT"));
});

test("dir: one writer per directory; the second open gets CONFLICT naming the holder, and opens once the first closes", async () => {
  const storage = { kind: "dir", path: fresh() };
  const a = await Anax.open({ schema, key: "id", storage });
  await assert.rejects(Anax.open({ schema, key: "id", storage }), (e) => {
    assert.equal(e.code, "CONFLICT");
    assert.match(e.message, new RegExp(`process ${process.pid} on host`));
    return true;
  });
  await a.put([{ id: "k", body: "v" }]);
  await a.close();
  const b = await Anax.open({ schema, key: "id", storage });
  assert.deepEqual(await b.getRow("k"), { id: "k", body: "v" });
  await b.close();
  await assert.rejects(Anax.open({ schema, key: "id", storage: { kind: "dir" } }), code("INVALID_ARGUMENT"));
  await assert.rejects(Anax.open({ schema, key: "id", storage: { kind: "dir", path: storage.path, mode: 1 } }), code("INVALID_ARGUMENT"));
});

test("dir: a lock left by a process that died on this host is broken; one from another host is a CONFLICT", async () => {
  const path = fresh();
  const db = await Anax.open({ schema, key: "id", storage: { kind: "dir", path } });
  await db.close();
  // A pid no process has (Linux caps pids at 2^22).
  writeFileSync(join(path, "LOCK.pid"), JSON.stringify({ pid: 2 ** 22 + 7, host: hostname(), token: "dead" }));
  const again = await Anax.open({ schema, key: "id", storage: { kind: "dir", path } });
  assert.equal(JSON.parse(readFileSync(join(path, "LOCK.pid"), "utf8")).pid, process.pid);
  await again.close();
  assert.ok(!existsSync(join(path, "LOCK.pid")), "close removes the lock");
  writeFileSync(join(path, "LOCK.pid"), JSON.stringify({ pid: 1, host: "elsewhere.example", token: "far" }));
  await assert.rejects(Anax.open({ schema, key: "id", storage: { kind: "dir", path } }), (e) => e.code === "CONFLICT" && /elsewhere\.example/.test(e.message) && /LOCK\.pid/.test(e.message));
  rmSync(join(path, "LOCK.pid"));
});

test("dir: every put acknowledged before the process is killed (SIGKILL, no close) is there after reopening, long keys and megabyte values included", async () => {
  const path = fresh();
  const big = "é".repeat(1 << 20);
  const script = `
    const big = "é".repeat(1 << 20);
    import { Anax } from "anax";
    const db = await Anax.open({ schema: ${JSON.stringify(schema)}, key: "id", storage: { kind: "dir", path: ${JSON.stringify(path)} } });
    for (let i = 0; i < 200; i++) {
      await db.put([{ id: "ключ-".repeat(20) + String(i).padStart(4, "0"), body: i % 50 === 0 ? big : "v" + i }]);
      process.stdout.write("acked " + i + "\\n");
    }
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { cwd: new URL("../..", import.meta.url), stdio: ["ignore", "pipe", "inherit"] });
  let acked = -1;
  await new Promise((resolve, reject) => {
    let buf = "";
    child.stdout.on("data", (d) => {
      buf += d;
      const m = [...buf.matchAll(/acked (\d+)/g)];
      if (m.length) acked = Number(m[m.length - 1][1]);
      if (acked >= 120) {
        child.kill("SIGKILL");
        resolve();
      }
    });
    child.on("exit", () => resolve());
    child.on("error", reject);
  });
  await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.on("exit", resolve)));
  assert.ok(acked >= 120, `the child acknowledged ${acked} puts`);
  // The dead child's lock is broken; every acknowledged row is there, whole.
  const db = await Anax.open({ schema, key: "id", storage: { kind: "dir", path } });
  for (let i = 0; i <= acked; i++) {
    const row = await db.getRow("ключ-".repeat(20) + String(i).padStart(4, "0"));
    assert.ok(row, `row ${i} of ${acked} acknowledged`);
    assert.equal(row.body, i % 50 === 0 ? big : `v${i}`);
  }
  await db.close();
});

test("dir: a path under a file is STORAGE naming the errno (backendCode) with Node's error as cause", async () => {
  const file = join(root, `plain-file-${++n}`);
  writeFileSync(file, "not a directory");
  await assert.rejects(Anax.open({ schema, key: "id", storage: { kind: "dir", path: join(file, "t") } }), (e) => {
    assert.equal(e.code, "STORAGE", e.message);
    assert.ok(["ENOTDIR", "EEXIST"].includes(e.backendCode), e.backendCode);
    assert.equal(e.cause?.code, e.backendCode, "Node's own error is the cause");
    assert.equal(e.retryable, false);
    return true;
  });
});

test("dir: a relative path is the process's working directory's", async () => {
  const cwd = fresh();
  mkdirSync(cwd, { recursive: true });
  const script = `
    import { Anax } from "anax";
    process.chdir(${JSON.stringify(cwd)});
    const db = await Anax.open({ schema: { id: "utf8" }, key: "id", storage: { kind: "dir", path: "data/t" } });
    await db.put([{ id: "x" }]);
    await db.close();`;
  execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: new URL("../..", import.meta.url), timeout: 30_000 });
  assert.ok(readdirSync(join(cwd, "data", "t")).length > 0, "the table is under the working directory");
});

test("dir: an open reports its WAL replay; one stopped by its signal lets go of the lock, and the next open replays every row", async () => {
  const path = fresh();
  // A process that writes through a small-segment WAL and exits without closing: its rows
  // live only in the log.
  const script = `
    import { Anax } from "anax";
    const db = await Anax.open({ schema: ${JSON.stringify(schema)}, key: "id", storage: { kind: "dir", path: ${JSON.stringify(path)} }, wal: { segmentBytes: 4096 }, seal: "never" });
    for (let i = 0; i < 40; i++) await db.put([{ id: "κλειδί-".repeat(12) + i, body: "x".repeat(500) }]);
    process.exit(0);`;
  execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: new URL("../..", import.meta.url), stdio: "inherit" });
  const opts = { schema, key: "id", storage: { kind: "dir", path }, wal: { segmentBytes: 4096 }, seal: "never" };
  const stop = new AbortController();
  const heard = [];
  const onProgress = (p) => {
    heard.push([p.phase, p.done, p.total]);
    if (p.done === 2) stop.abort(new Error("enough"));
  };
  await assert.rejects(Anax.open({ ...opts, signal: stop.signal, onProgress }), (e) => code("ABORTED")(e) && e.cause?.message === "enough");
  const segments = heard[0][2];
  assert.ok(segments >= 3, `${segments} segments`);
  assert.deepEqual(heard, [["replay", 0, segments], ["replay", 1, segments], ["replay", 2, segments]]);
  // Not CONFLICT: the stopped open released the directory's lock.
  heard.length = 0;
  const db = await Anax.open({ ...opts, onProgress: (p) => heard.push([p.phase, p.done, p.total]) });
  assert.deepEqual(heard.at(-1), ["replay", segments, segments]);
  assert.equal(await db.count(), 40);
  await db.close();
});
