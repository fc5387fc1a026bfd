//! A sealed memtable's versions as one sorted run: every column contiguous, rows in (key asc,
//! commit timestamp desc) order. The mutable memtable keeps rows where they arrived and an
//! ordered index over them, so a scan of it gathers rows from random places (a full scan of
//! four B1-shaped memtables was ~45% of a B3 scan, natively). Sealing gathers once; afterwards
//! a scan slices, a point get binary-searches one contiguous key array, and the B-tree and its
//! per-version key allocations are freed.

use std::ops::Bound;

use arrow_array::{Array, ArrayRef, BinaryArray, BooleanArray, RecordBatch, UInt64Array};
use arrow_schema::SchemaRef;

use crate::key::Timestamp;

/// Rows per block of the head index (`Run::top`): 64 heads, eight cache lines.
const TOP_STEP: usize = 64;

/// The rows of a run a resolved read returns, in read order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// `len` consecutive rows from `start` (ascending): they can be sliced, not copied.
    Slice {
        /// First row.
        start: usize,
        /// Number of rows.
        len: usize,
    },
    /// These rows, in this order.
    Rows(Vec<usize>),
}

impl Selection {
    /// Number of rows selected.
    pub fn len(&self) -> usize {
        match self {
            Selection::Slice { len, .. } => *len,
            Selection::Rows(r) => r.len(),
        }
    }

    /// Whether no row is selected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The last row selected.
    pub fn last(&self) -> Option<usize> {
        match self {
            Selection::Slice { start, len } => len.checked_sub(1).map(|l| start + l),
            Selection::Rows(r) => r.last().copied(),
        }
    }
}

/// Every version a sealed memtable holds, sorted. A tombstone row carries its key columns and
/// nulls in the others (what a flushed tombstone carries too).
#[derive(Debug)]
pub struct Run {
    columns: Vec<ArrayRef>,
    keys: BinaryArray,
    ts: UInt64Array,
    tomb: BooleanArray,
    /// Each key's first 8 bytes, big-endian, zero-padded (they order as the keys do): a point
    /// get binary-searches these contiguous words and compares key bytes only among rows
    /// whose heads are equal, instead of reading two offsets and the bytes of every probe.
    heads: Vec<u64>,
    /// Every `TOP_STEP`-th head: a search starts in this small array, which stays cached,
    /// and finishes within one block of `heads`.
    top: Vec<u64>,
    /// The columns as a batch of the table's schema, when they fit it (no tombstone row puts
    /// a null in a non-nullable column): a point get's answer is then a slice of it, with no
    /// schema check per answer.
    batch: Option<RecordBatch>,
    /// No key has two versions: a read at or above `max_ts` sees every row as it is.
    unique: bool,
    max_ts: Timestamp,
}

impl Run {
    /// A run of `columns` (table order) whose row `i` is version (`keys[i]`, `ts[i]`), a
    /// tombstone when `tomb[i]`; rows must already be in (key asc, ts desc) order.
    pub fn new(
        columns: Vec<ArrayRef>,
        keys: BinaryArray,
        ts: UInt64Array,
        tomb: BooleanArray,
    ) -> Self {
        let unique = (1..keys.len()).all(|i| keys.value(i - 1) != keys.value(i));
        let max_ts = ts.values().iter().copied().max().unwrap_or(0);
        let heads: Vec<u64> = keys.iter().flatten().map(crate::key::head).collect();
        let top = heads.iter().step_by(TOP_STEP).copied().collect();
        Self {
            columns,
            keys,
            ts,
            tomb,
            heads,
            top,
            batch: None,
            unique,
            max_ts,
        }
    }

