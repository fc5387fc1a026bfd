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
use crate::options::{CommitAckMode, Durability, SealPolicy};
use crate::read::mem_source::{MemRef, lock};
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
    /// A transaction: its writes (one timestamp for all), the snapshot it read at, and the
    /// keys it wrote, which must have no version newer than that snapshot.
    Txn {
        /// The writes.
        ops: Vec<Op>,
        /// The transaction's snapshot.
        read_ts: Timestamp,
        /// Every key written.
        keys: Vec<KeyBytes>,
    },
}

/// Rows ingested into the mutable memtable before it is reorganized at the next idle moment
/// (sealed and merged with the sealed runs by [`Db::reorganize`], or under
/// [`SealPolicy::Never`] its batches sorted by [`Memtable::sort_batches`]): big enough that
/// small writes are left as they are, small enough that a scan soon after a bulk load reads
/// one sorted source.
const TIDY_ROWS: usize = 8192;

/// How long writes must pause before memtables are reorganized for reads (wasm).
#[cfg(target_arch = "wasm32")]
const QUIET_MS: u64 = 10;

/// How many times that wait is renewed for a writer that does not pause (~1 s at most).
#[cfg(target_arch = "wasm32")]
const MAX_WAITS: usize = 100;

/// A queued write.
#[derive(Debug)]
pub(crate) struct Pending {
    seq: u64,
    op: Op,
}

impl Op {
    fn apply(self, mem: &mut Memtable, ts: Timestamp) -> Result<()> {
        match self {
            Op::Put(b, k) => mem.insert_batch(b, k, ts),
            Op::Delete(b, k) => mem.delete_batch(b, k, ts),
            Op::Txn { ops, .. } => ops.into_iter().try_for_each(|op| op.apply(mem, ts)),
        }
    }

    fn wal_payload(&self, out: &mut Vec<(WalOp, Vec<u8>)>) -> Result<()> {
        let (op, batch) = match self {
            Op::Put(b, _) => (WalOp::Put, b),
            Op::Delete(b, _) => (WalOp::Delete, b),
            Op::Txn { ops, .. } => {
                for op in ops {
                    op.wal_payload(out)?;
                }
                return Ok(());
            }
        };
        let ipc = crate::ipc::encode_stream(&batch.schema(), std::slice::from_ref(batch))?;
        out.push((op, ipc));
        Ok(())
    }

