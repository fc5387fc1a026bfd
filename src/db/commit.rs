//! The commit pipeline. Each write is queued with a sequence number; the first writer to take
//! the commit lock becomes the leader, drains the queue (up to the WAL's queue size), assigns
//! commit timestamps in queue order and makes the whole group durable with one write:
//! - WAL: one append of every group member's frames (and one sync, per policy), then the rows
//!   enter the memtable;
//! - seal every batch: one SST holding the group, then one manifest commit;
//! - volatile: straight into the memtable.
//!
//! Followers find their outcome recorded when they get the lock. Only after a group is applied
//! does `visible_ts` move, so no reader sees a commit before it is durable, or half a group.

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use bytes::Bytes;

use super::{Db, Sealed, State};
use crate::error::{Error, Result};
use crate::key::{KeyBytes, encode_rows};
use crate::manifest::{Edit, EditKind, Head};
use crate::memtable::{Memtable, Timestamp};
use crate::options::{Durability, SealPolicy};
use crate::read::mem_source::lock;
use crate::sst::SstHandle;
use crate::storage::PutMode;
use crate::wal::{WalOp, WalWriter, encode_txn, replay};

/// One write.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// Rows (table schema) and their encoded keys.
    Put(RecordBatch, Vec<KeyBytes>),
    /// Key columns and their encoded keys.
    Delete(RecordBatch, Vec<KeyBytes>),
}

/// A queued write.
#[derive(Debug)]
pub(crate) struct Pending {
    seq: u64,
    op: Op,
}

impl Op {
    fn apply(self, mem: &mut Memtable, ts: Timestamp) {
        match self {
            Op::Put(b, k) => mem.insert_batch(b, k, ts),
            Op::Delete(b, k) => mem.delete_batch(b, k, ts),
        }
    }

    fn wal_payload(&self) -> Result<(WalOp, Vec<u8>)> {
        let (op, batch) = match self {
            Op::Put(b, _) => (WalOp::Put, b),
            Op::Delete(b, _) => (WalOp::Delete, b),
        };
        Ok((
            op,
            crate::ipc::encode_stream(&batch.schema(), std::slice::from_ref(batch))?,
        ))
    }
}

/// Records an outcome for every commit of a group whose leader's future was dropped before it
/// finished (e.g. a caller's timeout), so followers never wait for an answer that cannot come.
struct Unanswered<'a> {
    db: &'a Db,
    seqs: Vec<u64>,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if self.seqs.is_empty() {
            return;
        }
        if let Ok(mut st) = self.db.shared.state.lock() {
            for s in self.seqs.drain(..) {
                st.outcomes.insert(
                    s,
                    Err(Error::Storage(
                        "the commit was abandoned mid-write; it may or may not be durable".into(),
                    )),
                );
            }
        }
    }
}

/// Random SST ids keep concurrent writers on one prefix from colliding; the wall-clock prefix
/// lets GC tell an old orphan from a file whose commit is still in flight.
pub(crate) fn sst_path(level: u32, wall_ms: u64, id: u64) -> String {
    format!("sst/L{level}/{wall_ms:013}-{id:016x}.parquet")
}

/// The wall-clock time in an SST path written by [`sst_path`].
pub(crate) fn sst_path_ms(path: &str) -> Option<u64> {
    path.rsplit('/').next()?.split('-').next()?.parse().ok()
}

