//! Reading a memtable, from its index while mutable or from its run once sorted: point gets,
//! the row an entry points at, resolved key ranges in either direction, and every version.

use std::ops::Bound;

use arrow_array::RecordBatch;

use super::index::IndexKey;
use super::run::{self, Run};
use super::table::Memtable;
use super::{Entry, Timestamp};
use crate::error::{Error, Result};

impl Memtable {
    /// Every version in (key asc, ts desc) order: what a flush writes.
    pub fn versions_iter(&self) -> Box<dyn Iterator<Item = (&[u8], Timestamp, Entry)> + '_> {
        match &self.run {
            Some(run) => Box::new((0..run.len()).map(|i| run_version(run, i))),
            None => Box::new(self.index.iter().map(|(k, e)| (k.key.as_ref(), k.ts.0, *e))),
        }
    }

    /// The arrays to interleave from for table column `col` (`key_pos` is its position in the
    /// key, if it is a key column), and where each entry's value sits in them: data batches
    /// first, then one array per tombstone batch (its key column, or nulls). A sealed
    /// memtable has one array, its run's column.
    pub fn column_sources(
        &self,
        col: usize,
        key_pos: Option<usize>,
        data_type: &arrow_schema::DataType,
    ) -> Vec<arrow_array::ArrayRef> {
        if let Some(run) = &self.run {
            return match run.column(col) {
                Some(c) => vec![c.clone()],
                None => vec![arrow_array::new_null_array(data_type, run.len())],
            };
        }
        let mut out: Vec<arrow_array::ArrayRef> =
            self.batches.iter().map(|b| b.column(col).clone()).collect();
        for t in &self.tombs {
            match key_pos.and_then(|p| t.columns().get(p)) {
                Some(c) => out.push(c.clone()),
                None => out.push(arrow_array::new_null_array(data_type, t.num_rows())),
            }
        }
        out
    }

    /// The position of `entry` within [`Memtable::column_sources`].
    pub fn locate(&self, entry: Entry) -> (usize, usize) {
        match entry {
            // A run's entries are all `batch: 0`, and `batches` is then empty.
            Entry::Row { batch, row } => (batch as usize, row as usize),
            Entry::Tombstone { batch, row } => (self.batches.len() + batch as usize, row as usize),
        }
    }

    /// The newest version of `key` with timestamp at or below `read_ts`.
    pub fn get(&self, key: &[u8], read_ts: Timestamp) -> Option<(Timestamp, Entry)> {
        if self.filter.as_ref().is_some_and(|f| !f.may_contain(key)) {
            return None;
        }
        if let Some(run) = &self.run {
            return run
                .get(key, read_ts)
                .map(|(ts, row, tomb)| (ts, run_entry(row, tomb)));
        }
        let from = IndexKey::new(key.into(), read_ts);
        let (found, entry) = self.index.range(from..).next()?;
        (found.key.as_ref() == key).then_some((found.ts.0, *entry))
    }

    /// The row `entry` (from [`Memtable::get`]) points at, as a one-row batch of `schema`
    /// (the table's); `None` for a tombstone.
    pub fn row(
        &self,
        entry: Entry,
        schema: &arrow_schema::SchemaRef,
    ) -> Result<Option<RecordBatch>> {
        let Entry::Row { batch, row } = entry else {
            return Ok(None);
        };
        let (batch, row) = (batch as usize, row as usize);
        let out_of_range = || Error::Internal("memtable entry out of range".into());
        if let Some(run) = &self.run {
            if row >= run.len() {
                return Err(out_of_range());
            }
            if cfg!(target_arch = "wasm32")
                && let Some(b) = run.batch()
            {
                return Ok(Some(b.slice(row, 1)));
            }
            // Natively the row is copied: a slice would keep the whole run (megabytes) alive
            // for as long as the caller keeps the answer. In wasm the answer is encoded to IPC
            // at once, so a slice is enough.
            let one = |a: &arrow_array::ArrayRef| -> Result<arrow_array::ArrayRef> {
                if cfg!(target_arch = "wasm32") {
                    Ok(a.slice(row, 1))
                } else {
                    Ok(crate::gather::gather(&[a.as_ref()], &[(0, row)])?)
                }
            };
            let columns = (0..schema.fields().len())
                .map(|c| run.column(c).ok_or_else(out_of_range).and_then(one))
                .collect::<Result<Vec<_>>>()?;
            return Ok(Some(RecordBatch::try_new(schema.clone(), columns)?));
        }
        // Ingested batches are stored under the table schema: one zero-copy slice.
        self.batches
            .get(batch)
            .filter(|b| row < b.num_rows())
            .map(|b| Some(b.slice(row, 1)))
            .ok_or_else(out_of_range)
    }

    /// Visible versions (newest at or below `read_ts` per key, tombstones included so callers
    /// merging several sources can let them hide older data) with keys in `(start, end)`, in key
    /// order, descending when `reverse`.
    pub fn resolve_range<'a>(
        &'a self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        read_ts: Timestamp,
        reverse: bool,
    ) -> Box<dyn Iterator<Item = (&'a [u8], Timestamp, Entry)> + 'a> {
        if let Some(run) = &self.run {
            let (a, b) = run.bounds(start, end);
            return match run.visible(a, b, read_ts, reverse, usize::MAX) {
                run::Selection::Slice { start, len } => {
                    Box::new((start..start + len).map(|i| run_version(run, i)))
                }
                run::Selection::Rows(rows) => {
                    Box::new(rows.into_iter().map(|i| run_version(run, i)))
                }
            };
        }
        let lo: Bound<IndexKey> = match start {
            Bound::Included(k) => Bound::Included(IndexKey::new(k.into(), Timestamp::MAX)),
            Bound::Excluded(k) => Bound::Excluded(IndexKey::new(k.into(), 0)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let hi: Bound<IndexKey> = match end {
            Bound::Included(k) => Bound::Included(IndexKey::new(k.into(), 0)),
            Bound::Excluded(k) => Bound::Excluded(IndexKey::new(k.into(), Timestamp::MAX)),
            Bound::Unbounded => Bound::Unbounded,
        };
        // BTreeMap::range panics on an inverted or empty-excluded range; both mean "no rows".
        let empty = match (&lo, &hi) {
            (Bound::Included(a), Bound::Included(b)) => a > b,
            (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
                a >= b
            }
            _ => false,
        };
        if empty {
            return Box::new(std::iter::empty());
        }
        let range = self
            .index
            .range((lo, hi))
            .filter(move |(k, _)| k.ts.0 <= read_ts);
        if reverse {
            Box::new(ResolveDescending {
                inner: range.map(|(k, e)| (k.key.as_ref(), k.ts.0, *e)).rev(),
                pending: None,
            })
        } else {
            // Keys whose inline heads differ differ: most rows skip the byte comparison.
            let mut last: Option<&'a IndexKey> = None;
            Box::new(
                range
                    .filter(move |(k, _)| {
                        let fresh = last.is_none_or(|l| l.head != k.head || l.key != k.key);
                        last = Some(*k);
                        fresh
                    })
                    .map(|(k, e)| (k.key.as_ref(), k.ts.0, *e)),
            )
        }
    }
}

/// Row `row` of a run as an entry: runs are one source, so every entry is in batch 0.
fn run_entry(row: usize, tomb: bool) -> Entry {
    let row = row as u32;
    match tomb {
        true => Entry::Tombstone { batch: 0, row },
        false => Entry::Row { batch: 0, row },
    }
}

/// Version `i` of a run.
fn run_version(run: &Run, i: usize) -> (&[u8], Timestamp, Entry) {
    (
        run.keys().value(i),
        run.timestamps().value(i),
        run_entry(i, run.tombstones().value(i)),
    )
}

/// Walking the index backwards meets a key's versions oldest first, so the visible version of
/// a key is the last one seen before the key changes.
struct ResolveDescending<'a, I> {
    inner: I,
    pending: Option<(&'a [u8], Timestamp, Entry)>,
}

impl<'a, I: Iterator<Item = (&'a [u8], Timestamp, Entry)>> Iterator for ResolveDescending<'a, I> {
    type Item = (&'a [u8], Timestamp, Entry);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.inner.next() {
                Some(item) => match self.pending {
                    Some(p) if p.0 != item.0 => return self.pending.replace(item),
                    _ => self.pending = Some(item),
                },
                None => return self.pending.take(),
            }
        }
    }
}
