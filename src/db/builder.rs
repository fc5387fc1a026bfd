//! The builder: every option a table is opened with, and the storage backend it is opened on.
//! Apart from opening (open.rs), which checks and applies them.

use std::sync::Arc;

use arrow_schema::SchemaRef;

use crate::options::{
    CasBackoffConfig, CascadeConfig, Clock, CommitAckMode, CompactionOptions, CompactionStrategy,
    Durability, L0BackpressureConfig, MinorCompaction, Retention, SealPolicy, SystemClock,
    WalConfig, WalSyncPolicy,
};
use crate::schema::KeySpec;
use crate::storage::Storage;

/// The table name used when none is given.
pub const DEFAULT_TABLE_NAME: &str = "anax-default";

#[derive(Debug, Clone)]
pub(super) enum StorageChoice {
    InMemory,
    #[cfg(not(target_arch = "wasm32"))]
    OnDisk(std::path::PathBuf),
    Custom(Arc<dyn Storage>),
    /// A file-like [`Storage`] that can append (its durability defaults to the WAL).
    File(Arc<dyn Storage>),
    S3(crate::storage::s3::S3Spec),
    #[cfg(target_arch = "wasm32")]
    Opfs(String, u32),
}

/// A file system a table can live on ([`DbBuilder::object_store_with_fs`]): any Anax
/// [`Storage`], and with feature `fusio` every fusio `DynFs + FsCas`.
pub trait TableFs {
    /// This file system as the table's storage, every object under `root`.
    fn table_storage(self: Arc<Self>, root: &str) -> Arc<dyn Storage>;
}

impl TableFs for dyn Storage {
    // In wasm, storage handles hold JS values and are not Send; one Arc code path everywhere.
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    fn table_storage(self: Arc<Self>, root: &str) -> Arc<dyn Storage> {
        Arc::new(crate::storage::Prefixed::new(self, root))
    }
}

#[cfg(all(feature = "fusio", not(target_arch = "wasm32")))]
impl<F: fusio::DynFs + fusio::FsCas + 'static> TableFs for F {
    fn table_storage(self: Arc<Self>, root: &str) -> Arc<dyn Storage> {
        Arc::new(crate::storage::FusioStorage::new(self, root))
    }
}

/// An object store to open a table on.
#[derive(Debug, Clone)]
pub enum ObjectSpec {
    /// S3 or an S3-compatible store (R2's S3 API, MinIO).
    S3(crate::storage::s3::S3Spec),
}

/// Configures and opens a [`Db`](super::Db). Choose exactly one storage backend before `open`.
#[derive(Debug, Clone)]
pub struct DbBuilder {
    pub(super) schema: SchemaRef,
    pub(super) key: KeySpec,
    pub(super) storage: Option<StorageChoice>,
    pub(super) table_name: String,
    pub(super) seal: SealPolicy,
    pub(super) minor: Option<MinorCompaction>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) durability: Option<Durability>,
    pub(super) wal: WalConfig,
    pub(super) backoff: CasBackoffConfig,
    pub(super) retention: Retention,
    pub(super) compaction: CompactionOptions,
    pub(super) ack: CommitAckMode,
    pub(super) point_read_blocks: Option<bool>,
    pub(super) block_cache_bytes: Option<usize>,
    pub(super) block_cache: bool,
    pub(super) tail_pack: Option<bool>,
    pub(super) background: Option<bool>,
    pub(super) control: super::Control,
}

impl DbBuilder {
    fn new(schema: SchemaRef, key: KeySpec) -> Self {
        Self {
            schema,
            key,
            storage: None,
            table_name: DEFAULT_TABLE_NAME.to_owned(),
            seal: SealPolicy::default(),
            minor: Some(MinorCompaction::default()),
            clock: Arc::new(SystemClock),
            durability: None,
            wal: WalConfig::default(),
            backoff: CasBackoffConfig::default(),
            retention: Retention::default(),
            compaction: CompactionOptions::default(),
            ack: CommitAckMode::default(),
            point_read_blocks: None,
            block_cache_bytes: None,
            block_cache: true,
            tail_pack: None,
            background: None,
            control: super::Control::default(),
        }
    }

