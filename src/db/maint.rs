//! Background-style work a caller (or a Worker cron) runs: flushing memtables to SSTs,
//! compaction, garbage collection, history archiving, and time travel.

use std::collections::HashSet;
use std::sync::Arc;

use super::commit::{sst_path, sst_path_in_window, sst_path_ms};
use super::{Db, Snapshot};
use crate::compaction::Task;
use crate::compaction::merge::{Limits, Rules, merge};
use crate::error::{Error, Result};
use crate::manifest::{Edit, EditKind, Head, HistoryEntry, WalFloor};
use crate::memtable::{Memtable, Timestamp};
use crate::options::{CompactionStrategy, Durability};
use crate::read::mem_source::lock;
use crate::sst::{SstHandle, SstMeta};
use crate::storage::PutMode;
use crate::wal::segment_seq;

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
    pub(super) queued: usize,
    pub(super) last_tick_ms: u64,
    pub(super) last_cascade_ms: u64,
    pub(super) metrics: CompactionMetrics,
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

/// What [`Db::gc`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// SSTs dropped from the head whose grace period passed, deleted.
    pub ssts_deleted: usize,
    /// Objects no commit references (failed or abandoned writes), deleted.
    pub orphans_deleted: usize,
    /// WAL segments wholly below the floor, deleted.
    pub wal_segments_deleted: usize,
    /// History archives wholly below the retention floor, deleted.
    pub archives_deleted: usize,
    /// The oldest version still readable after this run.
    pub history_floor: u64,
}

impl Db {
    /// Flushes when minor compaction is due; returns whether it flushed.
    pub(super) async fn maybe_flush(&self) -> Result<bool> {
        let due = match self.shared.config.minor {
            Some(m) => {
                let filled: u64 = self.state()?.immutables.iter().map(|s| s.fill as u64).sum();
                filled >= m.segment_threshold as u64 * u64::from(super::FULL)
            }
            None => false,
        };
        if due {
            self.flush_immutables().await?;
        }
        Ok(due)
    }

    /// Seals the mutable memtable and writes everything sealed into an SST now (then runs
    /// compaction if the strategy wants it).
    pub async fn flush(&self) -> Result<()> {
        self.seal().await?;
        self.flush_immutables().await?;
        self.maybe_compact(true).await;
        Ok(())
    }

    /// Seals the mutable memtable without flushing it.
    pub async fn seal(&self) -> Result<()> {
        self.check_open()?;
        let mut wal = self.shared.commit.lock().await;
        self.seal_with(&mut wal).await
    }

