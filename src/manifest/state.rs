//! The state one manifest version records: the table's catalog, the live SSTs, the WAL floor,
//! files awaiting deletion and the version history.

use crate::key::Timestamp;
use crate::sst::SstMeta;

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
    pub(super) fn from_u8(v: u8) -> Option<Self> {
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
///
/// [`Edit::apply`]: super::Edit::apply
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
    /// SSTs removed from the head, awaiting deletion: only heads written before drop notes
    /// (`manifest/dropped/`) list any; GC still deletes and forgets them.
    pub graveyard: Vec<Dropped>,
    /// Recent history, oldest first.
    pub history: Vec<HistoryEntry>,
    /// History archives the head names, oldest first: only those written before history
    /// chunks; newer history is in the chunks up to `archived_to`.
    pub archives: Vec<ArchiveRef>,
    /// The newest version moved into a history chunk (`manifest/history/{16k+1}-{16k+16}`,
    /// found by its version, not listed), 0 for none. Every chunk between the oldest retained
    /// version (or the last listed archive) and this one exists.
    pub archived_to: u64,
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
            archived_to: 0,
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