    /// A table keyed by the column `name`.
    pub fn from_schema_key_name(schema: SchemaRef, name: &str) -> Self {
        Self::new(schema, KeySpec::Names(vec![name.to_owned()]))
    }

    /// A table keyed by the columns `names`, in this order (a composite key).
    pub fn from_schema_key_names(schema: SchemaRef, names: &[&str]) -> Self {
        Self::new(
            schema,
            KeySpec::Names(names.iter().map(|s| (*s).to_owned()).collect()),
        )
    }

    /// A table keyed by the columns at `indices`, in this order.
    pub fn from_schema_key_indices(schema: SchemaRef, indices: Vec<usize>) -> Self {
        Self::new(schema, KeySpec::Indices(indices))
    }

    /// A table keyed by the columns carrying `tonbo.key` field metadata.
    pub fn from_schema_metadata(schema: SchemaRef) -> Self {
        Self::new(schema, KeySpec::Metadata)
    }

    /// Alias of [`DbBuilder::from_schema_metadata`].
    pub fn from_schema(schema: SchemaRef) -> Self {
        Self::from_schema_metadata(schema)
    }

    /// Volatile storage in this process's memory (durability: volatile); `label` names it in
    /// diagnostics.
    pub fn in_memory(mut self, label: impl Into<String>) -> Self {
        let _ = label.into();
        self.storage = Some(StorageChoice::InMemory);
        self
    }

