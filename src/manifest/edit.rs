//! An edit: one change to the manifest, and the rules for applying it to a head newer than
//! the one it was built on.

use super::state::{ArchiveRef, Condemned, EditKind, HistoryEntry, ManifestState, WalFloor};
use crate::error::{Error, Result};
use crate::key::Timestamp;
use crate::sst::SstMeta;

/// A change to the manifest. Applying it to a newer head than the one it was built on
/// ("rebasing") succeeds when it still makes sense there.
#[derive(Debug, Clone, Default)]
pub struct Edit {
    /// What the edit is for.
    pub kind: Option<EditKind>,
    /// The committer's random id for this edit.
    pub commit_id: u64,
    /// SSTs to add.
    pub add: Vec<SstMeta>,
    /// Ids of SSTs to remove; all must still be live.
    pub remove: Vec<u64>,
    /// Raise `last_ts` to this.
    pub last_ts: Option<Timestamp>,
    /// Added SSTs hold commits that must order after every commit already in the head: the
    /// edit applies only if the head's `last_ts` is below this, unless `restamp` is set.
    pub min_ts: Option<Timestamp>,
    /// When the head already reached `min_ts`, shift the added SSTs' timestamps (their
    /// `ts_shift`) just above it instead of failing: a seal-every-batch put rebased onto a
    /// concurrent writer's commit, without rewriting its file.
    pub restamp: bool,
    /// Apply only on exactly this version (a transaction checked its keys against it).
    pub expect_version: Option<u64>,
    /// Raise the WAL floor to this (set it, when the floor counted another log's segments).
    pub wal_floor: Option<WalFloor>,
    /// The writer's log kept outside the table's storage (0: none). A put or flush applies only
    /// while no other such log holds the table, and its floor counts this log's segments.
    pub log: u64,
    /// Hold the table for this log (see [`ManifestState::wal_owner`]); refused while another
    /// log holds it unless `take_over`.
    pub claim: Option<u64>,
    /// Claim even from another log (whose unflushed writes are then abandoned).
    pub take_over: bool,
    /// Let go of the table if this log holds it.
    pub release: Option<u64>,
    /// The head version the committer knew before it wrote the files in `add`: the edit is
    /// refused when GC has since forgotten a condemnation made after it (`ManifestState::swept`),
    /// since one of those files may be the one deleted.
    pub born: u64,
    /// Graveyard and condemned entries whose files were deleted.
    pub forget: Vec<String>,
    /// Unreferenced objects to condemn (GC deletes them once this edit is in the head).
    pub condemn: Vec<String>,
    /// History entries moved into this archive.
    pub archived: Option<ArchiveRef>,
    /// Versions below this are collected (no longer readable); the second value is that
    /// version's timestamp.
    pub history_floor: Option<(u64, Timestamp)>,
}

impl Edit {
    /// Whether `state` already holds this edit: its commit id is in the history, or every SST
    /// it adds is live.
    pub fn landed_in(&self, state: &ManifestState) -> bool {
        let in_history =
            self.commit_id != 0 && state.history.iter().any(|h| h.commit_id == self.commit_id);
        let files_in = !self.add.is_empty()
            && self
                .add
                .iter()
                .all(|a| state.ssts.iter().any(|m| m.id == a.id));
        in_history || files_in
    }