    /// The conflict check a transaction needs before it may commit.
    fn txn_check(&self) -> Option<(Timestamp, &[KeyBytes])> {
        match self {
            Op::Txn { read_ts, keys, .. } => Some((*read_ts, keys)),
            _ => None,
        }
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
                    Err(Error::storage(
                        "the commit was abandoned mid-write; it may or may not be durable",
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

/// [`sst_path`] for a compaction output of the time-window strategy: the window its rows
/// belong to rides in the name, since the file itself is written later.
pub(crate) fn sst_path_in_window(level: u32, wall_ms: u64, id: u64, window: u64) -> String {
    format!("sst/L{level}/{wall_ms:013}-{id:016x}-w{window}.parquet")
}

/// The wall-clock time in an SST path written by [`sst_path`].
pub(crate) fn sst_path_ms(path: &str) -> Option<u64> {
    path.rsplit('/').next()?.split('-').next()?.parse().ok()
}

/// The time window recorded by [`sst_path_in_window`], if any.
pub(crate) fn sst_path_window(path: &str) -> Option<u64> {
    let name = path.rsplit('/').next()?.strip_suffix(".parquet")?;
    name.rsplit('-').next()?.strip_prefix('w')?.parse().ok()
}

impl Db {
    /// Queues `op`, waits for a leader (possibly itself) to make it durable, and returns its
    /// commit timestamp.
    pub(super) async fn submit(&self, op: Op) -> Result<Timestamp> {
        // A commit in flight counts as writing: idle work must not start during a slow append.
        self.shared.last_write_ms.store(
            self.shared.config.clock.now_millis(),
            std::sync::atomic::Ordering::Relaxed,
        );
        self.backpressure().await?;
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
                // A transaction commits alone (its conflict check and write are one step);
                // plain writes group up to the first transaction.
                let n = match st.queue.first() {
                    Some(p) if p.op.txn_check().is_some() => 1,
                    _ => st
                        .queue
                        .iter()
                        .take(cap)
                        .take_while(|p| p.op.txn_check().is_none())
                        .count(),
                };
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
            let fast = self.shared.config.ack == CommitAckMode::Fast;
            let result = match &self.shared.config.durability {
                Durability::SealEveryBatch if !fast => self.write_sst_group(group).await,
                durability => match self.check_group(&group).await {
                    Err(e) => Err(e),
                    Ok(()) => match durability {
                        Durability::Wal(_) if fast => self.defer_wal_group(&mut wal, group).await,
                        Durability::Wal(_) => self.write_wal_group(&mut wal, group).await,
                        _ => self.apply_group(&mut wal, group, None).await,
                    },
                },
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
                let flushed = self.maybe_flush().await.unwrap_or(false);
                let published = matches!(self.shared.config.durability, Durability::SealEveryBatch);
                self.maybe_compact(flushed || published).await;
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

    /// Fails a transaction (always alone in its group) whose keys changed after its snapshot.
    async fn check_group(&self, group: &[Pending]) -> Result<()> {
        for p in group {
            if let Some((read_ts, keys)) = p.op.txn_check()
                && self.conflicts(read_ts, keys).await?
            {
                return Err(super::txn::conflict_error(read_ts));
            }
        }
        Ok(())
    }

    /// The WAL frames of `group` at timestamps `ts`.
    fn wal_frames(group: &[Pending], ts: &[Timestamp]) -> Result<Vec<u8>> {
        let mut frames = Vec::new();
        for (p, t) in group.iter().zip(ts) {
            let mut payloads = Vec::new();
            p.op.wal_payload(&mut payloads)?;
            let refs: Vec<(WalOp, &[u8])> =
                payloads.iter().map(|(o, b)| (*o, b.as_slice())).collect();
            encode_txn(&mut frames, *t, *t, &refs);
        }
        Ok(frames)
    }

    /// Fast acknowledgement: applies the group now and leaves its frames for the next log
    /// write (a strict commit, a seal, `sync`, `flush` or `close`).
    async fn defer_wal_group(
        &self,
        wal: &mut Option<WalWriter>,
        group: Vec<Pending>,
    ) -> Result<Vec<Timestamp>> {
        let ts = {
            let mut st = self.raw_state()?;
            self.assign(&mut st, group.len(), 0)
        };
        let frames = Self::wal_frames(&group, &ts)?;
        self.raw_state()?.deferred_frames.extend_from_slice(&frames);
        self.apply_group(wal, group, Some(ts)).await
    }

    /// Writes frames deferred by fast acknowledgements. Caller holds the commit lock.
    pub(super) async fn write_deferred(&self, wal: &mut Option<WalWriter>) -> Result<()> {
        let frames = std::mem::take(&mut self.raw_state()?.deferred_frames);
        if frames.is_empty() {
            return Ok(());
        }
        self.write_log(wal, frames.clone(), frames).await
    }

    /// Appends `frames` to the log. On failure the segment is abandoned and `retry` goes back
    /// in front of the deferred frames, so the next log write carries them.
    async fn write_log(
        &self,
        wal: &mut Option<WalWriter>,
        frames: Vec<u8>,
        retry: Vec<u8>,
    ) -> Result<()> {
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
            self.restore_deferred(retry);
            return Err(e);
        }
        Ok(())
    }

    /// Puts frames whose write failed back in front of the deferred ones, so the next write
    /// retries them (replaying a frame twice rewrites the same versions).
    fn restore_deferred(&self, mut frames: Vec<u8>) {
        if let Ok(mut st) = self.raw_state() {
            frames.extend_from_slice(&st.deferred_frames);
            st.deferred_frames = frames;
        }
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
        // Earlier fast commits go first: the log stays in timestamp order.
        let deferred = std::mem::take(&mut self.raw_state()?.deferred_frames);
        let mut frames = deferred.clone();
        frames.extend(Self::wal_frames(&group, &ts)?);
        self.write_log(wal, frames, deferred).await?;
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
        let (ts, sealed, tidy) = {
            let mut st = self.raw_state()?;
            let ts = match ts {
                Some(t) => t,
                None => self.assign(&mut st, group.len(), 0),
            };
            let now = self.shared.config.clock.now_millis();
            let since = *st.mutable_since_ms.get_or_insert(now);
            let (seal, tidy) = {
                let mut mem = lock(&st.mutable)?;
                for (p, t) in group.into_iter().zip(&ts) {
                    p.op.apply(&mut mem, *t)?;
                }
                let seal = match self.shared.config.seal {
                    SealPolicy::BatchesThreshold { batches } => mem.batch_count() >= batches,
                    SealPolicy::Rows(n) => mem.rows() >= n,
                    SealPolicy::Bytes(n) => mem.memory_bytes() >= n,
                    SealPolicy::AgeMillis(ms) => now.saturating_sub(since) >= ms,
                    SealPolicy::Never => false,
                };
                // Only where there is an event loop to wait for (see `when_idle`).
                let tidy = cfg!(target_arch = "wasm32")
                    && !seal
                    && mem.unsorted_rows() >= TIDY_ROWS
                    && (self.seals_early() || mem.claim_tidy());
                (seal, tidy)
            };
            if let Some(last) = ts.last() {
                st.visible_ts = st.visible_ts.max(*last);
            }
            self.shared
                .last_write_ms
                .store(now, std::sync::atomic::Ordering::Relaxed);
            (ts, seal, tidy.then(|| st.mutable.clone()))
        };
        if let Some(mem) = tidy {
            match self.seals_early() {
                true => self.reorganize_when_idle(),
                // The mutable memtable stays: its batches are put in key order.
                false => {
                    let weak = Arc::downgrade(&mem);
                    drop(mem);
                    self.when_idle(move |_, _| {
                        if let Some(mem) = weak.upgrade()
                            && let Ok(mut m) = lock(&mem)
                        {
                            let _ = m.sort_batches();
                        }
                    });
                }
            }
        }
        if sealed {
            // The group is durable and visible; if sealing fails (rotating the log), the
            // policy fires again on the next group.
            let _ = self.seal_with(wal).await;
        }
        Ok(ts)
    }

    /// Seals the mutable memtable (if it holds anything). Caller holds the commit lock.
    pub(super) async fn seal_with(&self, wal: &mut Option<WalWriter>) -> Result<()> {
        // Sorting its batches while the log rotates (an await: idle work may run) would be
        // wasted on a memtable that is about to be sorted into a run.
        let sealing = self.raw_state()?.mutable.clone();
        lock(&sealing)?.set_sealing(true);
        let rotated = self.rotate_for_seal(wal).await;
        let next_segment = match rotated {
            Ok(n) => n,
            Err(e) => {
                if let Ok(mut m) = lock(&sealing) {
                    m.set_sealing(false);
                }
                return Err(e);
            }
        };
        if let Some(old) = self.swap_mutable(Some(next_segment), |_| super::FULL)? {
            self.sort_sealed(old);
        }
        Ok(())
    }

    /// Seals the mutable memtable and starts a fresh one; `next_segment` is where the fresh
    /// one's commits begin (`None`: in the segment being written, which the sealed one's
    /// commits may share; replay tells them apart by timestamp). `fill` rates the sealed
    /// memtable against the seal policy. Returns the sealed memtable, or `None` when there
    /// was nothing to seal.
    fn swap_mutable(
        &self,
        next_segment: Option<u64>,
        fill: impl FnOnce(&Memtable) -> u32,
    ) -> Result<Option<MemRef>> {
        let mut st = self.raw_state()?;
        let fill = {
            let mut mutable = lock(&st.mutable)?;
            if mutable.versions() == 0 {
                mutable.set_sealing(false);
                return Ok(None);
            }
            // Sealed from here on: no more writes reach it.
            mutable.seal();
            fill(&mutable)
        };
        let fresh = Arc::new(Mutex::new(Memtable::new()));
        let old = std::mem::replace(&mut st.mutable, fresh);
        let segment = match next_segment {
            Some(next) => std::mem::replace(&mut st.mutable_segment, next),
            None => st.mutable_segment,
        };
        st.immutables.push(Sealed {
            mem: old.clone(),
            segment,
            fill,
        });
        st.mutable_since_ms = None;
        Ok(Some(old))
    }

    /// How much of the seal policy `mem` used, in thousandths (at least 1). Only early seals
    /// ask, and there are none under `AgeMillis` or `Never` ([`Db::seals_early`]).
    fn fill_of(&self, mem: &Memtable) -> u32 {
        let full = u64::from(super::FULL);
        let part = |have: u64, of: u64| (have.saturating_mul(full) / of.max(1)).clamp(1, full);
        let fill = match self.shared.config.seal {
            SealPolicy::BatchesThreshold { batches } => {
                part(mem.batch_count() as u64, batches as u64)
            }
            SealPolicy::Rows(n) => part(mem.rows() as u64, n as u64),
            SealPolicy::Bytes(n) => part(mem.memory_bytes() as u64, n as u64),
            SealPolicy::AgeMillis(_) | SealPolicy::Never => full,
        };
        fill as u32
    }

    /// Writes the deferred commits (they belong in the segments the sealed memtable covers)
    /// and starts a new WAL segment; returns its number (0 without a WAL).
    async fn rotate_for_seal(&self, wal: &mut Option<WalWriter>) -> Result<u64> {
        self.write_deferred(wal).await?;
        Ok(match wal.as_mut() {
            Some(w) => {
                let now = self.shared.config.clock.now_millis();
                w.rotate(self.shared.wal_storage.as_ref(), now).await?
            }
            None => 0,
        })
    }

    /// A sealed memtable is reorganized for reads: natively it becomes one sorted run at once
    /// (see [`Memtable::sort_into_run`]), outside the state lock; in wasm every sealed
    /// memtable is sorted and merged into one run once writes pause ([`Db::reorganize`]).
    fn sort_sealed(&self, mem: MemRef) {
        if cfg!(target_arch = "wasm32") {
            drop(mem);
            self.reorganize_when_idle();
        } else if let Ok(mut m) = lock(&mem) {
            m.sort_into_run(&self.shared.schema);
        }
    }

    /// Schedules one reorganization for when writes pause (one at a time). Should writes
    /// not pause within the wait's limit, the sealed memtables are only sorted into runs (work
    /// they need anyway) and the rest waits for the next pause.
    fn reorganize_when_idle(&self) {
        match self.raw_state() {
            Ok(mut st) if !st.reorganize_pending => st.reorganize_pending = true,
            _ => return,
        }
        self.when_idle(|db, quiet| {
            if let Ok(mut st) = db.raw_state() {
                st.reorganize_pending = false;
            }
            match quiet {
                true => {
                    let _ = db.reorganize();
                }
                // Tried again at the next pause: no later commit may come to ask for it.
                false => {
                    let _ = db.sort_sealed_runs();
                    db.reorganize_when_idle();
                }
            }
        });
    }

    /// Reorganizes the memtables for reads. A mutable memtable of 8,192 rows or more is
    /// sealed (not under [`SealPolicy::Never`] or [`SealPolicy::AgeMillis`], and not while a
    /// commit is in flight), every sealed memtable becomes one sorted run, and the newest runs
    /// are merged while each older one is at most twice their total: after a bulk load one
    /// run (a scan then slices one contiguous source instead of interleaving several row by
    /// row: B3, 100,000 rows in Chromium, ~31 ms from two runs and a mutable memtable, ~12 ms
    /// from one run), after many small pauses a few runs of geometrically growing size (each
    /// row is copied O(log n) times, not at every pause). Answers do not change, snapshots
    /// included. An early seal counts for its share of the seal policy toward minor
    /// compaction, and the fresh mutable memtable starts in the WAL segment being written.
    ///
    /// In wasm this runs by itself once writes pause; natively, call it after a bulk load
    /// that will be scanned.
    pub fn reorganize(&self) -> Result<()> {
        self.check_open()?;
        if !self.uses_memtable() {
            return Ok(());
        }
        if self.seals_early()
            && let Some(commit) = self.shared.commit.try_lock()
        {
            let rows = lock(&self.raw_state()?.mutable)?.rows();
            if rows >= TIDY_ROWS {
                // Every commit of the fresh memtable lands in this segment or a later one,
                // so a flush of the sealed ones moves the WAL floor past their segments.
                let next = commit.as_ref().map(WalWriter::segment);
                self.swap_mutable(next, |m| self.fill_of(m))?;
            }
        }
        let parts = self.sort_sealed_runs()?;
        self.merge_newest(&parts)
    }

    /// Whether [`Db::reorganize`] may seal the mutable memtable early. Not under `Never`, nor
    /// under an age policy: it bounds how long rows wait in memory, which an early seal's
    /// share cannot express (a burst's age says nothing of the pauses between bursts).
    fn seals_early(&self) -> bool {
        !matches!(
            self.shared.config.seal,
            SealPolicy::Never | SealPolicy::AgeMillis(_)
        )
    }

    /// Sorts every sealed memtable into a run; returns the sealed memtables (none while a
    /// flush is writing them).
    fn sort_sealed_runs(&self) -> Result<Vec<Sealed>> {
        let parts = {
            let st = self.state()?;
            if st.flushing {
                return Ok(Vec::new());
            }
            st.immutables.clone()
        };
        for p in &parts {
            lock(&p.mem)?.sort_into_run(&self.shared.schema);
        }
        Ok(parts)
    }

    /// Merges the newest sealed memtables of `parts` (all of them, oldest first) into one:
    /// going from the newest, an older one joins while it holds at most twice the versions
    /// gathered so far. Readers that took the memtables before keep reading them; the merged
    /// one replaces them only if no flush took or removed them meanwhile.
    fn merge_newest(&self, parts: &[Sealed]) -> Result<()> {
        let sizes = parts
            .iter()
            .map(|p| lock(&p.mem).map(|m| m.versions()))
            .collect::<Result<Vec<_>>>()?;
        let mut from = sizes.len();
        let mut gathered = 0usize;
        while let Some(&older) = from.checked_sub(1).and_then(|i| sizes.get(i)) {
            if gathered > 0 && older > gathered.saturating_mul(2) {
                break;
            }
            gathered += older;
            from -= 1;
        }
        let Some(window) = parts.get(from..).filter(|w| w.len() >= 2) else {
            return Ok(());
        };
        let merged = {
            let guards = window
                .iter()
                .map(|p| lock(&p.mem))
                .collect::<Result<Vec<_>>>()?;
            let refs: Vec<&Memtable> = guards.iter().map(|g| &**g).collect();
            match Memtable::merge_sealed(&refs, &self.shared.schema)? {
                Some(m) => m,
                None => return Ok(()),
            }
        };
        let mut st = self.state()?;
        // Memtables sealed meanwhile (natively, by another thread) are newer: they stay after
        // the merged one.
        let unchanged = !st.flushing
            && st.immutables.len() >= parts.len()
            && st
                .immutables
                .iter()
                .zip(parts)
                .all(|(a, b)| Arc::ptr_eq(&a.mem, &b.mem));
        if unchanged {
            let sealed = Sealed {
                mem: Arc::new(Mutex::new(merged)),
                segment: window.iter().map(|p| p.segment).min().unwrap_or(0),
                fill: window.iter().fold(0u32, |f, p| f.saturating_add(p.fill)),
            };
            st.immutables.splice(from..parts.len(), [sealed]);
        }
        Ok(())
    }

    /// Runs `work` once writes pause: in wasm, at the first turn of the event loop at least
    /// `QUIET_MS` after the last commit (or after `MAX_WAITS` tries, for a writer that never
    /// pauses; `work` is then told writes did not pause), unless the database was dropped
    /// by then. Reorganizing memtables for reads (~25k B1 rows: ~15% of a bulk load on OPFS
    /// when it ran at the first turn) then costs a write burst nothing; reads meanwhile get
    /// the same answers. Natively it runs at once.
    fn when_idle(&self, work: impl FnOnce(&Db, bool) + 'static) {
        #[cfg(not(target_arch = "wasm32"))]
        work(self, true);
        #[cfg(target_arch = "wasm32")]
        {
            let weak = Arc::downgrade(&self.shared);
            let last_write = self.shared.last_write_ms.clone();
            let clock = self.shared.config.clock.clone();
            crate::wasm::task::spawn(async move {
                let mut wait = QUIET_MS;
                let mut paused = false;
                for _ in 0..MAX_WAITS {
                    crate::wasm::timer::sleep(wait).await;
                    let quiet = clock
                        .now_millis()
                        .saturating_sub(last_write.load(std::sync::atomic::Ordering::Relaxed));
                    if quiet >= QUIET_MS {
                        paused = true;
                        break;
                    }
                    wait = QUIET_MS - quiet;
                }
                if let Some(shared) = weak.upgrade() {
                    work(&Db { shared }, paused);
                }
            });
        }
    }

    /// Seal every batch: the group becomes one SST, committed to the manifest before any of
    /// its puts resolves. A concurrent writer that committed first forces new timestamps (ours
    /// must order after theirs), so the SST is rewritten and the commit retried.
    async fn write_sst_group(&self, group: Vec<Pending>) -> Result<Vec<Timestamp>> {
        let ops: Vec<Op> = group.into_iter().map(|p| p.op).collect();
        let manifest = &self.shared.manifest;
        let check: Option<(Timestamp, Vec<KeyBytes>)> = ops
            .first()
            .and_then(|o| o.txn_check())
            .map(|(t, k)| (t, k.to_vec()));
        let head: Head = match manifest.cached() {
            // A transaction must see every other writer's commits before it checks.
            Some(h) if check.is_none() => h,
            _ => manifest
                .load()
                .await?
                .ok_or_else(|| Error::Corrupt("the manifest head is missing".into()))?,
        };
        if let Some((read_ts, keys)) = &check {
            {
                let mut st = self.raw_state()?;
                self.install(&mut st, &head, &[]);
            }
            if self.conflicts(*read_ts, keys).await? {
                return Err(super::txn::conflict_error(*read_ts));
            }
        }
        let ts = {
            let mut st = self.raw_state()?;
            self.assign(&mut st, ops.len(), head.state.last_ts)
        };
        let mut mem = Memtable::new();
        for (op, t) in ops.into_iter().zip(&ts) {
            op.apply(&mut mem, *t)?;
        }
        let now = self.shared.config.clock.now_millis();
        let id = crate::codec::random_u64()?;
        let path = sst_path(0, now, id);
        let Some((bytes, mut sst)) = crate::sst::writer::write_sst(
            &self.shared.schema,
            &[&mem],
            id,
            0,
            path.clone(),
            self.shared.config.point_read_blocks,
        )?
        else {
            return Ok(ts);
        };
        drop(mem);
        let storage = &self.shared.storage;
        storage.put(&path, bytes, PutMode::CreateNew).await?;
        let mut edit = Edit {
            kind: Some(EditKind::Put),
            commit_id: id,
            add: vec![sst.meta.clone()],
            min_ts: ts.first().copied(),
            restamp: true,
            last_ts: ts.last().copied(),
            expect_version: check.as_ref().map(|_| head.state.version),
            born: head.state.version,
            ..Edit::default()
        };
        // The file may be named by the head even if this fails (a lost reply); GC deletes it
        // later if not.
        let mut attempts = 0;
        let new_head = loop {
            match manifest.commit(&edit).await {
                Ok(h) => break h,
                // A transaction's head moved: check the commits that landed meanwhile, then
                // retry on the new head (or give up with CONFLICT, deleting the file).
                Err(Error::Conflict(_))
                    if check.is_some() && attempts < self.shared.config.backoff_attempts =>
                {
                    attempts += 1;
                    let head = manifest
                        .load()
                        .await?
                        .ok_or_else(|| Error::Corrupt("the manifest head is missing".into()))?;
                    {
                        let mut st = self.raw_state()?;
                        self.install(&mut st, &head, &[]);
                    }
                    let (read_ts, keys) = check.as_ref().map_or((0, &[][..]), |(t, k)| (*t, k));
                    if self.conflicts(read_ts, keys).await? {
                        let _ = storage.delete(&path).await;
                        return Err(super::txn::conflict_error(read_ts));
                    }
                    edit.expect_version = Some(head.state.version);
                }
                Err(e) => return Err(e),
            }
        };
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
        // A floor counted in another log's segments says nothing about this one's: replay
        // them all, skipping commits at or below what SSTs hold (see `Edit::claim`).
        let floor = if head.state.wal_log == self.shared.config.log_id {
            head.state.wal_floor
        } else {
            crate::manifest::WalFloor {
                segment: 0,
                ts: head.state.last_ts,
            }
        };
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
            st.wal_cut = (replayed.cut_segments.clone(), replayed.cut_bytes);
            // The clock resumes above every replayed commit, even ones below the floor.
            st.last_ts = st.last_ts.max(replayed.max_ts);
            st.visible_ts = st.last_ts;
            st.mutable_segment = floor.segment.max(1);
            for s in &mut st.immutables {
                s.segment = floor.segment.max(1);
            }
        }
        let mut writer = WalWriter::new(config.clone(), next, now);
        // A torn last segment is an ordinary crash: the new segment says so, or the next
        // recovery would find that damage before newer segments and `Strict` would refuse.
        if let Some(last) = replayed.last_segment
            && replayed.cut_segments.contains(&last)
        {
            writer.announce_abandoned(last);
        }
        *self.shared.commit.lock().await = Some(writer);
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
