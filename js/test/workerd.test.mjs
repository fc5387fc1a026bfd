// The shared JS API suite inside workerd (Miniflare 4), with the R2 binding and S3 on moto.
import { test, before, after } from "node:test";
import path from "node:path";
import { Miniflare } from "miniflare";
import { repoRoot, workerOptions } from "../../worker-example/config.mjs";
import { startMoto } from "../../worker-example/fixtures/moto.mjs";
import { bundleSuite } from "./bundle.mjs";
import { arrowFixtures } from "./suite.mjs";

const AUTH = { authorization: "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00" };
let moto;
let mf;

before(async () => {
  bundleSuite();
  moto = await startMoto();
  const res = await fetch(`${moto.endpoint}/suite`, { method: "PUT", headers: AUTH });
  if (res.status !== 200) throw new Error(`moto bucket: ${res.status}`);
  mf = new Miniflare(
    workerOptions({
      scriptPath: path.join(repoRoot, "js/test/workerd-suite.js"),
      bindings: { S3_ENDPOINT: moto.endpoint, S3_BUCKET: "suite" },
    }),
  );
  await mf.ready;
});

after(async () => {
  await mf?.dispose();
  moto?.stop();
});

test("the JS API suite in workerd", async (t) => {
  const fixtures = Object.fromEntries(Object.entries(arrowFixtures()).map(([k, v]) => [k, Buffer.from(v).toString("base64")]));
  const res = await mf.dispatchFetch("http://localhost/run", { method: "POST", body: JSON.stringify(fixtures) });
  const results = await res.json();
  if (!Array.isArray(results)) throw new Error(JSON.stringify(results));
  for (const r of results) {
    await t.test(r.name, () => {
      if (!r.ok) throw new Error(r.error);
    });
  }
});

// A fresh isolate per mode: the first trap poisons the instance for good.
for (const mode of ["async", "sync"]) {
  test(`a wasm trap (${mode}) in workerd becomes INTERNAL and poisons the instance`, async () => {
    const fresh = new Miniflare(workerOptions({ scriptPath: path.join(repoRoot, "js/test/workerd-suite.js") }));
    try {
      const codes = await (await fresh.dispatchFetch(`http://localhost/trap?mode=${mode}`)).json();
      if (JSON.stringify(codes) !== JSON.stringify(["INTERNAL", "INTERNAL"])) throw new Error(JSON.stringify(codes));
    } finally {
      await fresh.dispose();
    }
  });
}
