// An in-memory object with the shape of a Cloudflare R2 binding, for Node benchmarks: the calls
// Anax makes on `storage: { kind: "bucket" }` land here and are counted, with the bytes they
// move. Semantics follow R2: `get` and `head` answer null for a missing key, a conditional `put`
// whose precondition fails answers null, a ranged `get` cuts a length that runs past the end and
// throws for an offset past it, `list` pages with a cursor.

export class MemoryBucket {
  constructor() {
    this.objects = new Map();
    this.version = 0;
    this.calls = { get: 0, put: 0, head: 0, list: 0, delete: 0 };
    this.bytesRead = 0;
    this.bytesWritten = 0;
  }

  meta(key, o) {
    return { key, size: o.body.byteLength, etag: o.etag, httpEtag: `"${o.etag}"`, uploaded: new Date(0) };
  }

  totalCalls() {
    return Object.values(this.calls).reduce((a, b) => a + b, 0);
  }

  storedBytes() {
    let n = 0;
    for (const o of this.objects.values()) n += o.body.byteLength;
    return n;
  }

  async get(key, options) {
    this.calls.get++;
    const o = this.objects.get(key);
    if (!o) return null;
    let body = o.body;
    const range = options?.range;
    if (range) {
      const offset = range.offset ?? 0;
      if (offset > body.byteLength) throw new Error(`range offset ${offset} past the end of ${key}`);
      const end = range.length === undefined ? body.byteLength : Math.min(body.byteLength, offset + range.length);
      body = body.subarray(offset, end);
    }
    this.bytesRead += body.byteLength;
    const copy = body.slice();
    return { ...this.meta(key, o), arrayBuffer: async () => copy.buffer };
  }

  async head(key) {
    this.calls.head++;
    const o = this.objects.get(key);
    return o ? this.meta(key, o) : null;
  }

  async put(key, body, options) {
    this.calls.put++;
    const cond = options?.onlyIf;
    const have = this.objects.get(key);
    if (cond?.etagDoesNotMatch === "*" && have) return null;
    if (cond?.etagMatches !== undefined && (!have || have.etag !== cond.etagMatches)) return null;
    const bytes = new Uint8Array(body).slice();
    this.bytesWritten += bytes.byteLength;
    const o = { body: bytes, etag: `v${++this.version}` };
    this.objects.set(key, o);
    return this.meta(key, o);
  }

  async list(options) {
    this.calls.list++;
    const prefix = options?.prefix ?? "";
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
    const start = options?.cursor ? Number(options.cursor) : 0;
    const page = keys.slice(start, start + 1000);
    const truncated = start + page.length < keys.length;
    return {
      objects: page.map((k) => this.meta(k, this.objects.get(k))),
      truncated,
      cursor: truncated ? String(start + page.length) : undefined,
    };
  }

  async delete(key) {
    this.calls.delete++;
    for (const k of Array.isArray(key) ? key : [key]) this.objects.delete(k);
  }
}
