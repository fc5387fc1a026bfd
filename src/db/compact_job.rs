//! One major compaction job: its input SSTs merged and the outputs published in their place,
//! or the race lost cleanly. Apart from the driver (compact.rs), which decides when jobs run.

use std::sync::Arc;

use super::{CompactReport, Control, Db};
use crate::compaction::Task;
use crate::compaction::merge::{Limits, Rules, merge};
use crate::error::{Error, Result};
use crate::key::Timestamp;
use crate::manifest::{Edit, EditKind, Head};
use crate::paths::{sst_path, sst_path_in_window};
use crate::sst::SstHandle;

impl Db {
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

    /// Runs one job: merges `task`'s inputs (still live on this handle) and publishes the
    /// output in place of them.
    pub(super) async fn run_task(&self, task: &Task, control: &Control) -> Result<CompactReport> {
        let result = self.run_task_inner(task, control).await;
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
                Err(e) if e.code() == crate::error::ErrorCode::Conflict => m.conflicts += 1,
                Err(_) => m.failed += 1,
            }
        }
        result
    }

    /// An input went missing mid-job: a lost race (`CONFLICT`) when another handle compacted
    /// it away meanwhile (GC may then delete it at once, since the drop is dated by the
    /// committer's clock), the manifest's own error when asking fails, else the loss it is.
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
            // The input may still be live: asking failed, so the job's outcome is that error
            // (retryable when the store's was), not a claim that data is gone.
            Err(e) => e,
            _ => Error::NotFound(what),
        }
    }

    async fn run_task_inner(&self, task: &Task, control: &Control) -> Result<CompactReport> {
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
            // A void input (its upload never landed) has no rows: it just leaves the head.
            for h in &inputs {
                opened.extend(self.open_sst(h).await?);
            }
            merge(storage, table, opened, rules, limits, level, &name, control).await
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
        let commit_id = crate::codec::random_u64()?;
        // The drop note goes first: a commit that lands without one would leave its inputs for
        // GC's orphan sweep, which cannot tell how long ago they left the head.
        let note = crate::manifest::note_path(now, commit_id);
        let dropped: Vec<(String, u64)> = inputs
            .iter()
            .map(|h| (h.meta.path.clone(), h.meta.bytes))
            .collect();
        if let Err(e) = self.shared.manifest.write_note(&note, &dropped).await {
            for s in &merged.outputs {
                let _ = storage.delete(&s.meta.path).await;
            }
            return Err(e);
        }
        let edit = Edit {
            kind: Some(EditKind::Compact),
            commit_id,
            remove: task.inputs.clone(),
            add: merged.outputs.iter().map(|s| s.meta.clone()).collect(),
            born: head.state.version,
            ..Edit::default()
        };
        let fresh: Vec<Arc<SstHandle>> = merged
            .outputs
            .iter()
            .map(|s| Arc::new(SstHandle::opened(s.clone(), self.shared.config.block_cache)))
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
                if e.code() == crate::error::ErrorCode::Conflict {
                    for s in &merged.outputs {
                        let _ = self.shared.storage.delete(&s.meta.path).await;
                    }
                    let _ = self.shared.storage.delete(&note).await;
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
}
