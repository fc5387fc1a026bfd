//! The mutable memtable: ingested RecordBatches kept as they came (no row copies) plus an ordered
//! index from (key asc, commit timestamp desc) to the row that holds that version.
//!
//! Invariant: for a key, the first index entry at or after `(key, Reverse(T))` is the newest
//! version visible at read timestamp T. A tombstone and a put of one key never share a
//! timestamp within a commit, and a later write in one batch replaces an earlier one (last row
//! wins), so resolution is unambiguous. Pinned by `tests::newest_version_at_or_below_ts_wins`.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::ops::Bound;

use arrow_array::RecordBatch;

use crate::key::KeyBytes;

mod filter;
use filter::KeyFilter;

/// A commit timestamp. Timestamps of committed writes start at 1 and strictly increase.
pub type Timestamp = u64;

/// What one version of a key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// Row `row` of the memtable's batch number `batch`.
    Row {
        /// Index into the memtable's batches.
        batch: u32,
        /// Row within that batch.
        row: u32,
    },
    /// The key was deleted; row `row` of tombstone batch `batch` holds the key's columns.
    Tombstone {
        /// Index into the memtable's tombstone key batches.
        batch: u32,
        /// Row within that batch.
        row: u32,
    },
}

/// An index entry's key: the encoded key ascending, then the timestamp descending. The key's
/// first eight bytes are kept inline as a big-endian word (`head`), so most comparisons of a
/// B-tree search settle without following the key's pointer: a lookup walks ~17 entries, and
/// each pointer followed was a cache miss (the B-tree search was a sixth of a point get).
#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexKey {
    head: u64,
    key: KeyBytes,
    ts: Reverse<Timestamp>,
}

impl IndexKey {
    fn new(key: KeyBytes, ts: Timestamp) -> Self {
        // Zero-padded, so heads order as the keys do: when two heads differ, they differ at
        // a byte both keys have, or at one past the end of the shorter key, which is then a
        // prefix of the longer one and sorts first either way.
        let mut b = [0u8; 8];
        for (d, s) in b.iter_mut().zip(key.iter()) {
            *d = *s;
        }
        Self {
            head: u64::from_be_bytes(b),
            key,
            ts: Reverse(ts),
        }
    }
}

impl Ord for IndexKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.head
            .cmp(&other.head)
            .then_with(|| self.key.cmp(&other.key))
            .then(self.ts.cmp(&other.ts))
    }
}

impl PartialOrd for IndexKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// An in-memory, multi-version sorted table.
#[derive(Debug, Default)]
pub struct Memtable {
    batches: Vec<RecordBatch>,
    /// Key columns of deleted keys, so a flushed tombstone carries its key values.
    tombs: Vec<RecordBatch>,
    index: BTreeMap<IndexKey, Entry>,
    bytes: usize,
    rows: usize,
    max_ts: Option<Timestamp>,
    /// Set when the memtable is sealed (no more writes); any later write drops it.
    filter: Option<KeyFilter>,
}

impl Memtable {
    /// An empty memtable.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `batch` whose row `i` has key `keys[i]`, all at timestamp `ts`.
    pub fn insert_batch(&mut self, batch: RecordBatch, keys: Vec<KeyBytes>, ts: Timestamp) {
        self.drop_filter();
        self.max_ts = self.max_ts.max(Some(ts));
        let batch_no = self.batches.len() as u32;
        self.index_rows(&batch, keys, ts, |row| Entry::Row {
            batch: batch_no,
            row,
        });
        self.batches.push(batch);
    }

    /// Records tombstones at `ts` for the keys whose key columns are the rows of `key_batch`
    /// (encoded as `keys`).
    pub fn delete_batch(&mut self, key_batch: RecordBatch, keys: Vec<KeyBytes>, ts: Timestamp) {
        self.drop_filter();
        self.max_ts = self.max_ts.max(Some(ts));
        let batch_no = self.tombs.len() as u32;
        self.index_rows(&key_batch, keys, ts, |row| Entry::Tombstone {
            batch: batch_no,
            row,
        });
        self.tombs.push(key_batch);
    }

    /// Indexes row `i` of `batch` under `keys[i]` at `ts` as `entry(i)`, accounting its memory.
    fn index_rows(
        &mut self,
        batch: &RecordBatch,
        keys: Vec<KeyBytes>,
        ts: Timestamp,
        entry: impl Fn(u32) -> Entry,
    ) {
        self.bytes += batch.get_array_memory_size();
        self.rows += keys.len();
        for (row, key) in keys.into_iter().enumerate() {
            self.bytes += key.len() + 56;
            self.index.insert(IndexKey::new(key, ts), entry(row as u32));
        }
    }