impl Db {
    /// Queues `op`, waits for a leader (possibly itself) to make it durable, and returns its
    /// commit timestamp.
    pub(super) async fn submit(&self, op: Op) -> Result<Timestamp> {
        let seq = {
            let mut st = self.state()?;
            st.next_seq += 1;
            let seq = st.next_seq;
            st.queue.push(Pending { seq, op });
            seq
        };
        loop {
            let mut wal = self.shared.commit.lock().await;
            {
                let mut st = self.raw_state()?;
                if let Some(outcome) = st.outcomes.remove(&seq) {
                    return outcome;
                }
                if st.closed {
                    st.queue.retain(|p| p.seq != seq);
                    return Err(Error::Closed);
                }
            }
            let window = match &self.shared.config.durability {
                Durability::Wal(c) => c.flush_interval_ms,
                _ => 0,
            };
            if window > 0 {
                // Let more commits join the group before writing it.
                self.shared.config.clock.sleep(window).await;
            }
            let group: Vec<Pending> = {
                let mut st = self.raw_state()?;
                let cap = match &self.shared.config.durability {
                    Durability::Wal(c) => c.queue_size,
                    _ => usize::MAX,
                };
                let n = st.queue.len().min(cap);
                st.queue.drain(..n).collect()
            };
            if group.is_empty() {
                // Our entry is neither queued nor answered: its leader vanished without the
                // guard below recording an outcome (only possible if the state lock failed).
                return Err(Error::Internal("a commit's outcome was lost".into()));
            }
            let seqs: Vec<u64> = group.iter().map(|p| p.seq).collect();
            let mut guard = Unanswered {
                db: self,
                seqs: seqs.clone(),
            };
            let result = match &self.shared.config.durability {
                Durability::Wal(_) => self.write_wal_group(&mut wal, group).await,
                Durability::Volatile => self.apply_group(&mut wal, group, None).await,
                Durability::SealEveryBatch => self.write_sst_group(group).await,
            };
            guard.seqs.clear();
            drop(wal);
            let mut mine = None;
            {
                let mut st = self.raw_state()?;
                match result {
                    Ok(ts) => {
                        for (s, t) in seqs.iter().zip(ts) {
                            if *s == seq {
                                mine = Some(Ok(t));
                            } else {
                                st.outcomes.insert(*s, Ok(t));
                            }
                        }
                    }
                    Err(e) => {
                        for s in &seqs {
                            if *s == seq {
                                mine = Some(Err(e.duplicate()));
                            } else {
                                st.outcomes.insert(*s, Err(e.duplicate()));
                            }
                        }
                    }
                }
            }
            if let Some(m) = mine {
                let ts = m?;
                // The commit is durable and visible: a failing flush must not report it as
                // failed (the caller would retry it). The flush is retried by later commits,
                // `flush()` and `close()`, which do report errors.
                let _ = self.maybe_flush().await;
                return Ok(ts);
            }
        }
    }

    /// Assigns timestamps to `group` in order, starting above everything this handle and the
    /// manifest head have seen.
    fn assign(&self, st: &mut State, n: usize, floor: Timestamp) -> Vec<Timestamp> {
        let base = st.last_ts.max(floor);
        let ts: Vec<Timestamp> = (1..=n as u64).map(|i| base + i).collect();
        st.last_ts = base + n as u64;
        ts
    }

    async fn write_wal_group(
        &self,
        wal: &mut Option<WalWriter>,
        group: Vec<Pending>,
    ) -> Result<Vec<Timestamp>> {
        let ts = {
            let mut st = self.raw_state()?;
            self.assign(&mut st, group.len(), 0)
        };
        let mut frames = Vec::new();
        for (p, t) in group.iter().zip(&ts) {
            let (op, ipc) = p.op.wal_payload()?;
            encode_txn(&mut frames, *t, *t, &[(op, &ipc)]);
        }
        let writer = wal
            .as_mut()
            .ok_or_else(|| Error::Internal("WAL mode without a WAL writer".into()))?;
        let now = self.shared.config.clock.now_millis();
        if let Err(e) = writer
            .write(self.shared.wal_storage.as_ref(), frames, now)
            .await
        {
            // The segment may now end in a torn frame: later frames go to a fresh segment so
            // replay, which stops a segment at its first bad frame, still reaches them.
            writer
                .abandon_segment(self.shared.wal_storage.as_ref())
                .await;
            return Err(e);
        }
        self.apply_group(wal, group, Some(ts)).await
    }

