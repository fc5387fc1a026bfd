//! The manifest: which SSTs are live, the WAL floor, the table's catalog entry and the version
//! history, in one object (`manifest/HEAD`) moved by compare-and-swap.
//!
//! Every committed state is a full checkpoint, so opening reads exactly one object however long
//! the history is. The edit log (one [`HistoryEntry`] per version) rides in the head until it
//! grows past [`HISTORY_TAIL`] entries; older entries move to immutable archive objects
//! (`manifest/history/{first}-{last}`) that only `versions()` and GC read.
//!
//! Commit protocol: build an [`Edit`], apply it to the cached head, write the result with
//! `If-Match` on the head's etag (`If-None-Match: *` for the first commit). A lost race re-reads
//! the head (one GET), re-applies the edit when it still applies (adding SSTs always does;
//! removing SSTs only while they are still live) and retries after [`CasBackoffConfig`]'s
//! backoff; an edit that no longer applies fails with [`Error::Conflict`].

mod format;

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::memtable::Timestamp;
use crate::options::{CasBackoffConfig, Clock};
use crate::sst::SstMeta;
use crate::storage::{PutMode, Storage};

pub use format::{decode_archive, decode_state, encode_archive, encode_state};

/// The head object.
pub const HEAD_PATH: &str = "manifest/HEAD";
/// Where archived history lives.
pub const HISTORY_DIR: &str = "manifest/history/";
/// History entries the head keeps before a commit archives the oldest [`ARCHIVE_CHUNK`].
pub const HISTORY_TAIL: usize = 512;
/// Entries per archive object.
pub const ARCHIVE_CHUNK: usize = 256;

/// The table this root holds: a reopen must declare the same schema and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    /// The table name.
    pub table_name: String,
    /// The Arrow schema as an IPC stream with no batches.
    pub schema_ipc: Vec<u8>,
    /// Key column names in key order.
    pub key_names: Vec<String>,
    /// CRC32C of the schema IPC and key names: a quick equality check.
    pub fingerprint: u32,
}

/// Where WAL replay starts: the first segment that may hold unflushed commits, and the newest
/// timestamp already in SSTs (replay skips commits at or below it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalFloor {
    /// First segment to replay.
    pub segment: u64,
    /// Commits at or below this timestamp are in SSTs.
    pub ts: Timestamp,
}

/// Why a version was committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditKind {
    /// The table was created.
    Init = 0,
    /// A put in seal-every-batch mode.
    Put = 1,
    /// Memtables flushed to SSTs.
    Flush = 2,
    /// SSTs merged.
    Compact = 3,
    /// Garbage collection bookkeeping.
    Gc = 4,
    /// A writer with its own log took or let go of the table.
    Claim = 5,
}

impl EditKind {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => EditKind::Init,
            1 => EditKind::Put,
            2 => EditKind::Flush,
            3 => EditKind::Compact,
            4 => EditKind::Gc,
            5 => EditKind::Claim,
            _ => return None,
        })
    }

    /// A lower-case name for listings.
    pub fn as_str(self) -> &'static str {
        match self {
            EditKind::Init => "init",
            EditKind::Put => "put",
            EditKind::Flush => "flush",
            EditKind::Compact => "compact",
            EditKind::Gc => "gc",
            EditKind::Claim => "claim",
        }
    }
}

/// One committed version, as listed by time travel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Version number (1 = the table's creation).
    pub version: u64,
    /// The newest commit timestamp included: reading at it shows this version's data.
    pub ts: Timestamp,
    /// Wall-clock time of the commit (ms since the epoch).
    pub wall_ms: u64,
    /// Random id of the committing handle's edit (finds one's own commit after a lost reply).
    pub commit_id: u64,
    /// Why it was committed.
    pub kind: EditKind,
    /// Live SSTs in this version.
    pub ssts: u32,
    /// Bytes of those SSTs.
    pub bytes: u64,
    /// SSTs the edit added.
    pub added: u32,
    /// SSTs the edit removed.
    pub removed: u32,
}

/// An SST no longer live, kept until the grace period passes so readers that still use it
/// (on any worker) finish first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Object path.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// When it left the head (ms since the epoch).
    pub dropped_ms: u64,
    /// The last version that referenced it.
    pub last_version: u64,
}

/// An object GC found unreferenced and decided to delete. Once the head lists it, no commit
/// may add it (see [`Edit::apply`]), so deleting it cannot take a file a commit is about to
/// name: the compare-and-swap of the head, not any clock, orders the two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condemned {
    /// Object path.
    pub path: String,
    /// The version that condemned it.
    pub version: u64,
}