    /// One run holding every version of `runs` (disjoint sets of versions, as the commits of
    /// different memtables are), in (key asc, ts desc) order. Merging the sealed memtables
    /// while writes pause leaves a full scan one source to slice instead of several to
    /// interleave row by row.
    pub fn merge(runs: &[&Run]) -> Result<Run, arrow_schema::ArrowError> {
        if runs.is_empty() {
            // Interleaving needs at least one source array.
            return Ok(Run::new(
                Vec::new(),
                BinaryArray::from_iter_values(std::iter::empty::<&[u8]>()),
                UInt64Array::from(Vec::<u64>::new()),
                BooleanArray::from(Vec::<bool>::new()),
            ));
        }
        let total = runs.iter().map(|r| r.len()).sum();
        let mut picks: Vec<(usize, usize)> = Vec::with_capacity(total);
        let mut pos = vec![0usize; runs.len()];
        loop {
            // A few runs at most: a linear pass beats a heap's bookkeeping.
            let mut best: Option<(usize, &Run, usize)> = None;
            for (r, (run, &i)) in runs.iter().zip(&pos).enumerate() {
                if i >= run.len() {
                    continue;
                }
                best = match best {
                    Some((_, b, j)) if !run.orders_before(i, b, j) => best,
                    _ => Some((r, run, i)),
                };
            }
            let Some((r, _, i)) = best else { break };
            picks.push((r, i));
            if let Some(p) = pos.get_mut(r) {
                *p += 1;
            }
        }
        let width = runs.iter().map(|r| r.columns.len()).max().unwrap_or(0);
        let mut columns = Vec::with_capacity(width);
        for c in 0..width {
            let sources = runs
                .iter()
                .map(|r| r.columns.get(c).map(|a| a.as_ref()))
                .collect::<Option<Vec<&dyn Array>>>()
                .ok_or_else(|| {
                    arrow_schema::ArrowError::InvalidArgumentError(
                        "runs to merge have different columns".into(),
                    )
                })?;
            columns.push(crate::gather::gather(&sources, &picks)?);
        }
        let key_sources: Vec<&dyn Array> = runs.iter().map(|r| &r.keys as &dyn Array).collect();
        let keys = crate::gather::gather(&key_sources, &picks)?
            .as_any()
            .downcast_ref::<BinaryArray>()
            .cloned()
            .ok_or_else(|| {
                arrow_schema::ArrowError::InvalidArgumentError("merged keys are not binary".into())
            })?;
        let at = |&(r, i): &(usize, usize)| runs.get(r).map(|run| (run, i));
        let ts: UInt64Array = picks
            .iter()
            .filter_map(at)
            .map(|(run, i)| run.ts.value(i))
            .collect();
        let tomb: BooleanArray = picks
            .iter()
            .filter_map(at)
            .map(|(run, i)| Some(run.tomb.value(i)))
            .collect();
        Ok(Run::new(columns, keys, ts, tomb))
    }

    /// Whether version `i` of this run sorts before version `j` of `other`: by key (heads
    /// first), then newer first.
    fn orders_before(&self, i: usize, other: &Run, j: usize) -> bool {
        let (a, b) = (self.heads.get(i), other.heads.get(j));
        match a.cmp(&b) {
            std::cmp::Ordering::Equal => match self.keys.value(i).cmp(other.keys.value(j)) {
                std::cmp::Ordering::Equal => self.ts.value(i) > other.ts.value(j),
                o => o.is_lt(),
            },
            o => o.is_lt(),
        }
    }

    /// Lets answers be slices of one batch of `schema` (the table's), when the columns fit it.
    pub fn with_table_schema(mut self, schema: &SchemaRef) -> Self {
        self.batch = RecordBatch::try_new(schema.clone(), self.columns.clone()).ok();
        self
    }

    /// The columns as one batch of the table's schema, if they fit it.
    pub fn batch(&self) -> Option<&RecordBatch> {
        self.batch.as_ref()
    }

    /// Number of versions.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the run holds no version.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Table column `c`.
    pub fn column(&self, c: usize) -> Option<&ArrayRef> {
        self.columns.get(c)
    }

    /// The encoded keys, one per row.
    pub fn keys(&self) -> &BinaryArray {
        &self.keys
    }

    /// The commit timestamps, one per row.
    pub fn timestamps(&self) -> &UInt64Array {
        &self.ts
    }

    /// The tombstone flags, one per row.
    pub fn tombstones(&self) -> &BooleanArray {
        &self.tomb
    }