    /// Applies a durable group to the mutable memtable, makes it visible, and seals per policy
    /// (rotating the WAL so the sealed memtable's commits end where the next one's begin).
    async fn apply_group(
        &self,
        wal: &mut Option<WalWriter>,
        group: Vec<Pending>,
        ts: Option<Vec<Timestamp>>,
    ) -> Result<Vec<Timestamp>> {
        let (ts, sealed) = {
            let mut st = self.raw_state()?;
            let ts = match ts {
                Some(t) => t,
                None => self.assign(&mut st, group.len(), 0),
            };
            let now = self.shared.config.clock.now_millis();
            let since = *st.mutable_since_ms.get_or_insert(now);
            let seal = {
                let mut mem = lock(&st.mutable)?;
                for (p, t) in group.into_iter().zip(&ts) {
                    p.op.apply(&mut mem, *t);
                }
                match self.shared.config.seal {
                    SealPolicy::BatchesThreshold { batches } => mem.batch_count() >= batches,
                    SealPolicy::Rows(n) => mem.rows() >= n,
                    SealPolicy::Bytes(n) => mem.memory_bytes() >= n,
                    SealPolicy::AgeMillis(ms) => now.saturating_sub(since) >= ms,
                    SealPolicy::Never => false,
                }
            };
            if let Some(last) = ts.last() {
                st.visible_ts = st.visible_ts.max(*last);
            }
            (ts, seal)
        };
        if sealed {
            // The group is durable and visible; if sealing fails (rotating the log), the
            // policy fires again on the next group.
            let _ = self.seal_with(wal).await;
        }
        Ok(ts)
    }

    /// Seals the mutable memtable (if it holds anything). Caller holds the commit lock.
    pub(super) async fn seal_with(&self, wal: &mut Option<WalWriter>) -> Result<()> {
        let next_segment = match wal.as_mut() {
            Some(w) => {
                let now = self.shared.config.clock.now_millis();
                w.rotate(self.shared.wal_storage.as_ref(), now).await?
            }
            None => 0,
        };
        let mut st = self.raw_state()?;
        if lock(&st.mutable)?.versions() == 0 {
            return Ok(());
        }
        let fresh = Arc::new(Mutex::new(Memtable::new()));
        let old = std::mem::replace(&mut st.mutable, fresh);
        let segment = std::mem::replace(&mut st.mutable_segment, next_segment);
        st.immutables.push(Sealed { mem: old, segment });
        st.mutable_since_ms = None;
        Ok(())
    }

    /// Seal every batch: the group becomes one SST, committed to the manifest before any of
    /// its puts resolves. A concurrent writer that committed first forces new timestamps (ours
    /// must order after theirs), so the SST is rewritten and the commit retried.
    async fn write_sst_group(&self, group: Vec<Pending>) -> Result<Vec<Timestamp>> {
        let ops: Vec<Op> = group.into_iter().map(|p| p.op).collect();
        let manifest = &self.shared.manifest;
        let head: Head = match manifest.cached() {
            Some(h) => h,
            None => manifest
                .load()
                .await?
                .ok_or_else(|| Error::Corrupt("the manifest head is missing".into()))?,
        };
        let ts = {
            let mut st = self.raw_state()?;
            self.assign(&mut st, ops.len(), head.state.last_ts)
        };
        let mut mem = Memtable::new();
        for (op, t) in ops.into_iter().zip(&ts) {
            op.apply(&mut mem, *t);
        }
        let now = self.shared.config.clock.now_millis();
        let id = crate::codec::random_u64()?;
        let path = sst_path(0, now, id);
        let Some((bytes, mut sst)) =
            crate::sst::writer::write_sst(&self.shared.schema, &[&mem], id, 0, path.clone())?
        else {
            return Ok(ts);
        };
        drop(mem);
        let storage = &self.shared.storage;
        storage.put(&path, bytes, PutMode::CreateNew).await?;
        let edit = Edit {
            kind: Some(EditKind::Put),
            commit_id: id,
            add: vec![sst.meta.clone()],
            min_ts: ts.first().copied(),
            restamp: true,
            last_ts: ts.last().copied(),
            ..Edit::default()
        };
        // The file may be named by the head even if this fails (a lost reply); GC deletes it
        // later if not.
        let new_head = manifest.commit(&edit).await?;
        // Where our rows landed: a concurrent writer may have made the commit re-stamp them;
        // the head's record of our SST says by how much.
        let shift = match new_head.state.ssts.iter().find(|m| m.id == id) {
            Some(m) => {
                let shift = m.ts_shift;
                sst = Arc::new(sst.with_meta(m.clone()));
                shift
            }
            // Already merged away by a compaction that raced the reply: its history entry
            // still tells where the rows landed.
            None => new_head
                .state
                .history
                .iter()
                .rev()
                .find(|h| h.commit_id == id)
                .map_or(0, |h| h.ts.saturating_sub(ts.last().copied().unwrap_or(0))),
        };
        let stamped: Vec<Timestamp> = ts.iter().map(|t| t + shift).collect();
        {
            let mut st = self.raw_state()?;
            self.install(&mut st, &new_head, &[Arc::new(SstHandle::opened(sst))]);
            if let Some(last) = stamped.last() {
                st.last_ts = st.last_ts.max(*last);
                st.visible_ts = st.visible_ts.max(*last);
            }
        }
        if new_head.state.history.len() >= crate::manifest::HISTORY_TAIL {
            // History archiving is bookkeeping: a failure must not fail the put.
            let _ = self.archive_history(&new_head).await;
        }
        Ok(stamped)
    }

