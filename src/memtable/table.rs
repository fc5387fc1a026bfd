//! The memtable itself: its state, the write path (puts and tombstones into the index), what a
//! transaction's private memtable commits, and its sizes.

use std::collections::BTreeMap;

use arrow_array::RecordBatch;

use super::filter::KeyFilter;
use super::index::IndexKey;
use super::run::Run;
use super::{Entry, Timestamp};
use crate::error::{Error, Result};
use crate::key::KeyBytes;

/// An in-memory, multi-version sorted table.
#[derive(Debug, Default)]
pub struct Memtable {
    pub(super) batches: Vec<RecordBatch>,
    /// Key columns of deleted keys, so a flushed tombstone carries its key values.
    pub(super) tombs: Vec<RecordBatch>,
    pub(super) index: BTreeMap<IndexKey, Entry>,
    pub(super) bytes: usize,
    pub(super) rows: usize,
    pub(super) max_ts: Option<Timestamp>,
    /// Set when the memtable is sealed (no more writes).
    pub(super) filter: Option<KeyFilter>,
    /// Every version, sorted, once the memtable is sealed; `batches`, `tombs` and `index` are
    /// then empty.
    pub(super) run: Option<Run>,
    /// Batches before this one have their rows in key order ([`Memtable::sort_batches`]).
    pub(super) sorted_batches: usize,
    /// Rows in the batches after them.
    pub(super) unsorted_rows: usize,
    /// A [`Memtable::sort_batches`] is scheduled.
    pub(super) tidy_pending: bool,
    /// A seal has begun (the log is rotating): sorting batches now would be wasted.
    pub(super) sealing: bool,
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
                cols.push(crate::gather::gather(&arrays, picks)?);
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

    /// Rows (versions) ingested, including overwritten ones and tombstones.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of ingested batches (puts and deletes).
    pub fn batch_count(&self) -> usize {
        self.batches.len() + self.tombs.len()
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
}
