//! Builder options: when memtables seal, when sealed memtables flush to L0, durability (the
//! write-ahead log or seal-every-batch) and history retention. The clock and the
//! compare-and-swap backoff live in [`crate::runtime`] and are re-exported here, where builder
//! users look for them.

pub use crate::runtime::{CasBackoffConfig, Clock, ManualClock, SystemClock};

/// When the mutable memtable is frozen into an immutable (sealed) one. Sealed memtables stay
/// readable until minor compaction flushes them into an L0 SST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealPolicy {
    /// Seal once this many batches (puts or deletes) were ingested. `{ batches: 1 }` seals
    /// after every batch: the low-latency policy for wasm and object stores.
    BatchesThreshold {
        /// Batches per memtable.
        batches: usize,
    },
    /// Seal once this many rows (versions) were ingested.
    Rows(usize),
    /// Seal once the memtable holds about this many bytes.
    Bytes(usize),
    /// Seal at the first write after the memtable is this many milliseconds old.
    AgeMillis(u64),
    /// Never seal on its own (only `flush` seals).
    Never,
}

impl Default for SealPolicy {
    /// 8 MiB memtables.
    fn default() -> Self {
        SealPolicy::Bytes(8 << 20)
    }
}

/// Minor compaction: flushing sealed memtables into one L0 SST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinorCompaction {
    /// Flush once this many sealed memtables are waiting (default 4). A memtable sealed early
    /// by [`crate::Db::reorganize`] counts for its share of the seal policy.
    pub segment_threshold: usize,
    /// The level the SST lands in (default 0).
    pub target_level: u32,
}

impl Default for MinorCompaction {
    fn default() -> Self {
        Self {
            segment_threshold: 4,
            target_level: 0,
        }
    }
}

/// How fresh a read must be when other handles (Workers, processes) write the same table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Freshness {
    /// The handle's current view: no request; commits made elsewhere appear after
    /// [`crate::Db::refresh`].
    #[default]
    View,
    /// Every commit acknowledged anywhere before the read started. Costs one manifest read,
    /// issued together with the data reads on the current view; when the manifest has not
    /// moved the answer takes one round trip, otherwise the read runs again on the new view.
    Strict,
    /// A view checked against the manifest at most this many milliseconds before the read
    /// (measured on this machine's clock, the only clock involved): no request while the last
    /// check is recent enough, a strict read otherwise.
    MaxStalenessMs(u64),
}

/// How writes become durable. The builder picks one per backend (object stores: seal every
/// batch; local disk and OPFS: write-ahead log; memory: volatile); `with_durability` overrides.
#[derive(Debug, Clone)]
pub enum Durability {
    /// Every put writes its own SST and commits it to the manifest before it resolves: durable
    /// and visible to every other handle on the same storage at once. No WAL, no memtable.
    SealEveryBatch,
    /// Puts append to a write-ahead log (durable per its sync policy) and land in the
    /// memtable; flushes write SSTs and move the log's floor.
    Wal(WalConfig),
    /// Puts land in the memtable only; flushed SSTs are committed to the manifest, but rows not
    /// yet flushed are lost when the process ends.
    Volatile,
}

/// When the write-ahead log calls `sync` (makes appended frames durable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalSyncPolicy {
    /// After every group of commits, before any of them resolves.
    Always,
    /// Once at least this many bytes were appended since the last sync.
    IntervalBytes(u64),
    /// Once at least this many milliseconds passed since the last sync (checked on append).
    IntervalTime(u64),
    /// Never (the OS decides); flush and close still write everything.
    Disabled,
}

/// What replay does with a frame that fails validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalRecoveryMode {
    /// Cut the segment at the last valid frame and go on (a torn tail is the normal result of a
    /// crash); transactions without a commit frame are dropped.
    TruncateTail,
    /// Like `TruncateTail` for the newest segment, but a bad frame in an older segment (which
    /// no crash can tear) fails the open with a `CORRUPT` error.
    Strict,
}

/// Write-ahead log settings (durable backends only). The log's state (the replay floor) is
/// kept in the manifest, so it moves atomically with the SSTs that make segments obsolete.
#[derive(Debug, Clone)]
pub struct WalConfig {
    /// Start a new segment once the current one holds this many bytes (default 16 MiB).
    pub segment_max_bytes: u64,
    /// Start a new segment once the current one is this old, in ms (default: no limit).
    pub segment_max_age_ms: Option<u64>,
    /// How long a group-commit leader waits for more commits before writing, in ms (default 0:
    /// write at once; concurrent commits still share a write).
    pub flush_interval_ms: u64,
    /// When appended frames are synced (default `Always`).
    pub sync: WalSyncPolicy,
    /// What replay does with a bad frame (default `TruncateTail`).
    pub recovery: WalRecoveryMode,
    /// Bytes of fully flushed segments garbage collection keeps anyway (default 0).
    pub retention_bytes: u64,
    /// Commits that may wait for one log write; more wait for the next (default 1,024).
    pub queue_size: usize,
    /// Directory of the segments under the database root (default `wal`).
    pub dir: String,
    /// Where segments live when not in the table's own storage (default: the table's). E.g.
    /// a local disk log in front of SSTs on an object store, which cannot append.
    pub segment_storage: Option<std::sync::Arc<dyn crate::storage::Storage>>,
    /// With `segment_storage`: take the table from another writer whose log is kept outside
    /// the table's storage and which did not close (default false). Such a log holds the table
    /// while open, because two of them would move one replay floor and interleave their
    /// timestamps; taking it over abandons that writer's unflushed writes, so set this only
    /// when the other writer's machine is gone for good.
    pub take_over: bool,
}