    /// Files under `path` on the local disk (native only; durability: write-ahead log).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn on_disk(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.storage = Some(StorageChoice::OnDisk(path.into()));
        self
    }

    /// Any [`Storage`] implementation: an object store, or a shared or fault-injecting store in
    /// tests. Its durability defaults to seal-every-batch (the object-store mode).
    pub fn with_storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = Some(StorageChoice::Custom(storage));
        self
    }

    /// A file-like [`Storage`] (one whose [`Storage::supports_append`] holds: a file system,
    /// Node's `dir` storage) whose durability defaults to the write-ahead log, as the disk's
    /// does; the caller takes whatever writer lock the directory needs before this.
    pub fn with_file_storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = Some(StorageChoice::File(storage));
        self
    }

    /// An object store (durability: seal every batch).
    pub fn object_store(mut self, spec: ObjectSpec) -> Self {
        self.storage = Some(match spec {
            ObjectSpec::S3(s) => StorageChoice::S3(s),
        });
        self
    }

    /// `fs` with every object under `root` (a directory or key prefix), e.g. several tables in
    /// one bucket: an Anax [`Storage`], or with feature `fusio` any fusio file system that can
    /// compare-and-swap (`DynFs + FsCas`), as tonbo's builder takes. Durability: seal every
    /// batch.
    pub fn object_store_with_fs<F: TableFs + ?Sized>(mut self, fs: Arc<F>, root: &str) -> Self {
        self.storage = Some(StorageChoice::Custom(fs.table_storage(root)));
        self
    }

    /// A fusio file system that can compare-and-swap (`DynFs + FsCas`: fusio's local
    /// `TokioFs`, its `InMemoryFs`), the table under `root` (durability: write-ahead log, as
    /// [`DbBuilder::on_disk`]). As with [`DbBuilder::with_file_storage`], keeping to one writer
    /// is the caller's: no lock is taken. A WAL sync is a flush to the OS (fusio's files have
    /// no fsync through its dyn interface).
    #[cfg(all(feature = "fusio", not(target_arch = "wasm32")))]
    pub fn on_durable_fs<F: fusio::DynFs + fusio::FsCas + 'static>(
        mut self,
        fs: Arc<F>,
        root: impl AsRef<std::path::Path>,
    ) -> Self {
        let root = root.as_ref().to_string_lossy().into_owned();
        self.storage = Some(StorageChoice::File(Arc::new(
            crate::storage::FusioStorage::new(fs, root),
        )));
        self
    }

    /// The browser's Origin Private File System under directory `path` (durability: WAL).
    /// Opening takes the database's writer lock; a second writer gets `CONFLICT`.
    #[cfg(target_arch = "wasm32")]
    pub fn opfs(mut self, path: impl Into<String>) -> Self {
        self.storage = Some(StorageChoice::Opfs(path.into(), 0));
        self
    }

    /// [`DbBuilder::opfs`], waiting up to `lock_wait_ms` for another tab or worker to give
    /// the writer lock up before `CONFLICT` (a reloaded page racing its old worker).
    #[cfg(target_arch = "wasm32")]
    pub fn opfs_waiting(mut self, path: impl Into<String>, lock_wait_ms: u32) -> Self {
        self.storage = Some(StorageChoice::Opfs(path.into(), lock_wait_ms));
        self
    }

    /// Lets the caller stop the open and watch its WAL replay ([`super::Phase::Replay`]); a
    /// stopped open fails with `ABORTED` and releases what it took, as any failed open does.
    pub fn with_control(mut self, control: super::Control) -> Self {
        self.control = control;
        self
    }

    /// The table's name (default [`DEFAULT_TABLE_NAME`]).
    pub fn table_name(mut self, name: impl Into<String>) -> Self {
        self.table_name = name.into();
        self
    }

    /// When the mutable memtable seals (default: 8 MiB).
    pub fn with_seal_policy(mut self, policy: SealPolicy) -> Self {
        self.seal = policy;
        self
    }

    /// Flush sealed memtables into an SST at `target_level` once `segment_threshold` of them
    /// wait (default 4, level 0).
    pub fn with_minor_compaction(mut self, segment_threshold: usize, target_level: u32) -> Self {
        self.minor = Some(MinorCompaction {
            segment_threshold: segment_threshold.max(1),
            target_level,
        });
        self
    }

    /// Never flush on its own: sealed memtables wait for [`Db::flush`](super::Db::flush).
    pub fn disable_minor_compaction(mut self) -> Self {
        self.minor = None;
        self
    }

    /// The clock used for age-based sealing, retention and backoff.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How writes become durable (default: per backend, see [`Durability`]).
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = Some(durability);
        self
    }

    /// Whether SSTs carry point-read blocks (`docs/format/sst.md`): a point read then fetches
    /// one page of one column instead of a page per column, one ranged read where it took one
    /// per column, for about twice the bytes per SST. Default: on for seal-every-batch
    /// durability (object stores, where each read is a paid round trip), off otherwise.
    pub fn with_point_read_blocks(mut self, on: bool) -> Self {
        self.point_read_blocks = Some(on);
        self
    }

    /// The budget of the process's cache of decoded point-read blocks
    /// ([`crate::sst::block_cache`]; default 8 MiB, 0 turns it off). The cache is shared by
    /// every handle of the process (the wasm instance: a Worker isolate, a tab), so the last
    /// open that sets it decides. A get whose block is cached reads no storage but the manifest
    /// check a strict read makes.
    pub fn with_block_cache_bytes(mut self, bytes: usize) -> Self {
        self.block_cache_bytes = Some(bytes);
        self
    }

    /// Whether this handle's point reads use the process's block cache (default: yes). Off,
    /// every get reads its block from storage, as a handle measuring its reads wants.
    pub fn with_block_cache(mut self, on: bool) -> Self {
        self.block_cache = on;
        self
    }

    /// Whether this handle keeps the table's tail pack (`crate::sst::pack`): compactions
    /// rewrite it, and an open fetches it beside the manifest head, so a fresh handle's first
    /// point read costs two round trips instead of three. Costs a PUT of at most 4 MiB after a
    /// round of compaction jobs, and a GET at open. Default: on for seal-every-batch durability
    /// (object stores, where each round trip is 10-100 ms), off otherwise.
    pub fn with_tail_pack(mut self, on: bool) -> Self {
        self.tail_pack = Some(on);
        self
    }

    /// Write-ahead log settings; selects WAL durability.
    pub fn with_wal_config(mut self, config: WalConfig) -> Self {
        self.wal = config.clone();
        self.durability = Some(Durability::Wal(config));
        self
    }

    /// The WAL's sync policy (applies when the WAL is used).
    pub fn wal_sync_policy(mut self, policy: WalSyncPolicy) -> Self {
        self.wal.sync = policy;
        self.retarget_wal();
        self
    }

    /// The WAL's segment size (applies when the WAL is used).
    pub fn wal_segment_bytes(mut self, bytes: u64) -> Self {
        self.wal.segment_max_bytes = bytes;
        self.retarget_wal();
        self
    }

    /// The WAL's group-commit window in ms (applies when the WAL is used).
    pub fn wal_flush_interval(mut self, ms: u64) -> Self {
        self.wal.flush_interval_ms = ms;
        self.retarget_wal();
        self
    }

    /// Bytes of flushed WAL segments GC keeps (applies when the WAL is used).
    pub fn wal_retention_bytes(mut self, bytes: u64) -> Self {
        self.wal.retention_bytes = bytes;
        self.retarget_wal();
        self
    }

    fn retarget_wal(&mut self) {
        if let Some(Durability::Wal(c)) = &mut self.durability {
            *c = self.wal.clone();
        }
    }

    /// Backoff for manifest compare-and-swap retries (default 50 ms doubling to 1 s).
    pub fn cas_backoff(mut self, config: CasBackoffConfig) -> Self {
        self.backoff = config;
        self
    }

    /// Major compaction settings (default: [`CompactionOptions::default`], leveled).
    /// `background: true` here is the same as [`DbBuilder::with_background_compaction`].
    pub fn with_compaction_options(mut self, options: CompactionOptions) -> Self {
        if options.background {
            self.background = Some(true);
        }
        self.compaction = options;
        self
    }

    /// Whether automatic compaction jobs run off the call that triggered them (see
    /// `CompactionOptions::background`). Default: on natively for seal-every-batch durability,
    /// where a job is many round trips to the object store that a put must not wait for
    /// (`Db::idle` waits for them); off otherwise, and always off by default in wasm, whose
    /// hosts may cancel work left running after a request (a Worker must pass `db.idle()` to
    /// `ctx.waitUntil` when it turns them on).
    pub fn with_background_compaction(mut self, on: bool) -> Self {
        self.background = Some(on);
        self
    }

    /// The major compaction strategy (default leveled).
    pub fn with_compaction_strategy(mut self, strategy: CompactionStrategy) -> Self {
        self.compaction.strategy = strategy;
        self
    }

    /// L0 backpressure thresholds (default on: slow down at 16 L0 files, stop at 32).
    pub fn l0_backpressure(mut self, config: L0BackpressureConfig) -> Self {
        self.compaction.l0_backpressure = Some(config);
        self
    }

    /// Never slow or stall ingest for L0's sake.
    pub fn disable_l0_backpressure(mut self) -> Self {
        self.compaction.l0_backpressure = None;
        self
    }

    /// Follow-up compaction jobs (default one, 500 ms cooldown).
    pub fn cascade(mut self, config: CascadeConfig) -> Self {
        self.compaction.cascade = config;
        self
    }

    /// When commits are acknowledged (default [`CommitAckMode::Strict`]).
    pub fn with_commit_ack_mode(mut self, mode: CommitAckMode) -> Self {
        self.ack = mode;
        self
    }

    /// How long history stays readable and files linger (see [`Retention`]).
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }
}
