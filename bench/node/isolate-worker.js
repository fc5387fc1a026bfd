// The worker example with a round trip added to every call its R2 binding answers
// (env.LATENCY_MS), for bench/node/isolate-concurrency.mjs. The delay follows the call:
// Miniflare's local R2 serves its calls one at a time in this process, which R2 does not, so
// a delay before each call would queue them all at the simulator at once.
import example from "../../worker-example/src/index.js";
import { MemoryBucket } from "./bucket.mjs";

let wrapped;

function slowed(bucket, ms) {
  const out = {};
  for (const m of ["get", "put", "head", "list", "delete"]) {
    out[m] = async (...args) => {
      const answer = await bucket[m](...args);
      if (ms > 0) await new Promise((r) => setTimeout(r, ms));
      return answer;
    };
  }
  return out;
}

// With MEMORY_BUCKET set, an in-memory R2-shaped object stands in for the binding: what the
// figure is without the local R2 simulator's own work in this process.
function envOf(env) {
  const bucket = env.MEMORY_BUCKET ? new MemoryBucket() : env.BUCKET;
  wrapped ??= { ...env, BUCKET: slowed(bucket, Number(env.LATENCY_MS ?? 0)) };
  return wrapped;
}

export default {
  fetch(request, env, ctx) {
    return example.fetch(request, envOf(env), ctx);
  },
  scheduled(event, env, ctx) {
    return example.scheduled(event, envOf(env), ctx);
  },
};
