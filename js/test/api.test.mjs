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
      for (const call of [() => Anax.__trapForTests("${mode}"), () => db.get("a")]) {
        try { await call(); codes.push("resolved"); } catch (e) { codes.push(e.code ?? String(e)); }
      }
      console.log(JSON.stringify(codes));`;
    const { execFileSync } = await import("node:child_process");
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: new URL("../..", import.meta.url), encoding: "utf8", timeout: 30_000 });
    if (out.trim() !== JSON.stringify(["INTERNAL", "INTERNAL"])) throw new Error(out);
  });
}