    /// Rebuilds the memtables from the WAL above the manifest's floor and sets up the writer.
    pub(super) async fn recover(&self, head: &Head) -> Result<()> {
        let Durability::Wal(config) = &self.shared.config.durability else {
            return Ok(());
        };
        let floor = head.state.wal_floor;
        let replayed = replay(
            self.shared.wal_storage.as_ref(),
            &config.dir,
            floor.segment,
            floor.ts,
            config.recovery,
        )
        .await?;
        let mut none: Option<WalWriter> = None;
        for txn in replayed.txns {
            let mut group = Vec::with_capacity(txn.ops.len());
            for (op, ipc) in txn.ops {
                group.push(Pending {
                    seq: 0,
                    op: self.decode_wal_op(op, &ipc)?,
                });
            }
            // One transaction = one timestamp, whatever the number of operations.
            let n = group.len();
            self.apply_group(&mut none, group, Some(vec![txn.ts; n]))
                .await?;
            let mut st = self.raw_state()?;
            st.last_ts = st.last_ts.max(txn.ts);
        }
        // Never below the floor: replay and GC ignore segments under it.
        let next = replayed
            .last_segment
            .map_or(1, |s| s + 1)
            .max(floor.segment.max(1));
        let now = self.shared.config.clock.now_millis();
        {
            let mut st = self.raw_state()?;
            // The clock resumes above every replayed commit, even ones below the floor.
            st.last_ts = st.last_ts.max(replayed.max_ts);
            st.visible_ts = st.last_ts;
            st.mutable_segment = floor.segment.max(1);
            for s in &mut st.immutables {
                s.segment = floor.segment.max(1);
            }
        }
        *self.shared.commit.lock().await = Some(WalWriter::new(config.clone(), next, now));
        Ok(())
    }

    fn decode_wal_op(&self, op: WalOp, ipc: &Bytes) -> Result<Op> {
        let (schema, batches) = crate::ipc::decode_stream(ipc)
            .map_err(|e| Error::Corrupt(format!("WAL payload: {e}")))?;
        let batch = arrow_select::concat::concat_batches(&schema, &batches)?;
        Ok(match op {
            WalOp::Put => {
                self.shared.schema.check_compatible(&schema)?;
                let cols: Vec<_> = self
                    .shared
                    .schema
                    .key_indices()
                    .iter()
                    .filter_map(|&i| batch.columns().get(i).cloned())
                    .collect();
                let keys = encode_rows(&cols, &self.key_name_refs())?;
                let batch = RecordBatch::try_new(
                    self.shared.schema.arrow().clone(),
                    batch.columns().to_vec(),
                )?;
                Op::Put(batch, keys)
            }
            WalOp::Delete => {
                let keys = encode_rows(batch.columns(), &self.key_name_refs())?;
                let batch = RecordBatch::try_new(
                    self.shared.schema.key_schema(),
                    batch.columns().to_vec(),
                )?;
                Op::Delete(batch, keys)
            }
        })
    }
}