    /// Heap bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.columns
            .iter()
            .map(|c| c.get_array_memory_size())
            .sum::<usize>()
            + self.keys.get_array_memory_size()
            + self.ts.get_array_memory_size()
            + self.tomb.get_array_memory_size()
            + (self.heads.capacity() + self.top.capacity()) * 8
    }

    /// The first row for which `before` is false (`before` must hold for a prefix of rows).
    fn partition(&self, before: impl Fn(usize) -> bool) -> usize {
        Self::partition_in(0, self.len(), before)
    }

    /// The first row of `[lo, hi)` for which `before` is false (`before` must hold for a
    /// prefix of them), or `hi`.
    fn partition_in(mut lo: usize, mut hi: usize, before: impl Fn(usize) -> bool) -> usize {
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if before(mid) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The rows `[a, b)` whose keys lie within (`start`, `end`).
    pub fn bounds(&self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> (usize, usize) {
        let k = |i: usize| self.keys.value(i);
        let a = match start {
            Bound::Included(s) => self.partition(|i| k(i) < s),
            Bound::Excluded(s) => self.partition(|i| k(i) <= s),
            Bound::Unbounded => 0,
        };
        let b = match end {
            Bound::Included(e) => self.partition(|i| k(i) <= e),
            Bound::Excluded(e) => self.partition(|i| k(i) < e),
            Bound::Unbounded => self.len(),
        };
        (a, b.max(a))
    }

    /// The newest version of `key` at or below `read_ts`: (its timestamp, its row, whether it
    /// is a tombstone).
    pub fn get(&self, key: &[u8], read_ts: Timestamp) -> Option<(Timestamp, usize, bool)> {
        let head = crate::key::head(key);
        let at = |i: usize| self.heads.get(i).copied().unwrap_or(u64::MAX);
        // The first head at or above `head` lies within one block: after the last block that
        // starts below it, and at the latest where the next block starts.
        let blocks = Self::partition_in(0, self.top.len(), |j| {
            self.top.get(j).is_some_and(|&t| t < head)
        });
        let start = blocks.saturating_sub(1) * TOP_STEP;
        let end = (blocks * TOP_STEP).min(self.len());
        let lo = Self::partition_in(start, end, |i| at(i) < head);
        // Rows sharing the head follow it: usually none or a few, so gallop before bisecting.
        let mut step = 1;
        while lo + step < self.len() && at(lo + step) <= head {
            step *= 2;
        }
        let hi = Self::partition_in(lo + step / 2, (lo + step).min(self.len()), |i| {
            at(i) <= head
        });
        // Within a key, versions run newest first: those above `read_ts` come before it.
        let i = Self::partition_in(lo, hi, |i| {
            let k = self.keys.value(i);
            k < key || (k == key && self.ts.value(i) > read_ts)
        });
        (i < self.len() && self.keys.value(i) == key)
            .then(|| (self.ts.value(i), i, self.tomb.value(i)))
    }

    /// Up to `max` visible versions (the newest at or below `read_ts` per key, tombstones
    /// included) among rows `[a, b)`, ascending or (`reverse`) descending by key.
    pub fn visible(
        &self,
        a: usize,
        b: usize,
        read_ts: Timestamp,
        reverse: bool,
        max: usize,
    ) -> Selection {
        let b = b.min(self.len());
        let a = a.min(b);
        if self.unique && self.max_ts <= read_ts {
            let len = (b - a).min(max);
            return if reverse {
                Selection::Rows((b - len..b).rev().collect())
            } else {
                Selection::Slice { start: a, len }
            };
        }
        let mut out = Vec::new();
        let same = |i: usize, j: usize| self.keys.value(i) == self.keys.value(j);
        if reverse {
            let mut end = b;
            while end > a && out.len() < max {
                let mut start = end - 1;
                while start > a && same(start - 1, end - 1) {
                    start -= 1;
                }
                if let Some(row) = (start..end).find(|&i| self.ts.value(i) <= read_ts) {
                    out.push(row);
                }
                end = start;
            }
        } else {
            let mut start = a;
            while start < b && out.len() < max {
                let mut end = start + 1;
                while end < b && same(end, start) {
                    end += 1;
                }
                if let Some(row) = (start..end).find(|&i| self.ts.value(i) <= read_ts) {
                    out.push(row);
                }
                start = end;
            }
        }
        Selection::Rows(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use arrow_array::Int64Array;

    use super::*;

    /// Versions (key, ts, tomb) in run order, with column value = row number.
    fn run<K: AsRef<[u8]>>(versions: &[(K, u64, bool)]) -> Run {
        let n = versions.len() as i64;
        Run::new(
            vec![Arc::new(Int64Array::from_iter_values(0..n))],
            BinaryArray::from_iter_values(versions.iter().map(|v| v.0.as_ref())),
            UInt64Array::from_iter_values(versions.iter().map(|v| v.1)),
            BooleanArray::from_iter(versions.iter().map(|v| Some(v.2))),
        )
    }

    #[test]
    fn get_finds_the_newest_version_at_or_below_the_read_timestamp() {
        let r = run(&[
            ("a", 7, false),
            ("a", 3, false),
            ("b", 5, true),
            ("b", 2, false),
            ("d", 1, false),
        ]);
        assert_eq!(r.get(b"a", 9), Some((7, 0, false)));
        assert_eq!(r.get(b"a", 7), Some((7, 0, false)));
        assert_eq!(r.get(b"a", 6), Some((3, 1, false)));
        assert_eq!(r.get(b"a", 2), None);
        assert_eq!(r.get(b"b", 5), Some((5, 2, true)));
        assert_eq!(r.get(b"b", 4), Some((2, 3, false)));
        assert_eq!(r.get(b"c", 9), None);
        assert_eq!(r.get(b"d", 9), Some((1, 4, false)));
        assert_eq!(r.get(b"e", 9), None);
        assert_eq!(r.get(b"", 9), None);
    }

    #[test]
    fn get_finds_keys_that_share_their_first_eight_bytes() {
        // Keys over a tiny alphabet with zero bytes, prefixes of each other and long shared
        // heads: the head search must hand the full compare every candidate.
        let mut next = super::super::tests::generator(0x2545_f491);
        let mut keys: Vec<Vec<u8>> = (0..3000)
            .map(|_| {
                let len = next(12) as usize;
                (0..len).map(|_| [0u8, 1, 0xff][next(3) as usize]).collect()
            })
            .collect();
        keys.sort();
        keys.dedup();
        let (held, absent): (Vec<_>, Vec<_>) =
            keys.iter().enumerate().partition(|(i, _)| i % 3 != 0);
        let held: Vec<&Vec<u8>> = held.into_iter().map(|(_, k)| k).collect();
        let r = run(&held.iter().map(|k| (k, 1, false)).collect::<Vec<_>>());
        for (row, k) in held.iter().enumerate() {
            assert_eq!(r.get(k, 1), Some((1, row, false)), "{k:?}");
            assert_eq!(r.get(k, 0), None, "{k:?} is newer than the read");
        }
        for (_, k) in absent {
            assert_eq!(r.get(k, 1), None, "{k:?} is not held");
        }
    }

    #[test]
    fn bounds_select_keys_within_the_range() {
        let r = run(&[
            ("a", 1, false),
            ("b", 2, false),
            ("b", 1, false),
            ("c", 1, false),
        ]);
        let inc = |s: &'static str| Bound::Included(s.as_bytes());
        let exc = |s: &'static str| Bound::Excluded(s.as_bytes());
        assert_eq!(r.bounds(Bound::Unbounded, Bound::Unbounded), (0, 4));
        assert_eq!(r.bounds(inc("b"), inc("b")), (1, 3));
        assert_eq!(r.bounds(exc("a"), exc("c")), (1, 3));
        assert_eq!(r.bounds(exc("b"), Bound::Unbounded), (3, 4));
        assert_eq!(r.bounds(inc("bb"), exc("c")), (3, 3));
        // Inverted bounds select nothing.
        assert_eq!(r.bounds(inc("c"), exc("a")), (3, 3));
    }

    #[test]
    fn visible_rows_resolve_versions_in_both_directions() {
        let r = run(&[
            ("a", 7, false),
            ("a", 3, false),
            ("b", 5, true),
            ("b", 2, false),
            ("c", 9, false),
            ("d", 1, false),
        ]);
        assert_eq!(
            r.visible(0, 6, 9, false, 10),
            Selection::Rows(vec![0, 2, 4, 5])
        );
        assert_eq!(
            r.visible(0, 6, 4, false, 10),
            Selection::Rows(vec![1, 3, 5])
        );
        assert_eq!(r.visible(0, 6, 4, true, 10), Selection::Rows(vec![5, 3, 1]));
        assert_eq!(r.visible(0, 6, 9, true, 2), Selection::Rows(vec![5, 4]));
        assert_eq!(r.visible(2, 4, 1, false, 10), Selection::Rows(vec![]));
        assert_eq!(r.visible(0, 6, 9, false, 2), Selection::Rows(vec![0, 2]));
    }

    #[test]
    fn a_run_of_unique_keys_read_above_its_newest_commit_is_sliced() {
        let r = run(&[("a", 1, false), ("b", 4, true), ("c", 2, false)]);
        assert_eq!(
            r.visible(0, 3, 4, false, 10),
            Selection::Slice { start: 0, len: 3 }
        );
        assert_eq!(
            r.visible(1, 3, 9, false, 1),
            Selection::Slice { start: 1, len: 1 }
        );
        assert_eq!(r.visible(0, 3, 4, true, 2), Selection::Rows(vec![2, 1]));
        // Below its newest commit, rows are filtered one by one.
        assert_eq!(r.visible(0, 3, 3, false, 10), Selection::Rows(vec![0, 2]));
        assert_eq!(Selection::Slice { start: 1, len: 2 }.last(), Some(2));
        assert_eq!(Selection::Slice { start: 1, len: 0 }.last(), None);
    }

    #[test]
    fn merged_runs_hold_every_version_in_key_then_newest_order() {
        // Three runs (three memtables' commits: disjoint timestamps), keys that share their
        // first eight bytes, a key in every run, tombstones.
        let mut next = crate::memtable::tests::generator(11);
        let mut all: Vec<(Vec<u8>, u64, bool)> = Vec::new();
        let mut runs = Vec::new();
        for (r, span) in [(0u64, 300u64), (1, 500), (2, 40)] {
            let mut versions: Vec<(Vec<u8>, u64, bool)> = (0..span)
                .map(|i| {
                    let mut key = b"prefix--".to_vec();
                    key.extend_from_slice(&next(400).to_be_bytes()[6..]);
                    (key, r * 1000 + i + 1, next(5) == 0)
                })
                .collect();
            versions.push((b"every".to_vec(), r * 1000 + 999, r == 1));
            versions.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            all.extend(versions.iter().cloned());
            runs.push(run(&versions));
        }
        let refs: Vec<&Run> = runs.iter().collect();
        let merged = Run::merge(&refs).unwrap();
        all.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        assert_eq!(merged.len(), all.len());
        for (i, (key, ts, tomb)) in all.iter().enumerate() {
            assert_eq!(merged.keys().value(i), key.as_slice(), "key of row {i}");
            assert_eq!(merged.timestamps().value(i), *ts, "ts of row {i}");
            assert_eq!(merged.tombstones().value(i), *tomb, "tombstone of row {i}");
        }
        // Column values travel with their versions: each is its row number in its own run.
        let col = merged
            .column(0)
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        for i in 0..merged.len() {
            let ts = merged.timestamps().value(i);
            let source = &runs[(ts / 1000) as usize];
            let row = (0..source.len())
                .find(|&j| source.timestamps().value(j) == ts)
                .unwrap();
            assert_eq!(col.value(i), row as i64, "column value of row {i}");
        }
        // The key in every run: newest first, each version where its run put it.
        let every = merged.bounds(Bound::Included(b"every"), Bound::Unbounded).0;
        assert_eq!(merged.get(b"every", 2500), Some((1999, every + 1, true)));
        assert_eq!(merged.get(b"every", 1500), Some((999, every + 2, false)));
        assert!(Run::merge(&[]).unwrap().is_empty());
    }
}