    /// Writes every sealed memtable into one SST and commits it with the new WAL floor. Sealed
    /// memtables stay readable until the new head replaces them in one step.
    async fn flush_immutables(&self) -> Result<()> {
        let (sealed, floor_segment) = {
            let mut st = self.state()?;
            if st.flushing || st.immutables.is_empty() {
                return Ok(());
            }
            st.flushing = true;
            (st.immutables.clone(), st.mutable_segment)
        };
        // Reset even when this future is dropped mid-flush, or flushing would stop for good.
        struct Done<'a>(&'a Db);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                if let Ok(mut st) = self.0.shared.state.lock() {
                    st.flushing = false;
                }
            }
        }
        let _done = Done(self);
        self.write_flush(&sealed, floor_segment).await
    }

    async fn write_flush(&self, sealed: &[super::Sealed], floor_segment: u64) -> Result<()> {
        let born = self.shared.manifest.cached().map_or(0, |h| h.state.version);
        let level = self.shared.config.minor.map_or(0, |m| m.target_level);
        let now = self.shared.config.clock.now_millis();
        let id = crate::codec::random_u64()?;
        let path = sst_path(level, now, id);
        let (written, max_ts) = {
            let guards = sealed
                .iter()
                .map(|s| lock(&s.mem))
                .collect::<Result<Vec<_>>>()?;
            let refs: Vec<&Memtable> = guards.iter().map(|g| &**g).collect();
            let max_ts = refs.iter().filter_map(|m| m.max_ts()).max().unwrap_or(0);
            let w = crate::sst::writer::write_sst(
                &self.shared.schema,
                &refs,
                id,
                level,
                path.clone(),
                self.shared.config.point_read_blocks,
            )?;
            (w, max_ts)
        };
        let mut fresh = Vec::new();
        let mut edit = Edit {
            kind: Some(EditKind::Flush),
            commit_id: id,
            last_ts: Some(max_ts),
            born,
            ..Edit::default()
        };
        edit.log = self.shared.config.log_id;
        if matches!(self.shared.config.durability, Durability::Wal(_)) {
            edit.wal_floor = Some(WalFloor {
                segment: floor_segment,
                ts: max_ts,
            });
        }
        let seb = matches!(self.shared.config.durability, Durability::SealEveryBatch);
        let mut opened = None;
        if let Some((bytes, sst)) = written {
            self.shared
                .storage
                .put(&path, bytes, PutMode::CreateNew)
                .await?;
            if seb {
                // Fast-acknowledged commits on a shared store: order after every other
                // writer's commits that landed since (re-stamped, like a put).
                edit.min_ts = Some(sst.meta.min_ts);
                edit.restamp = true;
            }
            edit.add.push(sst.meta.clone());
            opened = Some(sst);
        }
        let head = self.shared.manifest.commit(&edit).await?;
        if let Some(sst) = opened {
            let sst = match head.state.ssts.iter().find(|m| m.id == id) {
                Some(m) if m.ts_shift != 0 => Arc::new(sst.with_meta(m.clone())),
                _ => sst,
            };
            fresh.push(Arc::new(SstHandle::opened(sst)));
        }
        let mut st = self.state()?;
        self.install(&mut st, &head, &fresh);
        st.immutables
            .retain(|m| !sealed.iter().any(|f| Arc::ptr_eq(&f.mem, &m.mem)));
        Ok(())
    }

    /// The oldest read timestamp anything may still use: the oldest retained version's, or an
    /// older live snapshot's.
    fn horizon(&self, head: &Head) -> Result<Timestamp> {
        let floor_ts = head.state.history_floor_ts;
        let st = self.state()?;
        let snaps = st
            .pinned_ts
            .iter()
            .filter(|(w, _)| w.strong_count() > 0)
            .map(|(_, t)| *t)
            .min()
            .unwrap_or(Timestamp::MAX);
        Ok(floor_ts.min(snaps))
    }

    /// Merges every live SST into non-overlapping files at the deepest level in use (at least
    /// 1), flushing memtables first, dropping versions no retained version or live snapshot can
    /// read and tombstones with nothing left to hide. Publishes through the manifest's
    /// compare-and-swap, rebasing onto commits that landed meanwhile; when another commit
    /// removed one of the inputs first, fails with `CONFLICT` and deletes its output.
    pub async fn compact(&self) -> Result<CompactReport> {
        self.check_open()?;
        if self.uses_memtable() {
            self.seal().await?;
            self.flush_immutables().await?;
        }
        let metas: Vec<SstMeta> = self.live_metas()?;
        let level = metas.iter().map(|m| m.level).max().unwrap_or(1).max(1);
        match crate::compaction::full(&metas, level) {
            Some(task) => self.run_task(&task).await,
            None => Ok(CompactReport::default()),
        }
    }

    /// Runs the configured strategy's jobs until it wants none (at most `max_jobs`), e.g. from
    /// a Worker cron on its own handle while writers go on. Re-reads the manifest first.
    pub async fn compact_pending(&self, max_jobs: usize) -> Result<Vec<CompactReport>> {
        self.check_open()?;
        if matches!(self.shared.config.durability, Durability::SealEveryBatch) {
            self.refresh().await?;
        }
        let _slot = self.take_slot(true)?;
        let mut out = Vec::new();
        while out.len() < max_jobs {
            let Some(task) = self.next_task()? else { break };
            out.push(self.run_task(&task).await?);
        }
        Ok(out)
    }

    fn live_metas(&self) -> Result<Vec<SstMeta>> {
        Ok(self
            .state()?
            .version
            .ssts
            .iter()
            .map(|h| h.meta.clone())
            .collect())
    }

    fn next_task(&self) -> Result<Option<Task>> {
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
    fn take_slot(&self, force: bool) -> Result<Option<Slot<'_>>> {
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
            // The one sanctioned thread: the engine itself stays single-threaded per job, and
            // native users opted into background compaction.
            #[cfg(not(target_arch = "wasm32"))]
            #[allow(clippy::disallowed_methods)]
            std::thread::spawn(move || futures_executor::block_on(db.run_jobs(trigger)));
            #[cfg(target_arch = "wasm32")]
            crate::wasm::task::spawn(async move { db.run_jobs(trigger).await });
            return;
        }
        self.run_jobs(trigger).await;
    }

    async fn run_jobs(&self, trigger: bool) {
        let opts = self.shared.config.compaction;
        let now = self.shared.config.clock.now_millis();
        {
            let Ok(mut st) = self.state() else { return };
            let tick = opts
                .periodic_tick_ms
                .is_some_and(|t| now.saturating_sub(st.compaction.last_tick_ms) >= t);
            if !trigger && !tick {
                return;
            }
            st.compaction.last_tick_ms = now;
        }
        let Ok(Some(_slot)) = self.take_slot(false) else {
            return;
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
                    return;
                }
            };
            if !first {
                // A follow-up (cascade) or a trigger that queued while the job ran.
                let Ok(mut st) = self.state() else { return };
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
                    return;
                }
            }
            first = false;
            if self.run_task(&task).await.is_err() {
                return;
            }
        }
    }

    /// Runs the strategy's next job; when it has none while L0 is full, merges L0 (and the
    /// L1 files it overlaps) into L1, so a stalled ingest always gets unstuck.
    async fn relieve_l0(&self) {
        let opts = self.shared.config.compaction;
        if !opts.automatic {
            return;
        }
        let Ok(Some(_slot)) = self.take_slot(false) else {
            return;
        };
        let task = match self.next_task() {
            Ok(Some(t)) => t,
            Ok(None) => {
                let Ok(metas) = self.live_metas() else { return };
                let relief = crate::options::LeveledOptions {
                    l0_trigger: 2,
                    ..Default::default()
                };
                let Some(t) =
                    crate::compaction::plan(&CompactionStrategy::Leveled(relief), &metas, 0)
                else {
                    return;
                };
                t
            }
            Err(_) => return,
        };
        let _ = self.run_task(&task).await;
    }

    /// Runs one job: merges `task`'s inputs (still live on this handle) and publishes the
    /// output in place of them.
    pub(super) async fn run_task(&self, task: &Task) -> Result<CompactReport> {
        let result = self.run_task_inner(task).await;
        if let Ok(mut st) = self.state() {
            let m = &mut st.compaction.metrics;
            match &result {
                Ok(r) => {
                    m.jobs += 1;
                    m.rows_in += r.rows_in;
                    m.rows_out += r.rows_out;
                    m.bytes_in += r.bytes_in;
                    m.bytes_out += r.bytes_out;
                }
                Err(e) if e.code() == crate::ErrorCode::Conflict => m.conflicts += 1,
                Err(_) => m.failed += 1,
            }
        }
        result
    }

    /// An input went missing mid-job: a lost race (`CONFLICT`) when another handle compacted
    /// it away meanwhile (GC may then delete it at once, since the drop is dated by the
    /// committer's clock), else the loss it is.
    async fn missing_input(&self, task: &Task, what: String) -> Error {
        match self.shared.manifest.load().await {
            Ok(Some(head))
                if !task
                    .inputs
                    .iter()
                    .all(|id| head.state.ssts.iter().any(|m| m.id == *id)) =>
            {
                Error::Conflict(format!(
                    "a compaction input was compacted by another handle meanwhile ({what})"
                ))
            }
            _ => Error::NotFound(what),
        }
    }

    async fn run_task_inner(&self, task: &Task) -> Result<CompactReport> {
        let head = match self.shared.manifest.cached() {
            Some(h) => h,
            None => self
                .shared
                .manifest
                .load()
                .await?
                .ok_or_else(|| Error::Corrupt("the manifest head is missing".into()))?,
        };
        let version = self.state()?.version.clone();
        let inputs: Vec<Arc<SstHandle>> = version
            .ssts
            .iter()
            .filter(|h| task.inputs.contains(&h.meta.id))
            .cloned()
            .collect();
        if inputs.len() != task.inputs.len() {
            return Err(Error::Conflict(
                "a compaction input is no longer live on this handle".into(),
            ));
        }
        let lo = inputs
            .iter()
            .map(|h| h.meta.min_key.as_ref())
            .min()
            .unwrap_or(&[]);
        let hi = inputs
            .iter()
            .map(|h| h.meta.max_key.as_ref())
            .max()
            .unwrap_or(&[]);
        let newest_in = inputs.iter().map(|h| h.meta.max_ts).max().unwrap_or(0);
        // A tombstone may go only if no other file can hold an older version of its key.
        let older_elsewhere = version.ssts.iter().any(|h| {
            !task.inputs.contains(&h.meta.id)
                && h.meta.min_key.as_ref() <= hi
                && h.meta.max_key.as_ref() >= lo
                && h.meta.min_ts <= newest_in
        });
        let rules = Rules {
            horizon: self.horizon(&head)?,
            drop_tombstones: !older_elsewhere,
        };
        let opts = &self.shared.config.compaction;
        let limits = Limits {
            max_rows: opts.max_output_rows,
            max_bytes: opts.max_output_bytes,
            blocks: self.shared.config.point_read_blocks,
        };
        let storage = self.shared.storage.as_ref();
        let table = &self.shared.schema;
        let now = self.shared.config.clock.now_millis();
        let level = task.output_level;
        let name = |id: u64| match task.window {
            Some(w) => sst_path_in_window(level, now, id, w),
            None => sst_path(level, now, id),
        };
        let merged = async {
            let mut opened = Vec::with_capacity(inputs.len());
            for h in &inputs {
                opened.push(h.open(storage, table).await?);
            }
            merge(storage, table, opened, rules, limits, level, &name).await
        };
        let merged = match merged.await {
            Err(Error::NotFound(what)) => return Err(self.missing_input(task, what).await),
            r => r?,
        };
        let report = CompactReport {
            inputs: inputs.len(),
            outputs: merged.outputs.len(),
            rows_in: merged.rows_in,
            rows_out: merged.rows_out,
            bytes_in: merged.bytes_in,
            bytes_out: merged.bytes_out,
        };
        let edit = Edit {
            kind: Some(EditKind::Compact),
            commit_id: crate::codec::random_u64()?,
            remove: task.inputs.clone(),
            add: merged.outputs.iter().map(|s| s.meta.clone()).collect(),
            born: head.state.version,
            ..Edit::default()
        };
        let fresh: Vec<Arc<SstHandle>> = merged
            .outputs
            .iter()
            .map(|s| Arc::new(SstHandle::opened(s.clone())))
            .collect();
        match self.shared.manifest.commit(&edit).await {
            Ok(head) => {
                let mut st = self.state()?;
                self.install(&mut st, &head, &fresh);
                Ok(report)
            }
            Err(e) => {
                // Only a lost race proves the commit did not land; after any other error the
                // head may name the outputs, so GC's orphan sweep decides later.
                if e.code() == crate::ErrorCode::Conflict {
                    for s in &merged.outputs {
                        let _ = self.shared.storage.delete(&s.meta.path).await;
                    }
                    // Learn the head that beat us, so the next plan starts from it.
                    if let Ok(Some(h)) = self.shared.manifest.load().await
                        && let Ok(mut st) = self.state()
                    {
                        self.install(&mut st, &h, &[]);
                    }
                }
                Err(e)
            }
        }
    }

    /// Holds back ingest while L0 is too full (see [`crate::L0BackpressureConfig`]).
    pub(super) async fn backpressure(&self) -> Result<()> {
        let Some(bp) = self.shared.config.compaction.l0_backpressure else {
            return Ok(());
        };
        let clock = &self.shared.config.clock;
        let mut slowed = false;
        let mut stalled_since = None;
        loop {
            let (files, bytes) = {
                let st = self.state()?;
                st.version
                    .ssts
                    .iter()
                    .filter(|h| h.meta.level == 0)
                    .fold((0usize, 0u64), |(n, b), h| (n + 1, b + h.meta.bytes))
            };
            // Stalling needs someone to compact: this handle's automatic jobs, or on a shared
            // object store another handle's compactor. Otherwise a full L0 only slows ingest.
            let can_drain = self.shared.config.compaction.automatic
                || matches!(self.shared.config.durability, Durability::SealEveryBatch);
            let stop =
                can_drain && (files >= bp.stop_files || bp.stop_bytes.is_some_and(|b| bytes >= b));
            if stop {
                // Measured on this handle's own clock: a duration, not a comparison of clocks.
                let now = clock.now_millis();
                let since = *stalled_since.get_or_insert(now);
                if now.saturating_sub(since) >= bp.stop_timeout_ms {
                    return Err(Error::Busy(format!(
                        "L0 has held {files} files ({bytes} bytes) for {} ms and no compaction \
                         made room (stop at {} files); nothing was written. Retry later, run \
                         compaction, or check that a compactor runs for this table",
                        now.saturating_sub(since),
                        bp.stop_files
                    )));
                }
                self.state()?.compaction.metrics.stalls += 1;
                // Make progress here when nothing else is: a job on this handle, or (on a
                // shared object store) another handle's compactor, seen after a refresh.
                self.relieve_l0().await;
                clock.sleep(bp.stop_recheck_ms).await;
                if matches!(self.shared.config.durability, Durability::SealEveryBatch) {
                    self.refresh().await?;
                }
                continue;
            }
            let slow = files >= bp.slowdown_files || bp.slowdown_bytes.is_some_and(|b| bytes >= b);
            if slow && !slowed {
                self.state()?.compaction.metrics.slowdowns += 1;
                clock.sleep(bp.slowdown_delay_ms).await;
                slowed = true;
                continue;
            }
            return Ok(());
        }
    }

    /// Moves the oldest history entries into an archive object when the head's tail is long.
    pub(super) async fn archive_history(&self, head: &Head) -> Result<()> {
        let manifest = &self.shared.manifest;
        let Some(archived) = manifest
            .archive_if_due(&head.state, crate::manifest::ARCHIVE_CHUNK)
            .await?
        else {
            return Ok(());
        };
        let edit = Edit {
            kind: Some(EditKind::Gc),
            commit_id: crate::codec::random_u64()?,
            archived: Some(archived),
            ..Edit::default()
        };
        let head = manifest.commit(&edit).await?;
        let mut st = self.state()?;
        self.install(&mut st, &head, &[]);
        Ok(())
    }

    /// Garbage collection: applies the retention window to history, deletes SSTs dropped from
    /// the head once their grace period passed (never one a live snapshot of this handle
    /// reads), orphans older than the grace period, WAL segments below the floor (beyond the
    /// retained bytes) and archives below the history floor. Idempotent; safe from any handle.
    pub async fn gc(&self) -> Result<GcReport> {
        let manifest = &self.shared.manifest;
        let mut head = manifest
            .load()
            .await?
            .ok_or_else(|| Error::Corrupt("the manifest head is missing".into()))?;
        if head.state.history.len() >= crate::manifest::ARCHIVE_CHUNK {
            self.archive_history(&head).await?;
            head = manifest
                .cached()
                .ok_or_else(|| Error::Internal("no manifest head after a commit".into()))?;
        }
        let state = head.state.clone();
        let now = self.shared.config.clock.now_millis();
        let retention = self.shared.config.retention;
        let mut report = GcReport::default();

        // History: the newest version collectable by both count and age sets the floor.
        let versions = manifest.versions(&state).await?;
        let newest = state.version;
        let collect_below = versions
            .iter()
            .filter(|h| {
                h.version.saturating_add(retention.min_versions) <= newest
                    && h.wall_ms.saturating_add(retention.max_age_ms) <= now
            })
            .map(|h| h.version + 1)
            .max()
            .unwrap_or(state.history_floor)
            .max(state.history_floor);
        // The new floor's timestamp: the version itself, or (if it is the newest, not yet in
        // the list) the head's.
        let floor_ts = versions
            .iter()
            .find(|h| h.version >= collect_below)
            .map_or(state.last_ts, |h| h.ts);

        // Files this handle's live snapshots still read.
        let pinned: HashSet<String> = {
            let st = self.state()?;
            st.pinned_versions
                .iter()
                .filter_map(|w| w.upgrade())
                .flat_map(|v| {
                    v.ssts
                        .iter()
                        .map(|h| h.meta.path.clone())
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let storage = self.shared.storage.as_ref();
        let mut forget = Vec::new();
        for d in &state.graveyard {
            if d.dropped_ms.saturating_add(retention.grace_ms) <= now && !pinned.contains(&d.path) {
                storage.delete(&d.path).await?;
                forget.push(d.path.clone());
                report.ssts_deleted += 1;
            }
        }
        // Orphans (objects no head names: a commit that failed, or one still in flight) are
        // condemned by a commit first and deleted only once the head lists them, because no
        // commit can add a condemned file: a slow writer loses its commit (CONFLICT), never
        // its rows. The grace period only spares writers in flight that retry; it is read on
        // this handle's clock against the time in the name, and safety does not depend on it.
        let listed = storage.list("sst/").await?;
        let listed_paths: HashSet<&str> = listed.iter().map(|o| o.path.as_str()).collect();
        for c in &state.condemned {
            if listed_paths.contains(c.path.as_str()) {
                storage.delete(&c.path).await?;
                report.orphans_deleted += 1;
            }
            forget.push(c.path.clone());
        }
        let known: HashSet<&str> = state
            .ssts
            .iter()
            .map(|m| m.path.as_str())
            .chain(state.graveyard.iter().map(|d| d.path.as_str()))
            .chain(state.condemned.iter().map(|c| c.path.as_str()))
            .collect();
        let mut condemn = Vec::new();
        for obj in &listed {
            let old = sst_path_ms(&obj.path)
                .is_some_and(|ms| ms.saturating_add(retention.grace_ms) <= now);
            if !known.contains(obj.path.as_str()) && !pinned.contains(&obj.path) && old {
                condemn.push(obj.path.clone());
            }
        }
        // Segments below the floor are flushed only when the floor counts this log's segments.
        if let Durability::Wal(config) = &self.shared.config.durability
            && state.wal_log == self.shared.config.log_id
        {
            let storage = self.shared.wal_storage.as_ref();
            let prefix = format!("{}/", config.dir);
            let mut below: Vec<(u64, String, u64)> = storage
                .list(&prefix)
                .await?
                .into_iter()
                .filter_map(|m| {
                    segment_seq(&config.dir, &m.path)
                        .filter(|&s| s < state.wal_floor.segment)
                        .map(|s| (s, m.path, m.size))
                })
                .collect();
            // Newest first: the retained bytes keep the most recent flushed segments.
            below.sort_unstable_by_key(|s| std::cmp::Reverse(s.0));
            // Keep the newest run of segments that fits the budget, then delete the rest.
            let mut kept = 0u64;
            let mut keeping = true;
            for (_, path, size) in below {
                if keeping && kept + size <= config.retention_bytes {
                    kept += size;
                    continue;
                }
                keeping = false;
                storage.delete(&path).await?;
                report.wal_segments_deleted += 1;
            }
        }
        let state =
            if !forget.is_empty() || !condemn.is_empty() || collect_below > state.history_floor {
                let edit = Edit {
                    kind: Some(EditKind::Gc),
                    commit_id: crate::codec::random_u64()?,
                    forget,
                    condemn,
                    history_floor: Some((collect_below, floor_ts)),
                    ..Edit::default()
                };
                let head = manifest.commit(&edit).await?;
                {
                    let mut st = self.state()?;
                    self.install(&mut st, &head, &[]);
                }
                // What this commit condemned is safe to delete now; the next pass forgets it.
                for c in head
                    .state
                    .condemned
                    .iter()
                    .filter(|c| edit.condemn.contains(&c.path))
                {
                    storage.delete(&c.path).await?;
                    report.orphans_deleted += 1;
                }
                head.state
            } else {
                state
            };
        report.history_floor = state.history_floor;
        // Archives go only once the head no longer names them: a failed commit above must not
        // leave the head pointing at deleted objects.
        let live_archives: HashSet<&str> = state.archives.iter().map(|a| a.path.as_str()).collect();
        for obj in storage.list(crate::manifest::HISTORY_DIR).await? {
            let last = obj
                .path
                .rsplit('-')
                .next()
                .and_then(|s| s.parse::<u64>().ok());
            if !live_archives.contains(obj.path.as_str())
                && last.is_some_and(|l| l < state.history_floor)
            {
                storage.delete(&obj.path).await?;
                report.archives_deleted += 1;
            }
        }
        Ok(report)
    }

    /// Every retained version, oldest first (reads the head, plus one GET per history
    /// archive).
    pub async fn versions(&self) -> Result<Vec<HistoryEntry>> {
        self.check_open()?;
        let head = self
            .shared
            .manifest
            .load()
            .await?
            .ok_or_else(|| Error::Corrupt("the manifest head is missing".into()))?;
        {
            let mut st = self.state()?;
            self.install(&mut st, &head, &[]);
        }
        self.shared.manifest.versions(&head.state).await
    }

    /// A read-only view of the table as of manifest version `version`.
    pub async fn at_version(&self, version: u64) -> Result<Snapshot> {
        let versions = self.versions().await?;
        let entry = versions
            .iter()
            .find(|h| h.version == version)
            .ok_or_else(|| {
                let oldest = versions.first().map_or(0, |h| h.version);
                let newest = versions.last().map_or(0, |h| h.version);
                Error::NotFound(format!(
                    "version {version} is not retained (versions {oldest}..={newest} are)"
                ))
            })?;
        self.snapshot_at(entry.ts)
    }

    /// A read-only view of the table as of commit timestamp `ts` (everything committed at or
    /// before it). `ts` must not be older than the oldest retained version.
    pub async fn at_timestamp(&self, ts: Timestamp) -> Result<Snapshot> {
        let versions = self.versions().await?;
        let oldest = versions.first().map_or(0, |h| h.ts);
        let newest = self.state()?.visible_ts;
        if ts < oldest || ts > newest {
            return Err(Error::NotFound(format!(
                "timestamp {ts} is outside the retained history ({oldest}..={newest})"
            )));
        }
        self.snapshot_at(ts)
    }
}
