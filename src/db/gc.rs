//! Garbage collection: the retention window applied to history, and deletion of what no head
//! or live snapshot needs (dropped SSTs, orphans, flushed WAL segments, old history archives).

use std::collections::HashSet;

use super::{Control, Db, Phase};
use crate::error::{Error, Result};
use crate::manifest::{Edit, EditKind, HistoryEntry};
use crate::options::Durability;
use crate::paths::sst_path_ms;
use crate::wal::segment_seq;

/// Steps of a GC pass as [`super::Progress`] counts them: history, dropped files, drop notes,
/// orphans, WAL segments, the commit, archives.
pub const GC_STEPS: u64 = 7;

/// What [`Db::gc`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// SSTs dropped from the head whose drop grace period passed, deleted.
    pub ssts_deleted: usize,
    /// Drop notes whose files are all deleted, deleted themselves.
    pub notes_deleted: usize,
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
    /// Garbage collection: applies the retention window to history, deletes SSTs dropped from
    /// the head once their drop grace period passed (never one a live snapshot of this handle
    /// reads; readers elsewhere read around it), orphans older than the grace period, WAL segments below the floor (beyond the
    /// retained bytes) and archives below the history floor. Idempotent; safe from any handle.
    pub async fn gc(&self) -> Result<GcReport> {
        self.gc_with(&Control::default()).await
    }

    /// [`Db::gc`] that `control` can stop between deletions (the next pass deletes the rest)
    /// and that reports its steps ([`super::Phase::Gc`], [`GC_STEPS`] of them).
    pub async fn gc_with(&self, control: &Control) -> Result<GcReport> {
        let step = |n: u64| control.step(Phase::Gc, n, GC_STEPS);
        step(0)?;
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

        // History: the versions collectable by both count and age, from the oldest on, set the
        // floor. Only that prefix is read (the chunks past it are not), so a version stamped
        // by a clock behind the others keeps the newer ones too: the floor errs toward keeping.
        let newest = state.version;
        let collectable = |h: &HistoryEntry| {
            h.version.saturating_add(retention.min_versions) <= newest
                && h.wall_ms.saturating_add(retention.max_age_ms) <= now
        };
        let versions = manifest.versions_until(&state, |h| !collectable(h)).await?;
        let collect_below = versions
            .iter()
            .filter(|h| collectable(h))
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

        step(1)?;
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
            if d.dropped_ms.saturating_add(retention.drop_grace_ms) <= now
                && !pinned.contains(&d.path)
            {
                control.check()?;
                storage.delete(&d.path).await?;
                forget.push(d.path.clone());
                report.ssts_deleted += 1;
            }
        }
        // Files dropped by commits that wrote a note, judged against a head read after the
        // notes (see `reap_notes`). The SSTs are listed after that: a file that left the head
        // since the head above was read is still known to the orphan sweep below (that head
        // names it).
        step(2)?;
        let noted = self.reap_notes(&pinned, now, &mut report).await?;
        step(3)?;
        // Orphans (objects no head names: a commit that failed, or one still in flight) are
        // condemned by a commit first and deleted only once the head lists them, because no
        // commit can add a condemned file: a slow writer loses its commit (CONFLICT), never
        // its rows. The grace period only spares writers in flight that retry; it is read on
        // this handle's clock against the time in the name, and safety does not depend on it.
        let listed = storage.list("sst/").await?;
        let listed_paths: HashSet<&str> = listed.iter().map(|o| o.path.as_str()).collect();
        for c in &state.condemned {
            if listed_paths.contains(c.path.as_str()) {
                control.check()?;
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
            .chain(noted.iter().map(String::as_str))
            .collect();
        let mut condemn = Vec::new();
        for obj in &listed {
            let old = sst_path_ms(&obj.path)
                .is_some_and(|ms| ms.saturating_add(retention.grace_ms) <= now);
            if !known.contains(obj.path.as_str()) && !pinned.contains(&obj.path) && old {
                condemn.push(obj.path.clone());
            }
        }
        step(4)?;
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
                control.check()?;
                storage.delete(&path).await?;
                report.wal_segments_deleted += 1;
            }
        }
        step(5)?;
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
        step(6)?;
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
                control.check()?;
                storage.delete(&obj.path).await?;
                report.archives_deleted += 1;
            }
        }
        step(GC_STEPS)?;
        Ok(report)
    }

    /// Applies the drop notes: a note dropped longer ago than the drop grace period has its
    /// files deleted (unless the head names them, or a live snapshot of this handle reads
    /// them), then goes itself. A note whose files the head still names was written for a
    /// commit that lost its race or is still in flight: it stays for the orphan grace period,
    /// so that a commit landing late leaves its files noted rather than orphaned. Returns the
    /// files of the notes still waiting, which the orphan sweep must leave alone.
    async fn reap_notes(
        &self,
        pinned: &HashSet<String>,
        now: u64,
        report: &mut GcReport,
    ) -> Result<HashSet<String>> {
        use futures_util::StreamExt;
        let manifest = &self.shared.manifest;
        let storage = self.shared.storage.as_ref();
        let retention = self.shared.config.retention;
        let notes = manifest.notes().await?;
        // Notes are small and independent: read several at once (each is a round trip).
        let read: Vec<_> = futures_util::stream::iter(notes.iter())
            .map(|n| async move { (n, manifest.read_note(n).await) })
            .buffered(NOTE_READS)
            .collect()
            .await;
        // What is live comes from a head read after the notes: a note is written before its
        // commit, so a file it names that this head no longer has was dropped by a commit that
        // landed. The head GC started from is too old for that: a file flushed since, then
        // taken by a compaction whose note is listed here, is absent from it although the
        // compaction may never commit.
        let head = manifest
            .load()
            .await?
            .ok_or_else(|| Error::Corrupt("the manifest head is missing".into()))?;
        let live: HashSet<&str> = head.state.ssts.iter().map(|m| m.path.as_str()).collect();
        let mut waiting = HashSet::new();
        for (note, files) in read {
            let ripe = note.dropped_ms.saturating_add(retention.drop_grace_ms) <= now;
            let settled = note.dropped_ms.saturating_add(retention.grace_ms) <= now;
            let files = match files {
                Ok(f) => f,
                // Another GC finished it meanwhile.
                Err(Error::NotFound(_)) => continue,
                // A damaged note names nothing it can be trusted with: its files are left to
                // the orphan sweep, and a ripe one goes.
                Err(Error::Corrupt(_)) if settled => {
                    storage.delete(&note.path).await?;
                    report.notes_deleted += 1;
                    continue;
                }
                Err(Error::Corrupt(_)) => continue,
                Err(e) => return Err(e),
            };
            if !ripe {
                waiting.extend(files.into_iter().map(|(p, _)| p));
                continue;
            }
            let mut kept = false;
            for (path, _) in files {
                if live.contains(path.as_str()) {
                    // The note of a commit that lost its race (this file never left the head),
                    // or of one still in flight, whose files it must still name when it lands.
                    kept |= !settled;
                    continue;
                }
                if pinned.contains(&path) {
                    kept = true;
                    waiting.insert(path);
                } else {
                    storage.delete(&path).await?;
                    report.ssts_deleted += 1;
                }
            }
            if !kept {
                storage.delete(&note.path).await?;
                report.notes_deleted += 1;
            }
        }
        Ok(waiting)
    }
}

/// Drop notes read at once by GC.
const NOTE_READS: usize = 16;
