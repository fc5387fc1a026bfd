//! A memtable. While mutable: ingested RecordBatches kept as they came (no row copies) plus an
//! ordered index from (key asc, commit timestamp desc) to the row that holds that version.
//! Sealed (no more writes), it gets a key filter, and is then gathered into one sorted run
//! (`run.rs`), after which the index and the batches are gone.
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
pub mod run;
use filter::KeyFilter;
use run::Run;

use crate::error::{Error, Result};

/// A commit timestamp. Timestamps of committed writes start at 1 and strictly increase.
pub type Timestamp = u64;

/// What one version of a key is.
///
/// In a memtable sorted into a run, `batch` is always 0 and `row` is the run's row.
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
        Self {
            head: crate::key::head(&key),
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
    /// Set when the memtable is sealed (no more writes).
    filter: Option<KeyFilter>,
    /// Every version, sorted, once the memtable is sealed; `batches`, `tombs` and `index` are
    /// then empty.
    run: Option<Run>,
    /// Batches before this one have their rows in key order ([`Memtable::sort_batches`]).
    sorted_batches: usize,
    /// Rows in the batches after them.
    unsorted_rows: usize,
    /// A [`Memtable::sort_batches`] is scheduled.
    tidy_pending: bool,
    /// A seal has begun (the log is rotating): sorting batches now would be wasted.
    sealing: bool,
}

impl Memtable {
    /// An empty memtable.
    pub fn new() -> Self {
        Self::default()
    }

    /// A sealed memtable takes no writes: the commit path only writes the mutable one.
    fn check_writable(&self) -> Result<()> {
        // Sealing builds the filter: its presence is the seal.
        match self.filter.is_some() {
            true => Err(Error::Internal("a write reached a sealed memtable".into())),
            false => Ok(()),
        }
    }

    /// Adds `batch` whose row `i` has key `keys[i]`, all at timestamp `ts`.
    pub fn insert_batch(
        &mut self,
        batch: RecordBatch,
        keys: Vec<KeyBytes>,
        ts: Timestamp,
    ) -> Result<()> {
        self.check_writable()?;
        self.max_ts = self.max_ts.max(Some(ts));
        let batch_no = self.batches.len() as u32;
        self.unsorted_rows += batch.num_rows();
        self.index_rows(&batch, keys, ts, |row| Entry::Row {
            batch: batch_no,
            row,
        });
        self.batches.push(batch);
        Ok(())
    }

