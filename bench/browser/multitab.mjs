// Issue 21's multi-tab figures in headless Chromium (the system /usr/bin/chromium through
// playwright-core), all in one run: pages of one origin, each hosting Anax in a dedicated
// worker (as B1/B2's "anax-opfs"), on one OPFS table opened with durability "sealEveryBatch".
//   node bench/browser/multitab.mjs [--n 100000] [--json docs/bench/multitab.json]
// Figures: tabs4_write_ratio (4 tabs inserting a quarter of the rows each, at once: aggregate
// rows/s over one tab's B1, measured first in this run on its own table with the default WAL),
// tabs4_read_ratio (each of 4 tabs' point gets/s, the others open and idle, over that tab's
// B2 in the same B1 run; the lowest of the four), cross_tab_visible_p99_ms (a put resolved in
// one tab until a reading loop in another sees it, 100 probes).
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { serveStatic } from "../../js/test/serve.mjs";
import { pct } from "./data.mjs";

const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const N = Number(arg("--n", 100_000));
const GET_MS = Number(arg("--get-ms", 2000));
const PROBES = Number(arg("--probes", 100));
// The shared tabs' block cache (blockCacheBytes); the default when not given (8 MiB).
const CACHE = arg("--cache-bytes", undefined);
const json = arg("--json", null);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const { server, base } = await serveStatic(root);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args: ["--no-sandbox"] });
try {
  const context = await browser.newContext();
  const tab = async () => {
    const page = await context.newPage();
    await page.goto(`${base}/bench/browser/multitab.html`);
    await page.waitForFunction(() => window.ready === true);
    return (op, args) => page.evaluate(([o, a]) => window.cmd(o, a), [op, args]);
  };
  const stamp = Date.now();

  // One tab, the default WAL: B1 and B2 as the browser benchmark measures them.
  const one = await tab();
  await one("open", { path: `multitab-one-${stamp}`, shared: false, n: N });
  const w1 = await one("insert", { from: 0, to: N });
  const b1 = N / ((w1.end - w1.start) / 1000);
  const b2 = await one("gets", { ms: GET_MS, seed: 7 });
  await one("close");

  // Four tabs sharing one table.
  const tabs = [await tab(), await tab(), await tab(), await tab()];
  const shared = `multitab-shared-${stamp}`;
  for (const t of tabs) await t("open", { path: shared, shared: true, n: N, cacheBytes: CACHE === undefined ? undefined : Number(CACHE) });
  const quarter = Math.ceil(N / 4);
  const spans = await Promise.all(tabs.map((t, i) => t("insert", { from: i * quarter, to: Math.min(N, (i + 1) * quarter) })));
  const start = Math.min(...spans.map((s) => s.start));
  const end = Math.max(...spans.map((s) => s.end));
  const tabs4 = N / ((end - start) / 1000);
  if (process.env.MULTITAB_DIAGNOSE) for (const t of tabs) console.log(JSON.stringify(await t("diagnose", {})));
  const perTab = [];
  for (let i = 0; i < tabs.length; i++) perTab.push(await tabs[i]("gets", { ms: GET_MS, seed: 11 + i }));
  const concurrent = await Promise.all(tabs.map((t, i) => t("gets", { ms: GET_MS, seed: 31 + i })));

  // Cross-tab visibility: tab 0 writes probe v, tab 1 reads in a loop until it holds v.
  const lags = [];
  const putMs = [];
  for (let v = 1; v <= PROBES; v++) {
    const seen = tabs[1]("watchProbe", { v, ms: 10_000 });
    const put = await tabs[0]("probe", { v });
    const at = await seen;
    if (at < 0) throw new Error(`probe ${v} never reached the other tab`);
    lags.push(Math.max(0, at - put.at));
    putMs.push(put.ms);
  }
  for (const t of tabs) await t("close");
  if (process.env.MULTITAB_LAGS) console.log("lag ms (the probe's put ms):", lags.map((x, i) => `${x.toFixed(0)}(${putMs[i].toFixed(0)})`).join(" "));

  lags.sort((a, b) => a - b);
  const figures = {
    tabs4_write_ratio: { value: tabs4 / b1, target: ">= 0.8", rows: N, tabs4_rows_per_s: tabs4, b1_rows_per_s: b1, note: "4 tabs, each a dedicated worker, inserting a quarter of the rows each in 1,000-row puts at once on one OPFS table (sealEveryBatch), aggregate rows/s over one tab's B1 (default WAL) in the same run" },
    tabs4_read_ratio: { value: Math.min(...perTab) / b2, target: ">= 0.9", block_cache_bytes: CACHE === undefined ? "default (8 MiB)" : Number(CACHE), per_tab_gets_per_s: perTab, b2_gets_per_s: b2, concurrent_gets_per_s: concurrent, note: "each of 4 tabs' point gets/s on the shared table, one tab at a time with the others open, over one tab's B2 on its own WAL table in the same run (the lowest tab); concurrent_gets_per_s: all four at once on this machine's 2 cores" },
    cross_tab_visible_p50_ms: { value: pct(lags, 50), probes: PROBES },
    cross_tab_visible_p99_ms: { value: pct(lags, 99), target: "<= 50", probes: PROBES, note: "a put resolved in one tab until another tab's read loop returns it (no refresh call, no strict read: the BroadcastChannel notice)" },
  };
  console.log(`N=${N}; B1 ${b1.toFixed(0)} rows/s, 4 tabs ${tabs4.toFixed(0)} rows/s; B2 ${b2.toFixed(0)} gets/s, per tab ${perTab.map((x) => x.toFixed(0)).join(" / ")}, all at once ${concurrent.map((x) => x.toFixed(0)).join(" / ")}`);
  console.log("| figure | value | target |\n|---|---|---|");
  for (const [k, f] of Object.entries(figures)) console.log(`| ${k} | ${f.value.toFixed(3)} | ${f.target ?? ""} |`);
  if (json) writeFileSync(json, `${JSON.stringify(figures, null, 2)}\n`);
} finally {
  await browser.close();
  server.close();
}
