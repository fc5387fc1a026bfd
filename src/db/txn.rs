//! Optimistic transactions: reads at a snapshot, writes buffered in a private memtable (so the
//! transaction reads its own writes through the normal read path), and a commit that fails
//! with `CONFLICT` when any key it wrote got a version committed after its snapshot.

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;

use super::ScanStream;
use super::ops::Op;
use super::{Db, Snapshot};
use crate::error::Result;
use crate::key::KeyBytes;
use crate::key::Timestamp;
use crate::memtable::Memtable;
use crate::read::ScanOptions;
use crate::read::mem_source::{MemRef, lock};
use crate::value::Value;

/// An optimistic transaction with snapshot isolation. Reads see the snapshot it started from
/// plus its own writes; nothing is visible to others until [`Transaction::commit`], which
/// writes everything with one commit timestamp or nothing. Dropping it aborts.
#[derive(Debug)]
pub struct Transaction {
    db: Db,
    snapshot: Snapshot,
    writes: MemRef,
}

impl Db {
    /// Starts a transaction reading at the newest visible commit.
    pub fn transaction(&self) -> Result<Transaction> {
        let writes: MemRef = Arc::new(Mutex::new(Memtable::new()));
        let snapshot = self.snapshot()?.with_overlay(writes.clone());
        Ok(Transaction {
            db: self.clone(),
            snapshot,
            writes,
        })
    }
}

impl Transaction {
    /// The table this transaction writes to.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The snapshot timestamp the transaction reads at.
    pub fn read_ts(&self) -> Timestamp {
        self.snapshot.ts()
    }

    /// The row with this key, seeing this transaction's own writes.
    pub async fn get(&self, key: &[Value]) -> Result<Option<RecordBatch>> {
        self.snapshot.get(key).await
    }

    /// The rows selected by `opts`, seeing this transaction's own writes.
    pub async fn scan(&self, opts: &ScanOptions) -> Result<RecordBatch> {
        self.snapshot.scan(opts).await
    }

    /// [`Transaction::scan`] as a stream of bounded batches.
    pub async fn scan_stream(&self, opts: &ScanOptions) -> Result<ScanStream> {
        self.snapshot.scan_stream(opts).await
    }

    /// Buffers an upsert of every row of `batch` (the last row wins for a repeated key).
    pub fn put(&self, batch: RecordBatch) -> Result<()> {
        self.db.check_open()?;
        if let Some((batch, keys)) = self.db.prepare_put(batch)? {
            lock(&self.writes)?.insert_batch(batch, keys, Timestamp::MAX)?;
        }
        Ok(())
    }

    /// Buffers upserts of rows given as values in column order.
    pub fn put_rows(&self, rows: &[Vec<Value>]) -> Result<()> {
        let batch = self.db.rows_batch(rows)?;
        self.put(batch)
    }

    /// Buffers deletes of these keys.
    pub fn delete_many(&self, keys: &[Vec<Value>]) -> Result<()> {
        self.db.check_open()?;
        if keys.is_empty() {
            return Ok(());
        }
        let (batch, encoded) = self.db.key_batch(keys)?;
        lock(&self.writes)?.delete_batch(batch, encoded, Timestamp::MAX)?;
        Ok(())
    }

    /// Buffers a delete of the row with this key.
    pub fn delete(&self, key: &[Value]) -> Result<()> {
        self.delete_many(&[key.to_vec()])
    }

    /// Commits every buffered write with one timestamp and returns it. Fails with `CONFLICT`
    /// (and writes nothing) when another commit wrote one of the same keys after this
    /// transaction's snapshot: in this handle's memtables, in any live SST, or (on a shared
    /// object store) through another handle. A transaction that wrote nothing returns its
    /// read timestamp.
    pub async fn commit(self) -> Result<Timestamp> {
        let shared = &self.db.shared;
        let (puts, deletes) =
            lock(&self.writes)?.latest_ops(shared.schema.arrow(), &shared.schema.key_schema())?;
        let mut ops = Vec::new();
        let mut keys: Vec<KeyBytes> = Vec::new();
        if let Some((batch, k)) = puts {
            keys.extend(k.iter().cloned());
            ops.push(Op::Put(batch, k));
        }
        if let Some((batch, k)) = deletes {
            keys.extend(k.iter().cloned());
            ops.push(Op::Delete(batch, k));
        }
        if ops.is_empty() {
            return Ok(self.read_ts());
        }
        self.db
            .submit(Op::Txn {
                ops,
                read_ts: self.read_ts(),
                keys,
            })
            .await
    }

    /// Drops every buffered write.
    pub fn abort(self) {}
}

impl Db {
    /// The `CONFLICT` a transaction at `read_ts` fails with, saying which kind it is.
    pub(super) fn conflict_of(&self, read_ts: Timestamp) -> crate::error::Error {
        if self.below_history_floor(read_ts) {
            super::ops::floor_conflict_error(read_ts)
        } else {
            super::ops::conflict_error(read_ts)
        }
    }

    /// Whether `read_ts` is below the history floor of the head this handle last saw.
    pub(super) fn below_history_floor(&self, read_ts: Timestamp) -> bool {
        self.shared
            .manifest
            .cached()
            .is_some_and(|h| read_ts < h.state.history_floor_ts)
    }

    /// Whether any of `keys` has a version newer than `read_ts` in this handle's memtables or
    /// in the live SSTs. Caller holds the commit lock, so nothing commits meanwhile here.
    pub(super) async fn conflicts(&self, read_ts: Timestamp, keys: &[KeyBytes]) -> Result<bool> {
        // Below the retained history, a compaction on another handle may already have merged
        // away the versions that would prove a conflict: too old to check, so it fails.
        if self.below_history_floor(read_ts) {
            return Ok(true);
        }
        let (mems, version) = {
            let st = self.state()?;
            let mut mems = vec![st.mutable.clone()];
            mems.extend(st.immutables.iter().map(|s| s.mem.clone()));
            (mems, st.version.clone())
        };
        for mem in &mems {
            let mem = lock(mem)?;
            if mem.max_ts().is_some_and(|t| t > read_ts)
                && keys
                    .iter()
                    .any(|k| mem.get(k, Timestamp::MAX).is_some_and(|(t, _)| t > read_ts))
            {
                return Ok(true);
            }
        }
        let storage = self.shared.storage.as_ref();
        for h in &version.ssts {
            if h.meta.max_ts <= read_ts {
                continue;
            }
            let candidates: Vec<&KeyBytes> = keys
                .iter()
                .filter(|k| {
                    k.as_ref() >= h.meta.min_key.as_ref() && k.as_ref() <= h.meta.max_key.as_ref()
                })
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let Some(sst) = self.open_sst(h).await? else {
                continue;
            };
            // Only the version's timestamp matters: read the narrowest column, a key one.
            let one = [self
                .shared
                .schema
                .key_indices()
                .first()
                .copied()
                .unwrap_or(0)];
            for k in candidates {
                let t = match sst.get(storage, k, Timestamp::MAX, &one).await? {
                    Some(crate::sst::Found::Row(_, t)) | Some(crate::sst::Found::Deleted(t)) => t,
                    None => continue,
                };
                if t > read_ts {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}
