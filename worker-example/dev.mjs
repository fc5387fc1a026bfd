// Serves the worker example on 127.0.0.1 inside workerd (Miniflare), the way `wrangler dev`
// would, without needing a Cloudflare account or wrangler's newer Node.
import { Miniflare } from "miniflare";
import { workerOptions } from "./config.mjs";

const port = Number(process.env.PORT ?? 8787);
const mf = new Miniflare(workerOptions({ host: "127.0.0.1", port }));
const url = await mf.ready;
const base = url.origin;
console.log(`Anax worker example listening on ${base} (Ctrl-C to stop)

Try it:
  curl -X PUT ${base}/rows -H 'content-type: application/json' \\
    -d '[{"id":"a","name":"Al","score":1.5},{"id":"b","name":"Bo","score":2},{"id":"c","name":"Cy"}]'
  curl -s ${base}/rows/b -o b.arrows && ls -l b.arrows
  curl -s '${base}/scan?start=a&end=c&limit=10' -o scan.arrows && ls -l scan.arrows
  curl -s ${base}/rows/nope
`);

const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