    /// Applies the edit to `base`, producing the next version.
    pub fn apply(&self, base: &ManifestState, wall_ms: u64) -> Result<ManifestState> {
        if let Some(v) = self.expect_version
            && v != base.version
        {
            return Err(Error::Conflict(format!(
                "the head moved from version {v} to {} since this commit checked it",
                base.version
            )));
        }
        if let Some(c) = self
            .add
            .iter()
            .find_map(|a| base.condemned.iter().find(|c| c.path == a.path))
        {
            return Err(Error::Conflict(format!(
                "{} was condemned as an orphan by garbage collection at version {} (its commit \
                 came later than the grace period allows); nothing was committed, write again",
                c.path, c.version
            )));
        }
        if !self.add.is_empty() && self.born < base.swept {
            return Err(Error::Conflict(format!(
                "garbage collection deleted unreferenced files condemned at version {} and \
                 this commit's files were written at version {} (a commit slower than the \
                 grace period allows, or clocks far apart); nothing was committed, write again",
                base.swept, self.born
            )));
        }
        let writes = matches!(self.kind, Some(EditKind::Put | EditKind::Flush));
        if writes && base.wal_owner != 0 && base.wal_owner != self.log {
            return Err(Error::Conflict(format!(
                "this table is held by a writer whose write-ahead log is kept outside the \
                 table's storage (log {:016x}); other writers are refused until it closes, or \
                 until a writer opens with WalConfig::take_over",
                base.wal_owner
            )));
        }
        if let Some(id) = self.claim
            && base.wal_owner != 0
            && base.wal_owner != id
            && !self.take_over
        {
            return Err(Error::Conflict(format!(
                "this table is held by another write-ahead log kept outside the table's \
                 storage (log {:016x}, this one is {id:016x}); close that writer first, or open \
                 with WalConfig::take_over if it is gone for good (its unflushed writes are then \
                 abandoned)",
                base.wal_owner
            )));
        }
        let mut s = base.clone();
        let mut delta = 0;
        if let Some(min) = self.min_ts
            && base.last_ts >= min
        {
            if !self.restamp {
                return Err(Error::Conflict(format!(
                    "a concurrent commit reached timestamp {}; this commit's rows carry {min}",
                    base.last_ts
                )));
            }
            delta = base.last_ts + 1 - min;
        }
        for id in &self.remove {
            let Some(pos) = s.ssts.iter().position(|m| m.id == *id) else {
                return Err(Error::Conflict(format!(
                    "SST {id:016x} was removed by a concurrent commit"
                )));
            };
            // Its drop note (written before this commit) tells GC when it may go: the head
            // does not list dropped files, or it would grow with the write rate.
            s.ssts.remove(pos);
        }
        s.ssts.extend(self.add.iter().cloned().map(|mut m| {
            m.ts_shift += delta;
            m.min_ts += delta;
            m.max_ts += delta;
            m
        }));
        // Newest first: point lookups stop early, scans order their sources the same way.
        s.ssts
            .sort_by(|a, b| b.max_ts.cmp(&a.max_ts).then(b.id.cmp(&a.id)));
        s.version = base.version + 1;
        let added_max = self.add.iter().map(|m| m.max_ts + delta).max().unwrap_or(0);
        s.last_ts = s
            .last_ts
            .max(self.last_ts.map_or(0, |t| t + delta))
            .max(added_max);
        if let Some(id) = self.claim {
            s.wal_owner = id;
            if s.wal_log != id {
                // The floor counted another log's segments. This log replays all of its own,
                // but only commits above everything already in SSTs: older ones are either
                // flushed, or were abandoned when another log took the table.
                s.wal_log = id;
                s.wal_floor = WalFloor {
                    segment: 0,
                    ts: s.last_ts,
                };
            }
        }
        if let Some(f) = self.wal_floor {
            if s.wal_log == self.log {
                s.wal_floor.segment = s.wal_floor.segment.max(f.segment);
                s.wal_floor.ts = s.wal_floor.ts.max(f.ts);
            } else {
                s.wal_log = self.log;
                s.wal_floor = f;
            }
        }
        if let Some(id) = self.release
            && s.wal_owner == id
        {
            s.wal_owner = 0;
        }
        s.graveyard.retain(|d| !self.forget.contains(&d.path));
        s.swept = s
            .condemned
            .iter()
            .filter(|c| self.forget.contains(&c.path))
            .map(|c| c.version)
            .fold(s.swept, u64::max);
        s.condemned.retain(|c| !self.forget.contains(&c.path));
        for path in &self.condemn {
            // Only what is still unreferenced here: a commit that named the file first wins.
            let referenced = s.ssts.iter().any(|m| &m.path == path)
                || s.graveyard.iter().any(|d| &d.path == path)
                || s.condemned.iter().any(|c| &c.path == path);
            if !referenced {
                s.condemned.push(Condemned {
                    path: path.clone(),
                    version: s.version,
                });
            }
        }
        if let Some(a) = &self.archived {
            // Archiving is bookkeeping: when a racing commit archived the same entries first,
            // there is nothing left to move and the edit still applies.
            if s.history.first().map(|h| h.version) == Some(a.first) {
                s.history.retain(|h| h.version > a.last);
                s.archived_to = s.archived_to.max(a.last);
            }
        }
        if let Some((floor, floor_ts)) = self.history_floor
            && floor > s.history_floor
        {
            s.history_floor = floor;
            s.history_floor_ts = s.history_floor_ts.max(floor_ts);
            let keep = s.history_floor;
            s.history.retain(|h| h.version >= keep);
            s.archives.retain(|a| a.last >= keep);
        }
        s.history.push(HistoryEntry {
            version: s.version,
            ts: s.last_ts,
            wall_ms,
            commit_id: self.commit_id,
            kind: self.kind.unwrap_or(EditKind::Gc),
            ssts: s.ssts.len() as u32,
            bytes: s.sst_bytes(),
            added: self.add.len() as u32,
            removed: self.remove.len() as u32,
        });
        Ok(s)
    }
}
