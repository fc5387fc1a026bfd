//! Background-style work a caller (or a Worker cron) runs: flushing memtables to SSTs,
//! compaction, garbage collection, history archiving, and time travel.

use std::cmp::Reverse;
use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_array::{RecordBatch, UInt32Array};

use super::commit::{sst_path, sst_path_ms};
use super::{Db, Snapshot};
use crate::error::{Error, Result};
use crate::manifest::{Edit, EditKind, Head, HistoryEntry, WalFloor};
use crate::memtable::{Memtable, Timestamp};
use crate::options::Durability;
use crate::read::mem_source::lock;
use crate::sst::SstHandle;
use crate::storage::PutMode;
use crate::wal::segment_seq;

/// What [`Db::compact`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// SSTs merged.
    pub inputs: usize,
    /// Versions read.
    pub rows_in: u64,
    /// Versions written (older versions no retained read can see, and tombstones with
    /// nothing below them, are dropped).
    pub rows_out: u64,
    /// Bytes written.
    pub bytes_out: u64,
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
    pub(super) async fn maybe_flush(&self) -> Result<()> {
        let due = match self.shared.config.minor {
            Some(m) => self.state()?.immutables.len() >= m.segment_threshold,
            None => false,
        };
        if due {
            self.flush_immutables().await?;
        }
        Ok(())
    }

    /// Seals the mutable memtable and writes everything sealed into an SST now.
    pub async fn flush(&self) -> Result<()> {
        self.seal().await?;
        self.flush_immutables().await
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
            let w =
                crate::sst::writer::write_sst(&self.shared.schema, &refs, id, level, path.clone())?;
            (w, max_ts)
        };
        let mut fresh = Vec::new();
        let mut edit = Edit {
            kind: Some(EditKind::Flush),
            commit_id: id,
            last_ts: Some(max_ts),
            ..Edit::default()
        };
        if matches!(self.shared.config.durability, Durability::Wal(_)) {
            edit.wal_floor = Some(WalFloor {
                segment: floor_segment,
                ts: max_ts,
            });
        }
        if let Some((bytes, sst)) = written {
            self.shared
                .storage
                .put(&path, bytes, PutMode::CreateNew)
                .await?;
            edit.add.push(sst.meta.clone());
            fresh.push(Arc::new(SstHandle::opened(sst)));
        }
        let head = self.shared.manifest.commit(&edit).await?;
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

    /// Merges every SST into one at level 1 (flushing memtables first), dropping versions no
    /// retained version or live snapshot can read, and tombstones with nothing left to hide.
    /// Publishes through the manifest's compare-and-swap; when another commit removed one of
    /// the inputs first, fails with `CONFLICT` and deletes its output.
    pub async fn compact(&self) -> Result<CompactReport> {
        if !matches!(self.shared.config.durability, Durability::SealEveryBatch) {
            self.flush().await?;
        }
        let head = match self.shared.manifest.cached() {
            Some(h) => h,
            None => self
                .shared
                .manifest
                .load()
                .await?
                .ok_or_else(|| Error::Corrupt("the manifest head is missing".into()))?,
        };
        let inputs: Vec<Arc<SstHandle>> = {
            let st = self.state()?;
            st.version.ssts.clone()
        };
        if inputs.len() < 2 && inputs.iter().all(|h| h.meta.tombstones == 0) {
            return Ok(CompactReport::default());
        }
        let horizon = self.horizon(&head)?;
        let storage = self.shared.storage.as_ref();
        let table = &self.shared.schema;
        let mut batches: Vec<RecordBatch> = Vec::new();
        for h in &inputs {
            let sst = h.open(storage, table).await?;
            batches.extend(sst.read_all(storage).await?);
        }
        let schema = self.shared.sst_schema.clone();
        let all = arrow_select::concat::concat_batches(&schema, &batches)?;
        drop(batches);
        let k = table.arrow().fields().len();
        let col = |i: usize| {
            all.columns()
                .get(i)
                .ok_or_else(|| Error::Internal("SST rows lack a bookkeeping column".into()))
        };
        let keys = col(k)?.as_binary::<i32>();
        let ts = col(k + 1)?.as_primitive::<UInt64Type>();
        let tomb = col(k + 2)?.as_boolean();
        let mut order: Vec<u32> = (0..all.num_rows() as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            (keys.value(a), Reverse(ts.value(a))).cmp(&(keys.value(b), Reverse(ts.value(b))))
        });
        // Per key: every version above the horizon, then the newest at or below it (what a
        // read at the horizon sees) unless it is a tombstone: this is the bottom level, so
        // there is nothing older for it to hide.
        let mut keep: Vec<u32> = Vec::with_capacity(order.len());
        let mut i = 0;
        while i < order.len() {
            let first = order.get(i).copied().unwrap_or(0) as usize;
            let key = keys.value(first);
            let mut j = i;
            let mut settled = false;
            while let Some(&r) = order.get(j) {
                let r = r as usize;
                if keys.value(r) != key {
                    break;
                }
                if !settled {
                    if ts.value(r) > horizon {
                        keep.push(r as u32);
                    } else {
                        settled = true;
                        if !tomb.value(r) {
                            keep.push(r as u32);
                        }
                    }
                }
                j += 1;
            }
            // A tombstone above the horizon must stay while older versions it hides remain.
            i = j;
        }
        let idx = UInt32Array::from(keep);
        let columns = all
            .columns()
            .iter()
            .map(|c| arrow_select::take::take(c.as_ref(), &idx, None))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let merged = RecordBatch::try_new(schema, columns)?;
        let now = self.shared.config.clock.now_millis();
        let id = crate::codec::random_u64()?;
        let path = sst_path(1, now, id);
        let written = crate::sst::writer::write_sorted(table, &merged, id, 1, path.clone())?;
        let mut report = CompactReport {
            inputs: inputs.len(),
            rows_in: all.num_rows() as u64,
            rows_out: merged.num_rows() as u64,
            bytes_out: 0,
        };
        let mut edit = Edit {
            kind: Some(EditKind::Compact),
            commit_id: id,
            remove: inputs.iter().map(|h| h.meta.id).collect(),
            ..Edit::default()
        };
        let mut fresh = Vec::new();
        if let Some((bytes, sst)) = written {
            report.bytes_out = bytes.len() as u64;
            self.shared
                .storage
                .put(&path, bytes, PutMode::CreateNew)
                .await?;
            edit.add.push(sst.meta.clone());
            fresh.push(Arc::new(SstHandle::opened(sst)));
        }
        match self.shared.manifest.commit(&edit).await {
            Ok(head) => {
                let mut st = self.state()?;
                self.install(&mut st, &head, &fresh);
                Ok(report)
            }
            Err(e) => {
                // Only a lost race proves the commit did not land; after any other error the
                // head may name the output, so GC's orphan sweep decides later.
                if e.code() == crate::ErrorCode::Conflict {
                    let _ = self.shared.storage.delete(&path).await;
                }
                Err(e)
            }
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
        let known: HashSet<&str> = state
            .ssts
            .iter()
            .map(|m| m.path.as_str())
            .chain(state.graveyard.iter().map(|d| d.path.as_str()))
            .collect();
        for obj in storage.list("sst/").await? {
            let old = sst_path_ms(&obj.path)
                .is_some_and(|ms| ms.saturating_add(retention.grace_ms) <= now);
            if !known.contains(obj.path.as_str()) && !pinned.contains(&obj.path) && old {
                storage.delete(&obj.path).await?;
                report.orphans_deleted += 1;
            }
        }
        if let Durability::Wal(config) = &self.shared.config.durability {
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
        let state = if !forget.is_empty() || collect_below > state.history_floor {
            let edit = Edit {
                kind: Some(EditKind::Gc),
                commit_id: crate::codec::random_u64()?,
                forget,
                history_floor: Some((collect_below, floor_ts)),
                ..Edit::default()
            };
            let head = manifest.commit(&edit).await?;
            let mut st = self.state()?;
            self.install(&mut st, &head, &[]);
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
