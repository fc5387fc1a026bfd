// The structure check `npm test` runs (issue 23): builds the file-level import graph of `src/`
// from `crate::` and `super::` paths and fails when
//   - the graph has a circle,
//   - a file outside `src/wasm/` names `crate::wasm`,
//   - a file imports a layer ranked above its own (LAYERS below, bottom first),
//   - a non-test source file is longer than 600 lines.
// Test code (files named tests.rs and `#[cfg(test)] mod tests` blocks) is left out: tests sit
// beside the code they test and may reach anything.
//
//   node scripts/check-layers.mjs            check, print a summary, exit 1 on a finding
//   node scripts/check-layers.mjs --graph    also print every edge
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { join, relative, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");

// Bottom first. A file may import its own layer or any layer below it. A module missing from
// this table is a finding too, so that a new module gets a deliberate place.
export const LAYERS = [
  ["runtime"],
  ["error"],
  ["codec", "value", "key", "schema", "paths", "gather"],
  ["storage"],
  ["options", "ipc", "rows", "control"],
  ["wal", "memtable", "manifest", "sst"],
  ["read"],
  ["compaction"],
  ["db"],
  ["fuzz", "lib"],
  ["wasm"],
];
const MAX_LINES = 600;

function rank(module) {
  const i = LAYERS.findIndex((layer) => layer.includes(module));
  return i;
}

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith(".rs")) out.push(p);
  }
  return out;
}

/** Module path (["db", "commit"]) of a file. */
function modPath(file) {
  const rel = relative(src, file).replace(/\.rs$/, "").split("/");
  if (rel[rel.length - 1] === "mod") rel.pop();
  if (rel.length === 1 && rel[0] === "lib") return [];
  return rel;
}

/** The file a module path names: the longest prefix that is a file. */
function fileOf(path) {
  for (let n = path.length; n >= 0; n--) {
    const base = join(src, ...path.slice(0, n));
    if (n === 0) return join(src, "lib.rs");
    if (existsSync(base + ".rs")) return base + ".rs";
    if (existsSync(join(base, "mod.rs"))) return join(base, "mod.rs");
  }
  return join(src, "lib.rs");
}

/** Blanks comments and the insides of string and char literals, keeping line structure. */
function blank(text) {
  const out = [];
  const n = text.length;
  let i = 0;
  const keep = (c) => (c === "\n" ? "\n" : " ");
  while (i < n) {
    const c = text[i];
    const d = text[i + 1];
    if (c === "/" && d === "/") {
      while (i < n && text[i] !== "\n") (out.push(" "), i++);
    } else if (c === "/" && d === "*") {
      let depth = 0;
      do {
        if (text[i] === "/" && text[i + 1] === "*") (depth++, out.push("  "), (i += 2));
        else if (text[i] === "*" && text[i + 1] === "/") (depth--, out.push("  "), (i += 2));
        else (out.push(keep(text[i])), i++);
      } while (i < n && depth > 0);
    } else if (c === "r" && (d === '"' || d === "#") && !/\w/.test(text[i - 1] ?? "")) {
      let j = i + 1;
      let hashes = 0;
      while (text[j] === "#") (hashes++, j++);
      if (text[j] !== '"') {
        out.push(c);
        i++;
        continue;
      }
      const close = '"' + "#".repeat(hashes);
      const end = text.indexOf(close, j + 1);
      const stop = end < 0 ? n : end + close.length;
      out.push('""');
      for (let k = i + 2; k < stop; k++) out.push(keep(text[k]));
      i = stop;
    } else if (c === '"') {
      out.push('"');
      i++;
      while (i < n && text[i] !== '"') {
        if (text[i] === "\\") (out.push(" "), i++);
        out.push(keep(text[i]));
        i++;
      }
      out.push('"');
      i++;
    } else if (c === "'") {
      // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
      if (d === "\\") {
        const end = text.indexOf("'", i + 2);
        out.push("' '");
        for (let k = i + 3; k <= end; k++) out.push(" ");
        i = end + 1;
      } else if (text[i + 2] === "'") {
        out.push("' '");
        i += 3;
      } else (out.push(c), i++);
    } else (out.push(c), i++);
  }
  return out.join("");
}

/** Strips comments, string literals and test-only modules, keeping line structure. */
function codeOf(text) {
  let s = blank(text);
  // `#[cfg(test)] mod name { ... }`: cut to the matching brace.
  const re = /#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{/g;
  let m;
  while ((m = re.exec(s))) {
    let depth = 1;
    let i = m.index + m[0].length;
    while (i < s.length && depth > 0) {
      if (s[i] === "{") depth++;
      else if (s[i] === "}") depth--;
      i++;
    }
    s = s.slice(0, m.index) + s.slice(m.index, i).replace(/[^\n]/g, " ") + s.slice(i);
    re.lastIndex = m.index + 1;
  }
  return s;
}

