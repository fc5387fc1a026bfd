// Writes benchmark figures into a docs/bench/*.json file one key per line, as the edge example
// writes them: the keys of other producers in the file are kept, these replace their own.

import { existsSync, readFileSync, writeFileSync } from "node:fs";

/**
 * `figures`: [name, value, target, note] each. `rttMs` and `rows` are written with every
 * figure; `rows` may be a function of the figure's name.
 */
export function writeFigures(json, figures, { rttMs, rows }) {
  const ours = new Set(figures.map((f) => f[0]));
  const kept = existsSync(json)
    ? readFileSync(json, "utf8").split("\n").filter((l) => /^\s*"[a-z0-9_]+":/.test(l)).filter((l) => !ours.has(l.trim().split('"')[1])).map((l) => l.replace(/,\s*$/, ""))
    : [];
  const rowsOf = typeof rows === "function" ? rows : () => rows;
  const mine = figures.map(([name, value, target, note]) => `  "${name}": { "value": ${Number(value.toFixed(3))}, "target": "${target}", "rtt_ms": ${rttMs}, "rows": ${rowsOf(name)}, "note": "${note}" }`);
  writeFileSync(json, `{\n${[...kept, ...mine].join(",\n")}\n}\n`);
  JSON.parse(readFileSync(json, "utf8"));
  console.log(`wrote ${json}`);
}