/// An archive of history entries `first..=last`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRef {
    /// First version inside.
    pub first: u64,
    /// Last version inside.
    pub last: u64,
    /// Object path.
    pub path: String,
}

/// A complete manifest state: one version of the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestState {
    /// This version's number.
    pub version: u64,
    /// The newest commit timestamp in any SST (commits must go above it).
    pub last_ts: Timestamp,
    /// The table.
    pub catalog: Catalog,
    /// WAL replay start.
    pub wal_floor: WalFloor,
    /// Live SSTs, newest (highest `max_ts`) first.
    pub ssts: Vec<SstMeta>,
    /// SSTs removed from the head, awaiting deletion.
    pub graveyard: Vec<Dropped>,
    /// Recent history, oldest first.
    pub history: Vec<HistoryEntry>,
    /// Archived history, oldest first.
    pub archives: Vec<ArchiveRef>,
    /// The oldest version still readable by time travel.
    pub history_floor: u64,
    /// That version's timestamp: compaction keeps every version a read at or above it needs.
    pub history_floor_ts: Timestamp,
    /// Unreferenced objects GC will delete; no commit may add them.
    pub condemned: Vec<Condemned>,
    /// The write-ahead log whose segments `wal_floor` counts: 0 for a log in the table's own
    /// storage, else the id of a log kept elsewhere (`WalConfig::segment_storage`).
    pub wal_log: u64,
    /// The log kept elsewhere that alone may write rows while it holds the table (0: none).
    /// Such a log numbers its segments and stamps its commits on its own, so another writer
    /// beside it would move its replay floor and interleave timestamps: puts and flushes from
    /// any other writer are refused while it is set.
    pub wal_owner: u64,
    /// The newest version that condemned a file GC has since deleted and forgotten. Files
    /// written before that version was known may be among the deleted, and their names are no
    /// longer in `condemned`, so commits adding files written earlier (`Edit::born`) are refused.
    pub swept: u64,
}

impl ManifestState {
    /// The state of a new table (before its first commit).
    pub fn empty(catalog: Catalog) -> Self {
        Self {
            version: 0,
            last_ts: 0,
            catalog,
            wal_floor: WalFloor::default(),
            ssts: Vec::new(),
            graveyard: Vec::new(),
            history: Vec::new(),
            archives: Vec::new(),
            history_floor: 1,
            history_floor_ts: 0,
            condemned: Vec::new(),
            wal_log: 0,
            wal_owner: 0,
            swept: 0,
        }
    }

    /// Bytes of the live SSTs.
    pub fn sst_bytes(&self) -> u64 {
        self.ssts.iter().map(|s| s.bytes).sum()
    }
}

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
            let gone = s.ssts.remove(pos);
            s.graveyard.push(Dropped {
                path: gone.path,
                bytes: gone.bytes,
                dropped_ms: wall_ms,
                last_version: base.version,
            });
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
                s.archives.push(a.clone());
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

/// A manifest state and the etag it was read or written with.
#[derive(Debug, Clone)]
pub struct Head {
    /// The state.
    pub state: Arc<ManifestState>,
    /// The storage's version tag of the head object.
    pub etag: String,
}

/// The manifest of one database root: the cached head and the commit loop.
#[derive(Debug)]
pub struct Manifest {
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    backoff: CasBackoffConfig,
    head: Mutex<Option<Head>>,
}

impl Manifest {
    /// The manifest under `storage`'s root.
    pub fn new(
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        backoff: CasBackoffConfig,
    ) -> Self {
        Self {
            storage,
            clock,
            backoff,
            head: Mutex::new(None),
        }
    }

    /// The head last read or written by this handle.
    pub fn cached(&self) -> Option<Head> {
        self.head.lock().ok().and_then(|h| h.clone())
    }

    fn remember(&self, head: &Head) {
        if let Ok(mut h) = self.head.lock() {
            // Never move the cache backwards (a slow reader must not undo a newer commit).
            let newer = h
                .as_ref()
                .is_none_or(|old| old.state.version <= head.state.version);
            if newer {
                *h = Some(head.clone());
            }
        }
    }

