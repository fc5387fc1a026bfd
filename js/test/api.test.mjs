// The shared JS API suite (js/test/suite.mjs) under Node, one node:test per case.
import { test } from "node:test";
import { Anax, AnaxError, filter } from "anax";
import { cases } from "./suite.mjs";

const env = { Anax, AnaxError, filter, placement: "node", open: (o) => Anax.open(o), storages: [] };

for (const c of cases(env)) test(c.name, c.fn);

// Each trap test poisons this process's instance, so the async one (a trap inside a task,
// where no caller's promise sees it) runs in a child process of its own.
for (const mode of ["async", "sync"]) {
  test(`a wasm trap (${mode}) becomes INTERNAL and poisons the instance`, async () => {
    const script = `
      import { Anax } from "anax";
      const db = await Anax.open({ schema: { id: "utf8" }, key: "id" });
      const codes = [];
      for (const call of [() => Anax[Symbol.for("anax.trapForTests")]("${mode}"), () => db.get("a")]) {
        try { await call(); codes.push("resolved"); } catch (e) { codes.push(e.code ?? String(e)); }
      }
      console.log(JSON.stringify(codes));`;
    const { execFileSync } = await import("node:child_process");
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: new URL("../..", import.meta.url), encoding: "utf8", timeout: 30_000 });
    if (out.trim() !== JSON.stringify(["INTERNAL", "INTERNAL"])) throw new Error(out);
  });
}

test("every entry exports what index.d.ts declares as values, and the classes are the instances' own", async () => {
  const anax = await import("anax");
  const { Db, Snapshot, Transaction, ScanCursor } = anax;
  for (const [name, C] of Object.entries({ Db, Snapshot, Transaction, ScanCursor })) {
    if (typeof C !== "function") throw new Error(`${name} is not exported as a class`);
  }
  const db = await anax.Anax.open({ schema: { id: "utf8" }, key: "id" });
  await db.put([{ id: "a" }]);
  const checks = [
    [db instanceof Db, "Db"],
    [db.snapshot() instanceof Snapshot, "Snapshot"],
    [db.beginTransaction() instanceof Transaction, "Transaction"],
    [(await db.scanCursor()) instanceof ScanCursor, "ScanCursor"],
  ];
  for (const [holds, name] of checks) if (!holds) throw new Error(`an instance is not instanceof ${name}`);
  await db.close();
  // The test hook is no part of the public surface.
  if ("__trapForTests" in anax.Anax || Object.keys(anax.Anax).some((k) => k.startsWith("__"))) {
    throw new Error("a test hook is on Anax");
  }
  // The browser, Workers and Node entries export the same names, and so does the declaration file.
  const { readFileSync } = await import("node:fs");
  const names = (file) => {
    const src = readFileSync(new URL(`../${file}`, import.meta.url), "utf8");
    const out = new Set();
    for (const m of src.matchAll(/^export\s*\{([^}]*)\}/gm)) for (const n of m[1].split(",")) out.add(n.trim().split(/\s+as\s+/).pop());
    for (const m of src.matchAll(/^export (?:const|function|async function|class) (\w+)/gm)) out.add(m[1]);
    out.delete("");
    return [...out].sort().join(",");
  };
  const node = names("node.js");
  for (const file of ["index.js", "workerd.js"]) if (names(file) !== node) throw new Error(`${file} exports ${names(file)}, node.js ${node}`);
  const dts = readFileSync(new URL("../index.d.ts", import.meta.url), "utf8");
  for (const n of node.split(",")) {
    if (!new RegExp(`^export (?:declare )?(?:const|function|class) ${n}\\b`, "m").test(dts)) throw new Error(`index.d.ts declares no value ${n}`);
  }
});
