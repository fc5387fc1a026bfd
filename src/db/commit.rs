//! The commit pipeline. Each write is queued with a sequence number; the first writer to take
//! the commit lock becomes the leader, drains the queue (up to the WAL's queue size), assigns
//! commit timestamps in queue order and makes the whole group durable with one write:
//! - WAL: one append of every group member's frames (and one sync, per policy), then the rows
//!   enter the memtable;
//! - seal every batch: one SST holding the group, then one manifest commit;
//! - volatile: straight into the memtable.
//!
//! Followers are woken when their leader records their outcomes (or take the lock and lead
//! the next group if no leader took them yet). Only after a group is applied
//! does `visible_ts` move, so no reader sees a commit before it is durable, or half a group.
//! The group writes themselves are commit_log.rs's (WAL) and commit_sst.rs's (seal every batch).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::Either;

use super::ops::Op;
use super::seal::TIDY_ROWS;
use super::{Db, State};
use crate::error::{Error, Result};
use crate::key::Timestamp;
use crate::options::{CommitAckMode, Durability, SealPolicy};
use crate::read::mem_source::lock;
use crate::wal::WalWriter;

/// A queued write.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(super) seq: u64,
    pub(super) op: Op,
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
            wake_answered(&mut st);
        }
    }
}

/// Resolves with the outcome a leader recorded for commit `seq`. Every leader that records
/// outcomes wakes it, so a commit another leader wrote returns without taking the commit
/// lock: waiting for the lock instead, it would queue behind the next write (a new arrival
/// takes a free lock first) and every group after the first would be a group of one.
struct Answered<'a> {
    db: &'a Db,
    seq: u64,
}

impl Future for Answered<'_> {
    type Output = Result<Timestamp>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = match self.db.raw_state() {
            Ok(st) => st,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if let Some(outcome) = st.outcomes.remove(&self.seq) {
            return Poll::Ready(outcome);
        }
        st.answer_waiters.push(cx.waker().clone());
        Poll::Pending
    }
}

/// Pending once, after waking itself: lets every task that is ready run before going on.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Wakes every commit waiting for an outcome (each looks for its own).
fn wake_answered(st: &mut State) {
    for w in st.answer_waiters.drain(..) {
        w.wake();
    }
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
            let lock = std::pin::pin!(self.shared.commit.lock());
            let answered = std::pin::pin!(Answered { db: self, seq });
            let mut wal = match futures_util::future::select(lock, answered).await {
                Either::Left((wal, _)) => wal,
                // Written by another leader.
                Either::Right((outcome, _)) => return outcome,
            };
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
            } else if matches!(self.shared.config.durability, Durability::SealEveryBatch) {
                // A group costs an SST and a manifest commit, two round trips: commits made
                // ready by the same wake-up (the callers answered by the last group) join it
                // for one pass of the executor, no timer.
                YieldOnce(false).await;
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
                wake_answered(&mut st);
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
    pub(super) fn assign(&self, st: &mut State, n: usize, floor: Timestamp) -> Vec<Timestamp> {
        let base = st.last_ts.max(floor);
        let ts: Vec<Timestamp> = (1..=n as u64).map(|i| base + i).collect();
        st.last_ts = base + n as u64;
        ts
    }

    /// [`Db::assign`] for a group of `n` with no floor from the head, under its own lock.
    pub(super) fn assign_group(&self, n: usize) -> Result<Vec<Timestamp>> {
        let mut st = self.raw_state()?;
        Ok(self.assign(&mut st, n, 0))
    }

    /// Fails a transaction (always alone in its group) whose keys changed after its snapshot.
    async fn check_group(&self, group: &[Pending]) -> Result<()> {
        for p in group {
            if let Some((read_ts, keys)) = p.op.txn_check()
                && self.conflicts(read_ts, keys).await?
            {
                return Err(self.conflict_of(read_ts));
            }
        }
        Ok(())
    }

    /// Applies a durable group to the mutable memtable, makes it visible, and seals per policy
    /// (rotating the WAL so the sealed memtable's commits end where the next one's begin).
    pub(super) async fn apply_group(
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
}