    /// Records tombstones at `ts` for the keys whose key columns are the rows of `key_batch`
    /// (encoded as `keys`).
    pub fn delete_batch(
        &mut self,
        key_batch: RecordBatch,
        keys: Vec<KeyBytes>,
        ts: Timestamp,
    ) -> Result<()> {
        self.check_writable()?;
        self.max_ts = self.max_ts.max(Some(ts));
        let batch_no = self.tombs.len() as u32;
        self.index_rows(&key_batch, keys, ts, |row| Entry::Tombstone {
            batch: batch_no,
            row,
        });
        self.tombs.push(key_batch);
        Ok(())
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
    ) -> Result<(
        Option<(RecordBatch, Vec<KeyBytes>)>,
        Option<(RecordBatch, Vec<KeyBytes>)>,
    )> {
        if self.run.is_some() {
            // Only a transaction's private memtable is asked this, and it is never sealed.
            return Err(Error::Internal(
                "latest_ops asked of a sealed memtable".into(),
            ));
        }
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
         -> Result<RecordBatch> {
            let mut cols = Vec::with_capacity(schema.fields().len());
            for c in 0..schema.fields().len() {
                let arrays: Vec<&dyn arrow_array::Array> = from
                    .iter()
                    .filter_map(|b| b.columns().get(c).map(|a| a.as_ref()))
                    .collect();
                cols.push(arrow_select::interleave::interleave(&arrays, picks)?);
            }
            Ok(RecordBatch::try_new(schema.clone(), cols)?)
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
    pub fn versions_iter(&self) -> Box<dyn Iterator<Item = (&[u8], Timestamp, Entry)> + '_> {
        match &self.run {
            Some(run) => Box::new((0..run.len()).map(|i| run_version(run, i))),
            None => Box::new(self.index.iter().map(|(k, e)| (k.key.as_ref(), k.ts.0, *e))),
        }
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
                    Ok(arrow_select::interleave::interleave(
                        &[a.as_ref()],
                        &[(0, row)],
                    )?)
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

    /// Rows ingested since the last [`Memtable::sort_batches`].
    pub fn unsorted_rows(&self) -> usize {
        self.unsorted_rows
    }

    /// Marks the start (or, should it fail, the end) of a seal: [`Memtable::sort_batches`]
    /// then leaves the batches as they are, for the run the seal gathers.
    pub fn set_sealing(&mut self, sealing: bool) {
        self.sealing = sealing;
    }

    /// Marks a [`Memtable::sort_batches`] as scheduled; returns false when one already was.
    pub fn claim_tidy(&mut self) -> bool {
        !std::mem::replace(&mut self.tidy_pending, true)
    }

    /// Reorders the rows of each batch ingested since the last call into key order (dropping
    /// rows a later row of the same batch replaced) and points the index at their new places.
    /// Batches arrive in their writer's order (random keys, for B1), so a scan of the mutable
    /// memtable gathered each row from a random place; sorted, it walks every batch forwards
    /// (a full scan of B1's data ~25% faster). Run when writes pause, not by a write.
    pub fn sort_batches(&mut self) -> Result<()> {
        self.tidy_pending = false;
        let from = self.sorted_batches;
        let count = self.batches.len().saturating_sub(from);
        if self.filter.is_some() || self.sealing || count == 0 {
            return Ok(());
        }
        // The index walks keys in order: each batch's rows come out in the order they must
        // be stored in, and their count so far is each row's new place.
        let mut orders: Vec<Vec<(usize, usize)>> = vec![Vec::new(); count];
        for e in self.index.values() {
            if let Entry::Row { batch, row } = *e
                && let Some(order) = (batch as usize)
                    .checked_sub(from)
                    .and_then(|b| orders.get_mut(b))
            {
                order.push((0, row as usize));
            }
        }
        let mut sorted = Vec::with_capacity(count);
        for (b, order) in self.batches.iter().skip(from).zip(&orders) {
            let columns = b
                .columns()
                .iter()
                .map(|c| arrow_select::interleave::interleave(&[c.as_ref()], order))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(order.len()));
            sorted.push(RecordBatch::try_new_with_options(
                b.schema(),
                columns,
                &options,
            )?);
        }
        // Every batch is built: nothing can fail from here on.
        let mut placed = vec![0u32; count];
        for e in self.index.values_mut() {
            if let Entry::Row { batch, row } = e
                && let Some(n) = (*batch as usize)
                    .checked_sub(from)
                    .and_then(|b| placed.get_mut(b))
            {
                *row = *n;
                *n += 1;
            }
        }
        for (old, new) in self.batches.iter_mut().skip(from).zip(sorted) {
            self.bytes = self.bytes.saturating_sub(old.get_array_memory_size())
                + new.get_array_memory_size();
            *old = new;
        }
        self.sorted_batches = self.batches.len();
        self.unsorted_rows = 0;
        Ok(())
    }

    /// Seals the memtable: it takes no more writes, and gets a key filter for point gets.
    /// [`Memtable::sort_into_run`] then reorganizes it for reads.
    pub fn seal(&mut self) {
        if self.filter.is_none() {
            self.build_filter();
        }
    }

    /// Gathers a sealed memtable's versions into one sorted run (columns of `table`) and frees
    /// the index and the ingested batches. Until then the memtable answers from its index;
    /// should the gather fail, it stays that way. Does nothing to an unsealed memtable.
    pub fn sort_into_run(&mut self, table: &crate::schema::TableSchema) {
        if self.filter.is_some()
            && self.run.is_none()
            && !self.index.is_empty()
            && let Ok(run) = self.build_run(table)
        {
            self.index = BTreeMap::new();
            self.batches = Vec::new();
            self.tombs = Vec::new();
            self.bytes =
                run.memory_bytes() + self.filter.as_ref().map_or(0, KeyFilter::memory_bytes);
            self.run = Some(run);
        }
    }

    /// One sealed memtable holding every version of `parts` (sealed memtables, oldest first,
    /// each already a run: see [`Memtable::sort_into_run`]) as one run, so that a scan of
    /// them slices one source instead of interleaving several. `None` when a part is not a
    /// sealed run.
    pub fn merge_sealed(
        parts: &[&Memtable],
        table: &crate::schema::TableSchema,
    ) -> Result<Option<Memtable>> {
        let mut runs = Vec::with_capacity(parts.len());
        for p in parts {
            match (&p.filter, &p.run) {
                (Some(_), Some(run)) => runs.push(run),
                _ => return Ok(None),
            }
        }
        let run = Run::merge(&runs)?.with_table_schema(table.arrow());
        let filter = KeyFilter::new(run.keys().iter().flatten(), run.len());
        Ok(Some(Memtable {
            bytes: run.memory_bytes() + filter.memory_bytes(),
            rows: parts.iter().map(|p| p.rows).sum(),
            max_ts: parts.iter().filter_map(|p| p.max_ts).max(),
            filter: Some(filter),
            run: Some(run),
            ..Memtable::default()
        }))
    }

    fn build_run(&self, table: &crate::schema::TableSchema) -> Result<Run> {
        // One walk of the index collects everything (each walk was a few ms at B1's sizes).
        let n = self.index.len();
        let key_bytes = self.index.keys().map(|k| k.key.len()).sum();
        let mut picks: Vec<(usize, usize)> = Vec::with_capacity(n);
        let mut keys = arrow_array::builder::BinaryBuilder::with_capacity(n, key_bytes);
        let mut ts = Vec::with_capacity(n);
        let mut tomb = arrow_array::builder::BooleanBufferBuilder::new(n);
        for (k, e) in &self.index {
            picks.push(self.locate(*e));
            keys.append_value(&k.key);
            ts.push(k.ts.0);
            tomb.append(matches!(e, Entry::Tombstone { .. }));
        }
        let key_idx = table.key_indices();
        let mut columns = Vec::with_capacity(table.arrow().fields().len());
        for (c, field) in table.arrow().fields().iter().enumerate() {
            let key_pos = key_idx.iter().position(|&k| k == c);
            let sources = self.column_sources(c, key_pos, field.data_type());
            let refs: Vec<&dyn arrow_array::Array> = sources.iter().map(|a| a.as_ref()).collect();
            columns.push(arrow_select::interleave::interleave(&refs, &picks)?);
        }
        Ok(Run::new(
            columns,
            keys.finish(),
            arrow_array::UInt64Array::from(ts),
            arrow_array::BooleanArray::new(tomb.finish(), None),
        )
        .with_table_schema(table.arrow()))
    }

    /// The sorted run of a sealed memtable.
    pub fn run(&self) -> Option<&Run> {
        self.run.as_ref()
    }

    fn build_filter(&mut self) {
        let filter = KeyFilter::new(self.index.keys().map(|k| k.key.as_ref()), self.index.len());
        self.bytes += filter.memory_bytes();
        self.filter = Some(filter);
    }

    /// Approximate heap bytes held (batches and index, or the run).
    pub fn memory_bytes(&self) -> usize {
        self.bytes
    }

    /// The newest commit timestamp held, if any.
    pub fn max_ts(&self) -> Option<Timestamp> {
        self.max_ts
    }

    /// Number of versions (rows and tombstones) held.
    pub fn versions(&self) -> usize {
        self.run.as_ref().map_or(self.index.len(), Run::len)
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

#[cfg(test)]
mod tests;