    /// Reads the head from storage (one GET); `None` for a root with no table yet.
    pub async fn load(&self) -> Result<Option<Head>> {
        match self.storage.get_object(HEAD_PATH).await {
            Ok((bytes, meta)) => {
                let state = decode_state(&bytes)?;
                let head = Head {
                    state: Arc::new(state),
                    etag: meta.etag,
                };
                self.remember(&head);
                Ok(Some(head))
            }
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One compare-and-swap attempt of `state` over `base` (`None`: the head must not exist).
    pub async fn try_write(&self, base: Option<&Head>, state: ManifestState) -> Result<Head> {
        let bytes = Bytes::from(encode_state(&state));
        let mode = match base {
            Some(b) => PutMode::IfMatch(b.etag.clone()),
            None => PutMode::CreateNew,
        };
        let meta = self.storage.put(HEAD_PATH, bytes, mode).await?;
        let head = Head {
            state: Arc::new(state),
            etag: meta.etag,
        };
        self.remember(&head);
        Ok(head)
    }

    /// Commits `edit` on the newest head, retrying lost races with backoff while the edit still
    /// applies. `base` is where to start (the cached head, or a fresh read when there is none).
    ///
    /// After any failed write the head is read back before anything is decided: the write may
    /// have landed although its reply was lost (or a retried request saw its own effect as a
    /// conflict), and the handle must not keep building on a head it knows is stale. So a
    /// [`Error::Conflict`] from here always means the edit is not in the head that was read
    /// back, and the cached head is that newer one (the next commit starts from it). When the
    /// read-back itself fails the outcome is unknown and the write's own error is returned:
    /// callers must then not assume the edit is absent.
    pub async fn commit(&self, edit: &Edit) -> Result<Head> {
        let mut base = match self.cached() {
            Some(h) => h,
            None => self
                .load()
                .await?
                .ok_or_else(|| Error::NotFound("the manifest head is missing".into()))?,
        };
        let mut attempt = 0u32;
        let mut cached = true;
        loop {
            let next = match edit.apply(&base.state, self.clock.now_millis()) {
                Ok(next) => next,
                // The cached head may be stale: judge the edit against the stored one.
                Err(e) if cached && e.code() == crate::ErrorCode::Conflict => {
                    cached = false;
                    match self.load().await? {
                        Some(fresh) => {
                            base = fresh;
                            continue;
                        }
                        None => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            };
            cached = false;
            let err = match self.try_write(Some(&base), next).await {
                Ok(head) => return Ok(head),
                Err(e) => e,
            };
            // A conflict, or a failure the backend calls transient, is worth another attempt:
            // the edit is re-applied to the head read after the backoff (reading it before
            // the sleep would make every attempt start from a head already stale).
            let again = (err.code() == crate::ErrorCode::Conflict || err.is_retryable())
                && attempt + 1 < self.backoff.max_attempts;
            if again {
                let random = crate::codec::random_u64().unwrap_or(0);
                self.clock
                    .sleep(self.backoff.delay_ms(attempt, random))
                    .await;
            }
            let fresh = match self.load().await {
                Ok(Some(h)) => h,
                Ok(None) => {
                    return Err(Error::Corrupt(
                        "the manifest head disappeared during a commit".into(),
                    ));
                }
                Err(_) => return Err(err),
            };
            if edit.landed_in(&fresh.state) {
                return Ok(fresh);
            }
            if !again {
                return Err(err);
            }
            attempt += 1;
            base = fresh;
        }
    }

    /// Moves the oldest [`ARCHIVE_CHUNK`] history entries of `state` into an archive object and
    /// returns the edit that records it, when the tail is long enough to need it.
    pub async fn archive_if_due(
        &self,
        state: &ManifestState,
        min_tail: usize,
    ) -> Result<Option<ArchiveRef>> {
        if state.history.len() < min_tail.max(ARCHIVE_CHUNK) {
            return Ok(None);
        }
        let entries: Vec<HistoryEntry> =
            state.history.iter().take(ARCHIVE_CHUNK).cloned().collect();
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Ok(None);
        };
        let path = format!("{HISTORY_DIR}{:020}-{:020}", first.version, last.version);
        let bytes = Bytes::from(encode_archive(&entries));
        match self.storage.put(&path, bytes, PutMode::CreateNew).await {
            // The same entries always make the same object: another writer's copy is as good.
            Ok(_) | Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        Ok(Some(ArchiveRef {
            first: first.version,
            last: last.version,
            path,
        }))
    }

    /// Every retained version, oldest first: archived entries (one GET per archive) then the
    /// head's tail.
    pub async fn versions(&self, state: &ManifestState) -> Result<Vec<HistoryEntry>> {
        let mut out = Vec::new();
        for a in &state.archives {
            let bytes = self.storage.get(&a.path).await?;
            out.extend(
                decode_archive(&bytes)?
                    .into_iter()
                    .filter(|h| h.version >= state.history_floor),
            );
        }
        out.extend(
            state
                .history
                .iter()
                .filter(|h| h.version >= state.history_floor)
                .cloned(),
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
