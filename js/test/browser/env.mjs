// The suite's environment in a browser context (page or dedicated worker), from the page URL's
// query: mode, and S3 on moto when the runner started one.
export function storagesFor(params, { opfs }) {
  const storages = [];
  if (opfs) storages.push({ name: "opfs", storage: (tag) => ({ kind: "opfs", path: `suite/${tag}` }) });
  const s3 = params.get("s3");
  if (s3) {
    storages.push({
      name: "s3",
      storage: (tag) => ({ kind: "s3", bucket: params.get("bucket"), prefix: `suite/${tag}`, endpoint: s3, accessKeyId: "testing", secretAccessKey: "testing" }),
    });
  }
  return storages;
}

/** Runs a trap through `trap` and then a read on `db`; resolves to their rejection codes. */
export async function trapCodes(trap, db) {
  const codes = [];
  for (const call of [trap, () => db.get("a")]) {
    try {
      await call();
      codes.push("resolved");
    } catch (e) {
      codes.push(e?.code ?? String(e));
    }
  }
  return codes;
}
