//! The major compaction driver: when jobs run (after flushes and commits, on a tick, on
//! demand), how many at once, and their counters. One job's merge and publish is
//! compact_job.rs's.

use super::{Control, Db};
use crate::compaction::Task;
use crate::error::Result;
use crate::options::Durability;
use crate::runtime::Clock as _;
use crate::sst::SstMeta;

/// What one compaction job did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// SSTs merged.
    pub inputs: usize,
    /// SSTs written.
    pub outputs: usize,
    /// Versions read.
    pub rows_in: u64,
    /// Versions written (older versions no retained read can see, and tombstones with
    /// nothing below them, are dropped).
    pub rows_out: u64,
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
}

/// Compaction counters of one handle since it opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionMetrics {
    /// Jobs published.
    pub jobs: u64,
    /// Follow-up jobs run by the cascade.
    pub follow_ups: u64,
    /// Triggers dropped because the queue was full.
    pub dropped: u64,
    /// Jobs that lost to a concurrent commit removing an input (outputs deleted).
    pub conflicts: u64,
    /// Jobs that failed otherwise.
    pub failed: u64,
    /// Versions read and written by published jobs.
    pub rows_in: u64,
    /// See `rows_in`.
    pub rows_out: u64,
    /// Bytes read and written by published jobs.
    pub bytes_in: u64,
    /// See `bytes_in`.
    pub bytes_out: u64,
    /// Ingests delayed by L0 backpressure.
    pub slowdowns: u64,
    /// Re-checks of ingests stalled by L0 backpressure.
    pub stalls: u64,
    /// Jobs running now.
    pub running: u64,
}

/// Job bookkeeping of one handle.
#[derive(Debug, Default)]
pub(super) struct CompactionState {
    pub(super) running: usize,
    /// Background runs started and not yet finished (counted before they start, so that
    /// [`Db::idle`] right after the triggering call waits for them).
    pub(super) background: usize,
    pub(super) queued: usize,
    pub(super) last_tick_ms: u64,
    pub(super) last_cascade_ms: u64,
    pub(super) metrics: CompactionMetrics,
    /// When (clock ms) this handle last wrote the pack.
    pub(super) pack_written_ms: u64,
    /// A rewrite was put off (jobs came too fast); done after the next job or at close.
    pub(super) pack_dirty: bool,
}

/// A claimed job slot, released on drop (also when the job's future is dropped).
pub(super) struct Slot<'a>(&'a Db);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Ok(mut st) = self.0.shared.state.lock() {
            st.compaction.running = st.compaction.running.saturating_sub(1);
        }
    }
}

impl Db {
    /// Merges every live SST into non-overlapping files at the deepest level in use (at least
    /// 1), flushing memtables first, dropping versions no retained version or live snapshot can
    /// read and tombstones with nothing left to hide. Publishes through the manifest's
    /// compare-and-swap, rebasing onto commits that landed meanwhile; when another commit
    /// removed one of the inputs first, fails with `CONFLICT` and deletes its output.
    pub async fn compact(&self) -> Result<CompactReport> {
        self.compact_with(&Control::default()).await
    }

    /// [`Db::compact`] that `control` can stop (before the job publishes; flushed memtables
    /// stay flushed) and that reports the versions merged ([`super::Phase::Compact`]).
    pub async fn compact_with(&self, control: &Control) -> Result<CompactReport> {
        self.check_open()?;
        control.check()?;
        // A background job would otherwise remove an input from under this one (CONFLICT);
        // the slot keeps new ones from starting meanwhile.
        self.idle().await?;
        let _slot = self.take_slot(true)?;
        if self.uses_memtable() {
            self.seal().await?;
            self.flush_immutables().await?;
        }
        control.check()?;
        let metas: Vec<SstMeta> = self.live_metas()?;
        let level = metas.iter().map(|m| m.level).max().unwrap_or(1).max(1);
        match crate::compaction::full(&metas, level) {
            Some(task) => {
                let report = self.run_task(&task, control).await?;
                self.pack_after_jobs(true).await;
                Ok(report)
            }
            None => Ok(CompactReport::default()),
        }
    }

    /// Resolves once no compaction job runs on this handle, background ones included: a
    /// Worker that turns background jobs on passes this to `ctx.waitUntil`, and a benchmark
    /// waits with it before measuring reads.
    pub async fn idle(&self) -> Result<()> {
        loop {
            let busy = {
                let st = self.state()?;
                st.compaction.running > 0 || st.compaction.background > 0
            };
            if !busy {
                return Ok(());
            }
            // Real time, not the table's clock: a test's manual clock would race ahead.
            crate::runtime::SystemClock.sleep(IDLE_POLL_MS).await;
        }
    }

    /// Runs the configured strategy's jobs until it wants none (at most `max_jobs`), e.g. from
    /// a Worker cron on its own handle while writers go on. Re-reads the manifest first.
    pub async fn compact_pending(&self, max_jobs: usize) -> Result<Vec<CompactReport>> {
        self.compact_pending_with(max_jobs, &Control::default())
            .await
    }

