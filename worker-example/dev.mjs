// Serves the worker example on 127.0.0.1 inside workerd (Miniflare), the way `wrangler dev`
// would, without needing a Cloudflare account or wrangler's newer Node.
import { Miniflare } from "miniflare";
import path from "node:path";
import { repoRoot, devOptions } from "./config.mjs";

const port = Number(process.env.PORT ?? 8787);
// The local R2 bucket persists across restarts (delete the directory to start over).
const persist = path.join(repoRoot, ".anax-dev/r2");
const mf = new Miniflare(devOptions({ host: "127.0.0.1", port, r2Persist: persist }));
const url = await mf.ready;
const base = url.origin;
const token = process.env.ANAX_TOKEN;
const auth = token ? ` -H "authorization: Bearer $ANAX_TOKEN"` : "";
console.log(`Anax worker example listening on ${base} (Ctrl-C to stop)

Tables live in a local R2 bucket persisted under ${persist}.
${
  token
    ? "Requests need the ANAX_TOKEN from this shell's environment as a bearer token."
    : "No ANAX_TOKEN in the environment: this local server takes requests without a token\n(a deployed worker never does; see worker-example/README.md)."
}
Try it:
  curl -X POST ${base}/tables/demo/rows -H 'content-type: application/json'${auth} \\
    -d '[{"id":"a","name":"Al","score":1.5},{"id":"b","name":"Bo","score":2},{"id":"c","name":"Cy"}]'
  curl -s ${base}/tables/demo/rows/b -H 'accept: application/json'${auth}
  curl -s '${base}/tables/demo/scan?start=a&end=c&limit=10' -H 'accept: application/json'${auth}
  curl -s ${base}/tables/demo/scan -o scan.arrows${auth} && ls -l scan.arrows
  curl -s ${base}/tables/demo/stats${auth}
  curl -s ${base}/cdn-cgi/handler/scheduled    # run the cron (compaction + GC) now
`);

const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
