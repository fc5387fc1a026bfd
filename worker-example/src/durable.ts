// The worker example's Durable Object variant, in TypeScript (`wrangler.durable.toml`): the
// same routes and rules as the stateless Worker (index.js, through http.js), but each table is
// served by one Durable Object, which keeps the table's handle open between requests and is
// its only writer. Its view of the table is therefore current without a manifest read per
// request (the stateless Worker revalidates on every one), its footers and filters stay
// cached, and writes from every client are serialized in one place. The price: every request
// for a table goes to the one place its object runs.
//
// Tables live under `durable/<table>` in the bucket, apart from the stateless Worker's
// `tables/<table>`: two writers' views of one table would each be stale to the other.
import { Anax, AnaxError, type Db } from "anax";
import { admit, failure, limitsOf, requestsHeader, route, SCHEMA } from "./http.js";

/** The bindings this Worker needs (wrangler.durable.toml), and the optional limits. */
export interface Env {
  /** Where the tables live. */
  BUCKET: R2Bucket;
  /** One object per table. */
  TABLE: DurableObjectNamespace;
  /** The bearer token every request must carry (a secret). */
  ANAX_TOKEN?: string;
  /** Local development only: serve loopback requests without a token. */
  ANAX_ALLOW_ANONYMOUS?: string;
  ANAX_MAX_BODY_BYTES?: string;
  ANAX_MAX_JSON_ROWS?: string;
  ANAX_MAX_SCAN_ROWS?: string;
}

type Admitted = Awaited<ReturnType<typeof admit>> & { freshness?: "view" | "strict" };

/** One table: its open handle, and the queue its requests take one at a time. */
export class Table implements DurableObject {
  private handle: Promise<Db> | null = null;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly state: DurableObjectState,
    private readonly env: Env,
  ) {}

  private open(table: string): Promise<Db> {
    if (!this.handle) {
      const opening = Anax.open({
        schema: SCHEMA,
        key: "id",
        tableName: table,
        storage: { kind: "bucket", bucket: this.env.BUCKET, prefix: `durable/${table}` },
      });
      this.handle = opening;
      // A failed open is retried by the next request.
      opening.catch(() => {
        if (this.handle === opening) this.handle = null;
      });
    }
    return this.handle;
  }

  /**
   * Runs `work` after every request before it has finished: a streamed scan takes the
   * release (`handOff`) and gives the table back when its stream ends. One at a time for the
   * reason the stateless Worker queues per table: a future woken by another request's code
   * would do its storage I/O in that request's context.
   */
  private serial<T>(work: (handOff: () => () => void) => Promise<T>): Promise<T> {
    const previous = this.queue;
    let release!: () => void;
    this.queue = new Promise<void>((resolve) => (release = resolve));
    return previous.then(async () => {
      let handedOff = false;
      try {
        return await work(() => {
          handedOff = true;
          return release;
        });
      } finally {
        if (!handedOff) release();
      }
    });
  }

  async fetch(request: Request): Promise<Response> {
    const limits = limitsOf(this.env);
    let admitted: Admitted;
    try {
      admitted = await admit(request, this.env, limits);
    } catch (err) {
      return failure(err, request);
    }
    return this.serial(async (handOff) => {
      let db: Db | undefined;
      let before: unknown;
      const annotate = (res: Response): Response => {
        if (db) res.headers.set("x-anax-requests", requestsHeader(before, db.stats().requests));
        return res;
      };
      try {
        const warm = this.handle !== null;
        db = await this.open(admitted.table);
        before = warm ? db.stats().requests : undefined;
        // This object is the table's only writer: its own view is the table's latest.
        admitted.freshness = "view";
        return annotate(await route(request, db, handOff, limits, admitted));
      } catch (err) {
        const res = annotate(failure(err, request));
        if (err instanceof AnaxError && err.code === "CLOSED") this.handle = null;
        return res;
      }
    });
  }
}

export default {
  // Refuses what can be refused here (no token, a bad route or body type) before waking the
  // table's object; the object checks the request again, so it never trusts its caller.
  async fetch(request: Request, env: Env): Promise<Response> {
    try {
      const { table } = await admit(request, env, limitsOf(env));
      return await env.TABLE.get(env.TABLE.idFromName(table)).fetch(request);
    } catch (err) {
      return failure(err, request);
    }
  },
} satisfies ExportedHandler<Env>;