impl WalConfig {
    /// Segments on a fusio file system under `root` instead of the table's storage (see
    /// [`WalConfig::segment_storage`]), as tonbo's `segment_backend`; it needs no
    /// compare-and-swap, since one writer owns its log.
    #[cfg(all(feature = "fusio", not(target_arch = "wasm32")))]
    pub fn segment_backend(
        mut self,
        backend: std::sync::Arc<dyn fusio::DynFs>,
        root: &str,
    ) -> Self {
        self.segment_storage = Some(std::sync::Arc::new(crate::storage::FusioStorage::plain(
            backend, root,
        )));
        self
    }
}

impl Default for WalConfig {
    fn default() -> Self {
        Self {
            segment_max_bytes: 16 << 20,
            segment_max_age_ms: None,
            flush_interval_ms: 0,
            sync: WalSyncPolicy::Always,
            recovery: WalRecoveryMode::TruncateTail,
            retention_bytes: 0,
            queue_size: 1024,
            dir: "wal".into(),
            segment_storage: None,
            take_over: false,
        }
    }
}

/// How much history (time travel) is kept. A version is collectable once it is neither among
/// the newest `min_versions` nor younger than `max_age_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Versions always kept (default 16).
    pub min_versions: u64,
    /// Versions younger than this (ms) are kept (default one hour).
    pub max_age_ms: u64,
    /// Orphans (objects no commit references) are condemned only once this old (ms), and a
    /// drop note whose files the head still names is kept as long: it spares writers whose
    /// upload is committed late (a slow flush or compaction), which would otherwise lose their
    /// commit (`CONFLICT`, never rows). Default 10 minutes.
    pub grace_ms: u64,
    /// Files a commit dropped from the head (compaction inputs) are deleted once dropped this
    /// long (ms; default 0: by the next `gc()`). No reader depends on it: a read elsewhere that
    /// finds such a file gone reads on from the newest head at its own timestamp
    /// ([`crate::Snapshot`], [`crate::ScanStream`]), which costs it one manifest read. Raise it
    /// for readers that cannot do that (builds from before `drop_grace_ms` existed, whose
    /// half-read streams fail `NOT_FOUND`).
    pub drop_grace_ms: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            min_versions: 16,
            max_age_ms: 3_600_000,
            grace_ms: 600_000,
            drop_grace_ms: 0,
        }
    }
}

/// When a commit is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommitAckMode {
    /// After the commit is durable (per the durability mode). The default.
    #[default]
    Strict,
    /// After the commit is applied in memory and visible to this handle. Making it durable
    /// (the WAL append, or the SST and manifest commit) is left to the next strict commit,
    /// `flush`, `sync` or `close` on this handle; a crash before then loses it. With
    /// seal-every-batch durability it is for a single writer per prefix: its commits are
    /// ordered against other handles' only when published, so transactions and reads across
    /// handles are not isolated until then.
    Fast,
}

/// How major compaction chooses its inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CompactionStrategy {
    /// Levels of non-overlapping files, each `size_ratio` times larger than the one above.
    Leveled(LeveledOptions),
    /// Files of similar size merge once enough of them exist (good for write-heavy tables).
    Tiered(TieredOptions),
    /// Files are grouped by the time their rows were written; each window compacts on its own
    /// and windows never merge (good for append-mostly time-series keys).
    TimeWindow(TimeWindowOptions),
}

impl Default for CompactionStrategy {
    fn default() -> Self {
        CompactionStrategy::Leveled(LeveledOptions::default())
    }
}

/// Leveled compaction settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeveledOptions {
    /// Compact L0 into L1 once L0 holds this many files (default 4).
    pub l0_trigger: usize,
    /// Target bytes of L1 (default 64 MiB); level n targets `l1_target_bytes * size_ratio^(n-1)`.
    pub l1_target_bytes: u64,
    /// Growth factor between consecutive levels (default 10).
    pub size_ratio: u64,
    /// The deepest level (default 6).
    pub max_level: u32,
}

impl Default for LeveledOptions {
    fn default() -> Self {
        Self {
            l0_trigger: 4,
            l1_target_bytes: 64 << 20,
            size_ratio: 10,
            max_level: 6,
        }
    }
}

/// Tiered (size-tiered) compaction settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TieredOptions {
    /// Merge a tier once it holds this many files (default 4).
    pub min_merge: usize,
    /// Merge at most this many files in one job (default 32).
    pub max_merge: usize,
    /// Files whose sizes are within this factor of each other share a tier (default 2.0).
    pub size_ratio: f64,
}

