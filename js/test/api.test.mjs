// The shared JS API suite (js/test/suite.mjs) under Node, one node:test per case.
import { test } from "node:test";
import { Anax, AnaxError, filter } from "anax";
import { cases } from "./suite.mjs";

const env = { Anax, AnaxError, filter, placement: "node", open: (o) => Anax.open(o), storages: [] };

for (const c of cases(env)) test(c.name, c.fn);

test("a wasm trap becomes INTERNAL and poisons the instance", async () => {
  const db = await Anax.open({ schema: { id: "utf8" }, key: "id" });
  let error;
  try {
    await Anax.__trapForTests("sync");
  } catch (e) {
    error = e;
  }
  if (!(error instanceof AnaxError) || error.code !== "INTERNAL") throw new Error(`expected INTERNAL, got ${error}`);
  let after;
  try {
    await db.get("a");
  } catch (e) {
    after = e;
  }
  if (after?.code !== "INTERNAL") throw new Error(`expected INTERNAL after the trap, got ${after}`);
});