    /// [`Db::compact_pending`] that `control` can stop (between jobs, and inside a job before
    /// it publishes: jobs already run stay published) and that reports each job's versions
    /// merged ([`super::Phase::Compact`], counted from 0 per job).
    pub async fn compact_pending_with(
        &self,
        max_jobs: usize,
        control: &Control,
    ) -> Result<Vec<CompactReport>> {
        self.check_open()?;
        control.check()?;
        if matches!(self.shared.config.durability, Durability::SealEveryBatch) {
            self.refresh().await?;
        }
        self.idle().await?;
        let _slot = self.take_slot(true)?;
        let mut out = Vec::new();
        let mut result = Ok(());
        while out.len() < max_jobs {
            if let Err(e) = control.check() {
                result = Err(e);
                break;
            }
            let Some(task) = self.next_task()? else { break };
            match self.run_task(&task, control).await {
                Ok(r) => out.push(r),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if !out.is_empty() {
            self.pack_after_jobs(true).await;
        }
        result.map(|()| out)
    }

    pub(super) fn live_metas(&self) -> Result<Vec<SstMeta>> {
        Ok(self
            .state()?
            .version
            .ssts
            .iter()
            .map(|h| h.meta.clone())
            .collect())
    }

    pub(super) fn next_task(&self) -> Result<Option<Task>> {
        let metas = self.live_metas()?;
        let now = self.shared.config.clock.now_millis();
        Ok(crate::compaction::plan(
            &self.shared.config.compaction.strategy,
            &metas,
            now,
        ))
    }

    /// Claims a job slot (`force` ignores the limit). `None` when every slot is busy; the
    /// trigger is then queued, or dropped when the queue is full.
    pub(super) fn take_slot(&self, force: bool) -> Result<Option<Slot<'_>>> {
        let opts = &self.shared.config.compaction;
        let mut st = self.state()?;
        if !force && st.compaction.running >= opts.max_concurrent_jobs.max(1) {
            if st.compaction.queued < opts.queue_capacity {
                st.compaction.queued += 1;
            } else {
                st.compaction.metrics.dropped += 1;
            }
            return Ok(None);
        }
        st.compaction.running += 1;
        Ok(Some(Slot(self)))
    }

    /// Runs the strategy after a flush or commit (`trigger`), or when the periodic tick is due.
    /// Errors are counted in the metrics, not returned: the triggering write already succeeded,
    /// and the next trigger tries again.
    pub(super) async fn maybe_compact(&self, trigger: bool) {
        let opts = self.shared.config.compaction;
        if !opts.automatic {
            return;
        }
        if opts.background {
            let db = self.clone();
            if let Ok(mut st) = self.state() {
                st.compaction.background += 1;
            }
            // Made where it runs: natively the job's future is not Send, the handle is.
            let run = move || async move {
                db.run_jobs(trigger).await;
                if let Ok(mut st) = db.raw_state() {
                    st.compaction.background = st.compaction.background.saturating_sub(1);
                }
            };
            // The one sanctioned thread: the engine itself stays single-threaded per job, and
            // background compaction is the default only for object stores natively.
            #[cfg(not(target_arch = "wasm32"))]
            #[allow(clippy::disallowed_methods)]
            std::thread::spawn(move || futures_executor::block_on(run()));
            #[cfg(target_arch = "wasm32")]
            crate::runtime::task::spawn(run());
            return;
        }
        self.run_jobs(trigger).await;
    }

    async fn run_jobs(&self, trigger: bool) {
        let published = self.run_jobs_inner(trigger).await;
        // Under a slot, so that idle() (and close) wait for the pack's PUT too.
        let _slot = self.take_slot(true);
        if published {
            self.pack_after_jobs(false).await;
        } else {
            self.pack_if_due(false).await;
        }
    }

    /// The jobs of one trigger; returns whether any was published.
    async fn run_jobs_inner(&self, trigger: bool) -> bool {
        let mut published = false;
        let opts = self.shared.config.compaction;
        let now = self.shared.config.clock.now_millis();
        {
            let Ok(mut st) = self.state() else {
                return published;
            };
            let tick = opts
                .periodic_tick_ms
                .is_some_and(|t| now.saturating_sub(st.compaction.last_tick_ms) >= t);
            if !trigger && !tick {
                return published;
            }
            st.compaction.last_tick_ms = now;
        }
        let Ok(Some(_slot)) = self.take_slot(false) else {
            return published;
        };
        let mut follow_ups = 0u32;
        let mut first = true;
        loop {
            let task = match self.next_task() {
                Ok(Some(t)) => t,
                _ => {
                    // Nothing to do: a queued trigger would find the same.
                    if let Ok(mut st) = self.state() {
                        st.compaction.queued = 0;
                    }
                    return published;
                }
            };
            if !first {
                // A follow-up (cascade) or a trigger that queued while the job ran.
                let Ok(mut st) = self.state() else {
                    return published;
                };
                let now = self.shared.config.clock.now_millis();
                if st.compaction.queued > 0 {
                    st.compaction.queued -= 1;
                } else if follow_ups < opts.cascade.max_follow_ups
                    && now.saturating_sub(st.compaction.last_cascade_ms) >= opts.cascade.cooldown_ms
                {
                    follow_ups += 1;
                    st.compaction.last_cascade_ms = now;
                    st.compaction.metrics.follow_ups += 1;
                } else {
                    return published;
                }
            }
            first = false;
            if self.run_task(&task, &Control::default()).await.is_err() {
                return published;
            }
            published = true;
        }
    }
}

/// How often [`Db::idle`] looks again.
const IDLE_POLL_MS: u64 = 2;