impl Default for TieredOptions {
    fn default() -> Self {
        Self {
            min_merge: 4,
            max_merge: 32,
            size_ratio: 2.0,
        }
    }
}

/// Time-window compaction settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeWindowOptions {
    /// Window length in ms of the files' write time (default one hour).
    pub window_ms: u64,
    /// Merge a window once it holds this many files (default 4); a window that has closed
    /// merges down to one file as soon as it holds two.
    pub min_merge: usize,
}

impl Default for TimeWindowOptions {
    fn default() -> Self {
        Self {
            window_ms: 3_600_000,
            min_merge: 4,
        }
    }
}

/// Slows or stalls ingest while L0 is too full, so reads never face an unbounded pile of files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L0BackpressureConfig {
    /// Delay each ingest once L0 holds this many files (default 16).
    pub slowdown_files: usize,
    /// The delay per ingest, in ms (default 25).
    pub slowdown_delay_ms: u64,
    /// Stall ingest while L0 holds this many files (default 32).
    pub stop_files: usize,
    /// How often a stalled ingest re-checks, in ms (default 200).
    pub stop_recheck_ms: u64,
    /// Also slow down once L0 holds this many bytes (default: no byte limit).
    pub slowdown_bytes: Option<u64>,
    /// Also stall while L0 holds this many bytes (default: no byte limit).
    pub stop_bytes: Option<u64>,
    /// The longest a stalled ingest waits before it fails with [`crate::ErrorCode::Busy`]
    /// (default 60,000 ms): a writer whose compactor is gone, or whose store keeps failing,
    /// gets an answer instead of waiting forever.
    pub stop_timeout_ms: u64,
}

impl Default for L0BackpressureConfig {
    fn default() -> Self {
        Self {
            slowdown_files: 16,
            slowdown_delay_ms: 25,
            stop_files: 32,
            stop_recheck_ms: 200,
            slowdown_bytes: None,
            stop_bytes: None,
            stop_timeout_ms: 60_000,
        }
    }
}

/// Follow-up jobs after a compaction (e.g. L0->L1 pushes L1 over its target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CascadeConfig {
    /// Follow-up jobs one trigger may run (default 1).
    pub max_follow_ups: u32,
    /// A follow-up runs only if this long (ms) passed since the last one (default 500).
    pub cooldown_ms: u64,
}

impl Default for CascadeConfig {
    fn default() -> Self {
        Self {
            max_follow_ups: 1,
            cooldown_ms: 500,
        }
    }
}

/// Major compaction settings.
///
/// Jobs run on the handle that triggered them, after the triggering commit or flush is
/// durable (wasm has one thread, and a Worker must not leave work running past its response):
/// a flush, a seal-every-batch put, or a periodic tick checks the strategy and runs at most
/// `1 + cascade.max_follow_ups` jobs. `Db::compact_pending` and `Db::compact` run them on
/// demand, e.g. from a Worker cron on another handle of the same prefix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompactionOptions {
    /// How inputs are chosen (default leveled).
    pub strategy: CompactionStrategy,
    /// Jobs one handle runs at once (default 1).
    pub max_concurrent_jobs: usize,
    /// Triggers that may wait while every job slot is busy; more are dropped (default 1).
    pub queue_capacity: usize,
    /// Start a new output file after this many rows (default: no limit).
    pub max_output_rows: Option<u64>,
    /// Start a new output file after about this many bytes (default 64 MiB).
    pub max_output_bytes: Option<u64>,
    /// Also check the strategy when this many ms passed since the last check, on the next
    /// operation (default: never).
    pub periodic_tick_ms: Option<u64>,
    /// L0 backpressure (default on; `None` disables it).
    pub l0_backpressure: Option<L0BackpressureConfig>,
    /// Follow-up jobs.
    pub cascade: CascadeConfig,
    /// Run jobs automatically after flushes and commits (default true). When false, only
    /// `compact_pending` / `compact` run them.
    pub automatic: bool,
    /// Run automatic jobs in the background instead of on the triggering call: natively on a
    /// thread of their own, in wasm as a task on the page's event loop. `true` here turns them
    /// on; `false` leaves the builder's default (on natively for seal-every-batch durability,
    /// off otherwise: see `DbBuilder::with_background_compaction`). In a Cloudflare Worker,
    /// which cancels work left running after a response, pass `Db::idle` to `ctx.waitUntil`.
    pub background: bool,
}

impl Default for CompactionOptions {
    fn default() -> Self {
        Self {
            strategy: CompactionStrategy::default(),
            max_concurrent_jobs: 1,
            queue_capacity: 1,
            max_output_rows: None,
            max_output_bytes: Some(64 << 20),
            periodic_tick_ms: None,
            l0_backpressure: Some(L0BackpressureConfig::default()),
            cascade: CascadeConfig::default(),
            automatic: true,
            background: false,
        }
    }
}
