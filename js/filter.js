// Filter helpers: each returns the plain-JSON filter the engine takes, so
// `filter.and(filter.gt("score", 80), filter.in("tag", ["a", "b"]))` equals
// `{ and: [{ gt: ["score", 80] }, { in: ["tag", ["a", "b"]] }] }`.

const cmp = (op) => (column, value) => ({ [op]: [column, value] });

/** Builders for every filter operator the engine evaluates. */
export const filter = Object.freeze({
  and: (...filters) => ({ and: filters }),
  or: (...filters) => ({ or: filters }),
  not: (f) => ({ not: f }),
  eq: cmp("eq"),
  ne: cmp("ne"),
  lt: cmp("lt"),
  le: cmp("le"),
  gt: cmp("gt"),
  ge: cmp("ge"),
  between: (column, low, high) => ({ between: [column, low, high] }),
  in: (column, values) => ({ in: [column, values] }),
  startsWith: (column, prefix) => ({ startsWith: [column, prefix] }),
  isNull: (column) => ({ isNull: column }),
  isNotNull: (column) => ({ isNotNull: column }),
});
