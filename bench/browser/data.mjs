// The benchmark's data, identical in every engine and run: a seeded PRNG (mulberry32) makes
// 100,000 rows { id: 16 hex chars in random order, v: 0..1e6, payload: ~100 chars }.
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua".split(" ");

export function makeRows(n, seed = 42) {
  const rnd = prng(seed);
  const hex = () => Math.floor(rnd() * 2 ** 32).toString(16).padStart(8, "0");
  const seen = new Set();
  const rows = [];
  while (rows.length < n) {
    const id = hex() + hex();
    if (seen.has(id)) continue;
    seen.add(id);
    let payload = "";
    while (payload.length < 100) payload += `${WORDS[Math.floor(rnd() * WORDS.length)]} `;
    rows.push({ id, v: Math.floor(rnd() * 1_000_001), payload: payload.slice(0, 100) });
  }
  return rows;
}

/** Percentile of a sorted array. */
export function pct(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