/** Every path a `use` tree or an inline path names, as segment lists starting at crate/super. */
function pathsIn(code) {
  const out = [];
  // Expand `use a::{b, c::{d}}` groups into full paths.
  const useRe = /\buse\s+([^;]+);/g;
  let m;
  const expand = (prefix, tree) => {
    tree = tree.trim();
    const brace = tree.indexOf("{");
    if (brace < 0) {
      const p = tree.split(/\s+as\s+/)[0].trim();
      if (p && p !== "self") out.push([...prefix, ...p.split("::").filter(Boolean)]);
      else if (p === "self") out.push(prefix);
      return;
    }
    const head = tree.slice(0, brace).split("::").filter(Boolean);
    const inner = tree.slice(brace + 1, tree.lastIndexOf("}"));
    let depth = 0;
    let start = 0;
    for (let i = 0; i <= inner.length; i++) {
      const c = inner[i];
      if (c === "{") depth++;
      else if (c === "}") depth--;
      else if ((c === "," && depth === 0) || i === inner.length) {
        const part = inner.slice(start, i);
        if (part.trim()) expand([...prefix, ...head], part);
        start = i + 1;
      }
    }
  };
  while ((m = useRe.exec(code))) expand([], m[1]);
  const body = code.replace(useRe, "");
  for (const p of body.matchAll(/\b(?:crate|super)(?:::(?:super|[A-Za-z_]\w*))+/g)) {
    out.push(p[0].split("::"));
  }
  return out.filter((p) => p[0] === "crate" || p[0] === "super");
}

function resolve(fromFile, path) {
  const here = modPath(fromFile);
  let base;
  let rest;
  if (path[0] === "crate") {
    base = [];
    rest = path.slice(1);
  } else {
    // `super` in foo/mod.rs and in foo/bar.rs: the module's parent.
    base = here.slice();
    rest = path.slice();
    while (rest[0] === "super") {
      base.pop();
      rest.shift();
    }
  }
  return fileOf([...base, ...rest]);
}

const files = walk(src).filter((f) => !/(^|\/)tests\.rs$/.test(f));
const edges = new Map();
const findings = [];
for (const file of files) {
  const text = readFileSync(file, "utf8");
  const code = codeOf(text);
  const rel = relative(root, file);
  const targets = new Set();
  for (const p of pathsIn(code)) {
    const to = resolve(file, p);
    if (to !== file) targets.add(to);
  }
  edges.set(file, targets);
  const lines = code.split("\n").filter((l) => l.trim()).length;
  const total = text.split("\n").length;
  if (total > MAX_LINES && lines > 0) {
    // Count the file without its test block: test code may make a file long.
    const nonTest = code.split("\n").length - (code.match(/^\s*$/gm) || []).length;
    if (code.trimEnd().split("\n").length > MAX_LINES)
      findings.push(`${rel}: ${code.trimEnd().split("\n").length} lines without tests (limit ${MAX_LINES})`);
    void nonTest;
  }
  const mine = modPath(file)[0] ?? "lib";
  if (rank(mine) < 0) findings.push(`${rel}: module \`${mine}\` has no layer in scripts/check-layers.mjs`);
  for (const to of targets) {
    const theirs = modPath(to)[0] ?? "lib";
    if (theirs === "wasm" && mine !== "wasm")
      findings.push(`${rel}: imports crate::wasm (${relative(root, to)}); only src/wasm/ may`);
    else if (rank(theirs) > rank(mine) && mine !== "lib" && mine !== "fuzz")
      findings.push(`${rel}: layer \`${mine}\` imports \`${theirs}\` above it (${relative(root, to)})`);
  }
}

// Circles: Tarjan's strongly connected components.
let index = 0;
const idx = new Map();
const low = new Map();
const stack = [];
const on = new Set();
const sccs = [];
function strong(v) {
  idx.set(v, index);
  low.set(v, index);
  index++;
  stack.push(v);
  on.add(v);
  for (const w of edges.get(v) ?? []) {
    if (!edges.has(w)) continue;
    if (!idx.has(w)) {
      strong(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const c = [];
    let w;
    do {
      w = stack.pop();
      on.delete(w);
      c.push(w);
    } while (w !== v);
    if (c.length > 1) sccs.push(c);
  }
}
for (const v of edges.keys()) if (!idx.has(v)) strong(v);
for (const c of sccs) findings.push(`circle: ${c.map((f) => relative(root, f)).sort().join(", ")}`);

const nEdges = [...edges.values()].reduce((n, s) => n + s.size, 0);
if (process.argv.includes("--graph")) {
  for (const [f, ts] of edges) for (const t of ts) console.log(`${relative(root, f)} -> ${relative(root, t)}`);
}
const long = files
  .map((f) => [relative(root, f), codeOf(readFileSync(f, "utf8")).trimEnd().split("\n").length])
  .sort((a, b) => b[1] - a[1]);
const under400 = long.filter(([, n]) => n < 400).length;
console.log(
  `src/: ${files.length} non-test files, ${nEdges} import edges, ${sccs.length} circles; ` +
    `longest ${long[0][0]} (${long[0][1]} lines); ${under400}/${files.length} under 400 lines`,
);
if (findings.length) {
  for (const f of findings) console.log(`  ✘ ${f}`);
  process.exit(1);
}
console.log("  ✔ no circles, no engine file imports crate::wasm or a layer above it, no file over 600 lines");
