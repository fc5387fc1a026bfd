// The shared suite inside workerd: GET /run runs it against the Workers entry (memory, the R2
// binding, and S3 when S3_ENDPOINT is bound); GET /trap checks the INTERNAL path last.
import { Anax, AnaxError, filter } from "../workerd.js";
import { run } from "../../target/js-test/suite.mjs";

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/trap") {
      const db = await Anax.open({ schema: { id: "utf8" }, key: "id" });
      const codes = [];
      const mode = url.searchParams.get("mode") ?? "sync";
      for (const call of [() => Anax[Symbol.for("anax.trapForTests")](mode), () => db.get("a")]) {
        try {
          await call();
          codes.push("resolved");
        } catch (e) {
          codes.push(e instanceof AnaxError ? e.code : String(e));
        }
      }
      return Response.json(codes);
    }
    const storages = [{ name: "r2", storage: (tag) => ({ kind: "bucket", bucket: env.BUCKET, prefix: tag }) }];
    if (env.S3_ENDPOINT) {
      storages.push({
        name: "s3",
        storage: (tag) => ({ kind: "s3", bucket: env.S3_BUCKET, prefix: tag, endpoint: env.S3_ENDPOINT, accessKeyId: "testing", secretAccessKey: "testing" }),
      });
    }
    // apache-arrow's builders need code generation, which workerd forbids: Node made these.
    const given = await request.json();
    const fixtures = Object.fromEntries(Object.entries(given).map(([k, v]) => [k, Uint8Array.from(atob(v), (c) => c.charCodeAt(0))]));
    const env2 = { Anax, AnaxError, filter, placement: "workerd", open: (o) => Anax.open(o), storages, fixtures };
    return Response.json(await run(env2, url.searchParams.get("only")));
  },
};