    /// The newest version of every key, split into upserted rows (as one batch under
    /// `schema`) and deleted keys (as one batch of key columns under `key_schema`), each with
    /// the keys' encodings: what a transaction's private memtable commits.
    #[allow(clippy::type_complexity)]
    pub fn latest_ops(
        &self,
        schema: &arrow_schema::SchemaRef,
        key_schema: &arrow_schema::SchemaRef,
    ) -> Result<
        (
            Option<(RecordBatch, Vec<KeyBytes>)>,
            Option<(RecordBatch, Vec<KeyBytes>)>,
        ),
        arrow_schema::ArrowError,
    > {
        let mut rows: Vec<(usize, usize)> = Vec::new();
        let mut row_keys = Vec::new();
        let mut dels: Vec<(usize, usize)> = Vec::new();
        let mut del_keys = Vec::new();
        let mut last: Option<&[u8]> = None;
        for (IndexKey { key, .. }, entry) in &self.index {
            if last == Some(key.as_ref()) {
                continue;
            }
            last = Some(key.as_ref());
            match *entry {
                Entry::Row { batch, row } => {
                    rows.push((batch as usize, row as usize));
                    row_keys.push(key.clone());
                }
                Entry::Tombstone { batch, row } => {
                    dels.push((batch as usize, row as usize));
                    del_keys.push(key.clone());
                }
            }
        }
        let gather = |from: &[RecordBatch],
                      picks: &[(usize, usize)],
                      schema: &arrow_schema::SchemaRef|
         -> Result<RecordBatch, arrow_schema::ArrowError> {
            let mut cols = Vec::with_capacity(schema.fields().len());
            for c in 0..schema.fields().len() {
                let arrays: Vec<&dyn arrow_array::Array> = from
                    .iter()
                    .filter_map(|b| b.columns().get(c).map(|a| a.as_ref()))
                    .collect();
                cols.push(arrow_select::interleave::interleave(&arrays, picks)?);
            }
            RecordBatch::try_new(schema.clone(), cols)
        };
        let puts = if rows.is_empty() {
            None
        } else {
            Some((gather(&self.batches, &rows, schema)?, row_keys))
        };
        let deletes = if dels.is_empty() {
            None
        } else {
            Some((gather(&self.tombs, &dels, key_schema)?, del_keys))
        };
        Ok((puts, deletes))
    }

    /// Every version in (key asc, ts desc) order: what a flush writes.
    pub fn versions_iter(&self) -> impl Iterator<Item = (&[u8], Timestamp, Entry)> + '_ {
        self.index.iter().map(|(k, e)| (k.key.as_ref(), k.ts.0, *e))
    }

    /// Rows (versions) ingested, including overwritten ones and tombstones.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of ingested batches (puts and deletes).
    pub fn batch_count(&self) -> usize {
        self.batches.len() + self.tombs.len()
    }

    /// The arrays to interleave from for table column `col` (`key_pos` is its position in the
    /// key, if it is a key column), and where each entry's value sits in them: data batches
    /// first, then one array per tombstone batch (its key column, or nulls).
    pub fn column_sources(
        &self,
        col: usize,
        key_pos: Option<usize>,
        data_type: &arrow_schema::DataType,
    ) -> Vec<arrow_array::ArrayRef> {
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
            Entry::Row { batch, row } => (batch as usize, row as usize),
            Entry::Tombstone { batch, row } => (self.batches.len() + batch as usize, row as usize),
        }
    }

    /// The newest version of `key` with timestamp at or below `read_ts`.
    pub fn get(&self, key: &[u8], read_ts: Timestamp) -> Option<(Timestamp, Entry)> {
        if self.filter.as_ref().is_some_and(|f| !f.may_contain(key)) {
            return None;
        }
        let from = IndexKey::new(key.into(), read_ts);
        let (found, entry) = self.index.range(from..).next()?;
        (found.key.as_ref() == key).then_some((found.ts.0, *entry))
    }

    /// Builds the key filter point gets check first: called when the memtable is sealed and
    /// takes no more writes (a later write would drop the filter, never make it lie).
    pub fn build_filter(&mut self) {
        self.drop_filter();
        let keys = self.index.keys().map(|k| k.key.as_ref());
        let filter = KeyFilter::new(keys, self.index.len());
        self.bytes += filter.memory_bytes();
        self.filter = Some(filter);
    }

    fn drop_filter(&mut self) {
        if let Some(f) = self.filter.take() {
            self.bytes = self.bytes.saturating_sub(f.memory_bytes());
        }
    }

    /// The batches rows point into.
    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    /// Approximate heap bytes held (batches and index).
    pub fn memory_bytes(&self) -> usize {
        self.bytes
    }

    /// The newest commit timestamp held, if any.
    pub fn max_ts(&self) -> Option<Timestamp> {
        self.max_ts
    }

    /// Number of versions (rows and tombstones) indexed.
    pub fn versions(&self) -> usize {
        self.index.len()
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
            .map(|(k, e)| (k.key.as_ref(), k.ts.0, *e))
            .filter(move |(_, ts, _)| *ts <= read_ts);
        if reverse {
            Box::new(ResolveDescending {
                inner: range.rev(),
                pending: None,
            })
        } else {
            let mut last: Option<&'a [u8]> = None;
            Box::new(range.filter(move |(k, _, _)| {
                let fresh = last != Some(*k);
                last = Some(*k);
                fresh
            }))
        }
    }
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

#[cfg(test)]
mod tests;
