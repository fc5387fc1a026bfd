//! The database handle: the builder that opens it and the operations users call.
//!
//! Every method takes `&self` and is `async`; shared state lives behind one mutex held only for
//! short, non-awaiting critical sections. Writes go through one commit pipeline ([`commit`]):
//! concurrent commits queue, and whoever holds the commit lock writes the whole queue at once
//! (group commit) to the WAL or, in seal-every-batch mode, as one SST plus one manifest commit.
//! A read takes a [`Snapshot`] (the read timestamp plus the memtables and SSTs live at that
//! moment) and then reads without the lock.

mod commit;
mod maint;
mod snapshot;
mod txn;

use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use arrow_array::{Array, RecordBatch};
use arrow_schema::{Schema, SchemaRef};

use crate::error::{Error, Result};
use crate::key::{KeyBytes, encode_rows};
use crate::manifest::{Catalog, Edit, EditKind, Head, Manifest, ManifestState};
use crate::memtable::{Memtable, Timestamp};
use crate::options::{
    CasBackoffConfig, CascadeConfig, Clock, CommitAckMode, CompactionOptions, CompactionStrategy,
    Durability, Freshness, L0BackpressureConfig, MinorCompaction, Retention, SealPolicy,
    SystemClock, WalConfig, WalSyncPolicy,
};
use crate::read::mem_source::{MemRef, lock};
use crate::rows::RowsBuilder;
use crate::scan::{KeyRange, ScanOptions};
use crate::schema::{KeySpec, TableSchema};
use crate::sst::SstHandle;
use crate::storage::{CountingStorage, MemoryStorage, PutMode, RequestCounts, Storage};
use crate::value::Value;
use crate::wal::WalWriter;

pub(crate) use commit::{sst_path_ms as sst_path_wall_ms, sst_path_window};
pub use maint::{CompactReport, CompactionMetrics, GcReport};
pub use snapshot::Snapshot;
pub use txn::Transaction;

/// The table name used when none is given.
pub const DEFAULT_TABLE_NAME: &str = "anax-default";

#[derive(Debug, Clone)]
enum StorageChoice {
    InMemory,
    #[cfg(not(target_arch = "wasm32"))]
    OnDisk(std::path::PathBuf),
    Custom(Arc<dyn Storage>),
    S3(crate::storage::s3::S3Spec),
    #[cfg(target_arch = "wasm32")]
    Opfs(String),
}

/// An object store to open a table on.
#[derive(Debug, Clone)]
pub enum ObjectSpec {
    /// S3 or an S3-compatible store (R2's S3 API, MinIO).
    S3(crate::storage::s3::S3Spec),
}

/// Configures and opens a [`Db`]. Choose exactly one storage backend before `open`.
#[derive(Debug, Clone)]
pub struct DbBuilder {
    schema: SchemaRef,
    key: KeySpec,
    storage: Option<StorageChoice>,
    table_name: String,
    seal: SealPolicy,
    minor: Option<MinorCompaction>,
    clock: Arc<dyn Clock>,
    durability: Option<Durability>,
    wal: WalConfig,
    backoff: CasBackoffConfig,
    retention: Retention,
    compaction: CompactionOptions,
    ack: CommitAckMode,
    point_read_blocks: Option<bool>,
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

    /// An object store (durability: seal every batch).
    pub fn object_store(mut self, spec: ObjectSpec) -> Self {
        self.storage = Some(match spec {
            ObjectSpec::S3(s) => StorageChoice::S3(s),
        });
        self
    }

    /// `storage` with every object under `root` (a directory or key prefix), e.g. several
    /// tables in one bucket. Durability: seal every batch.
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    pub fn object_store_with_fs(mut self, storage: Arc<dyn Storage>, root: &str) -> Self {
        self.storage = Some(StorageChoice::Custom(Arc::new(
            crate::storage::Prefixed::new(storage, root),
        )));
        self
    }

    /// The browser's Origin Private File System under directory `path` (durability: WAL).
    /// Opening takes the database's writer lock; a second writer gets `CONFLICT`.
    #[cfg(target_arch = "wasm32")]
    pub fn opfs(mut self, path: impl Into<String>) -> Self {
        self.storage = Some(StorageChoice::Opfs(path.into()));
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

    /// Never flush on its own: sealed memtables wait for [`Db::flush`].
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
    pub fn with_compaction_options(mut self, options: CompactionOptions) -> Self {
        self.compaction = options;
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

    /// Validates the configuration, then recovers the database at the chosen storage (manifest,
    /// then WAL replay) or initialises it there.
    // In wasm, storage handles hold JS values and are not Send; one Arc code path everywhere.
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    pub async fn open(self) -> Result<Db> {
        let schema = TableSchema::new(self.schema, &self.key)?;
        if self.table_name.is_empty() {
            return Err(Error::InvalidArgument(
                "the table name must not be empty".into(),
            ));
        }
        if let SealPolicy::BatchesThreshold { batches: 0 }
        | SealPolicy::Rows(0)
        | SealPolicy::Bytes(0) = self.seal
        {
            return Err(Error::InvalidArgument(
                "a seal threshold must be at least 1".into(),
            ));
        }
        // A caller's own store (a bucket binding, say) may fail transiently and does not retry
        // by itself; the S3 client retries its own requests, local stores fail for good.
        // (In wasm the bucket binding retries inside its one call path instead.)
        let retry = cfg!(not(target_arch = "wasm32"))
            && matches!(self.storage, Some(StorageChoice::Custom(_)));
        let (raw, default_durability): (Arc<dyn Storage>, Durability) = match self.storage {
            None => {
                return Err(Error::InvalidArgument(
                    "storage backend not selected: call in_memory(..) (or another backend) \
                     before open"
                        .into(),
                ));
            }
            Some(StorageChoice::InMemory) => (Arc::new(MemoryStorage::new()), Durability::Volatile),
            #[cfg(not(target_arch = "wasm32"))]
            Some(StorageChoice::OnDisk(path)) => {
                let disk = crate::storage::DiskStorage::new(path, true)?;
                disk.lock_writer()?;
                (Arc::new(disk), Durability::Wal(self.wal.clone()))
            }
            Some(StorageChoice::Custom(s)) => (s, Durability::SealEveryBatch),
            Some(StorageChoice::S3(spec)) => (
                Arc::new(crate::storage::s3::S3Storage::new(spec)?),
                Durability::SealEveryBatch,
            ),
            #[cfg(target_arch = "wasm32")]
            Some(StorageChoice::Opfs(path)) => (
                Arc::new(crate::storage::Opfs::open(&path).await?),
                Durability::Wal(self.wal.clone()),
            ),
        };
        let durability = self.durability.unwrap_or(default_durability);
        if let Durability::Wal(c) = &durability {
            let log = c.segment_storage.as_ref().unwrap_or(&raw);
            if !log.supports_append() {
                return Err(Error::InvalidArgument(
                    "this storage cannot append, so it cannot hold a write-ahead log: use \
                     Durability::SealEveryBatch"
                        .into(),
                ));
            }
            if c.segment_max_bytes == 0 || c.queue_size == 0 || c.dir.is_empty() {
                return Err(Error::InvalidArgument(
                    "WAL segment size and queue size must be at least 1 and the directory \
                     non-empty"
                        .into(),
                ));
            }
        }
        // Counted below the retries: every call that reaches the backend counts.
        let counting = CountingStorage::new(raw);
        let storage: Arc<dyn Storage> = if retry {
            Arc::new(crate::storage::Retrying::new(
                Arc::new(counting.clone()),
                self.clock.clone(),
                crate::storage::DEFAULT_RETRY,
            ))
        } else {
            Arc::new(counting.clone())
        };
        let wal_storage: Arc<dyn Storage> = match &durability {
            Durability::Wal(WalConfig {
                segment_storage: Some(s),
                ..
            }) => Arc::new(counting.sibling(s.clone())),
            _ => storage.clone(),
        };
        let catalog = catalog_of(&schema, &self.table_name)?;
        let manifest = Manifest::new(storage.clone(), self.clock.clone(), self.backoff);
        let checked_ms = self.clock.now_millis();
        let mut found = manifest.load().await?;
        if found.is_none() {
            let wal_dir = match &durability {
                Durability::Wal(c) => Some(c.dir.as_str()),
                _ => None,
            };
            if let Some(stray) = stray_object(storage.as_ref(), wal_dir).await? {
                // A table created meanwhile by another handle explains it; nothing else does.
                found = manifest.load().await?;
                if found.is_none() {
                    return Err(Error::Corrupt(format!(
                        "the table's manifest head ({}) is missing but its storage holds data \
                         ({stray}, ...): refusing to create an empty table over it, which the next \
                         GC would empty for good. Restore the head from a backup, or clear the \
                         prefix to start afresh",
                        crate::manifest::HEAD_PATH
                    )));
                }
            }
        }
        let head = match found {
            Some(h) => {
                check_catalog(&h.state.catalog, &catalog)?;
                h
            }
            None => {
                let init = Edit {
                    kind: Some(EditKind::Init),
                    commit_id: crate::codec::random_u64()?,
                    ..Edit::default()
                };
                let first = init.apply(
                    &ManifestState::empty(catalog.clone()),
                    self.clock.now_millis(),
                )?;
                match manifest.try_write(None, first).await {
                    Ok(h) => {
                        probe_conditional_writes(storage.as_ref()).await?;
                        h
                    }
                    // Another handle created the table first: use (and check) theirs.
                    Err(Error::Conflict(_)) => {
                        let h = manifest.load().await?.ok_or_else(|| {
                            Error::Corrupt("the manifest head vanished while opening".into())
                        })?;
                        check_catalog(&h.state.catalog, &catalog)?;
                        h
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        // A log kept outside the table's storage holds the table while open (see
        // `ManifestState::wal_owner`); its replay floor then counts this log's segments.
        let mut log_id = 0;
        let mut head = head;
        if let Durability::Wal(c) = &durability
            && c.segment_storage.is_some()
        {
            log_id = log_identity(wal_storage.as_ref(), &c.dir).await?;
            if head.state.wal_owner != log_id || head.state.wal_log != log_id {
                head = manifest
                    .commit(&Edit {
                        kind: Some(EditKind::Claim),
                        commit_id: crate::codec::random_u64()?,
                        claim: Some(log_id),
                        take_over: c.take_over,
                        log: log_id,
                        ..Edit::default()
                    })
                    .await?;
            }
        }
        let point_read_blocks = self
            .point_read_blocks
            .unwrap_or(matches!(durability, Durability::SealEveryBatch));
        let db = Db::new(
            schema,
            storage,
            wal_storage,
            counting,
            manifest,
            Config {
                table_name: self.table_name,
                seal: self.seal,
                minor: self.minor,
                clock: self.clock,
                durability,
                retention: self.retention,
                compaction: self.compaction,
                ack: self.ack,
                backoff_attempts: self.backoff.max_attempts,
                log_id,
                point_read_blocks,
            },
            &head,
        )?;
        // The head just read is as fresh as a refresh issued when the open began.
        db.state()?.checked_ms = Some(checked_ms);
        db.recover(&head).await?;
        Ok(db)
    }

    /// Alias of [`DbBuilder::open`].
    pub async fn build(self) -> Result<Db> {
        self.open().await
    }
}

/// Object in a log's directory holding the log's random id, which the manifest's WAL floor and
/// hold name (segments are numbered per log, so a floor means nothing for another log).
const LOG_ID_FILE: &str = "LOG_ID";

/// This log's id, made (random, non-zero) when the log is new.
async fn log_identity(log: &dyn Storage, dir: &str) -> Result<u64> {
    let path = format!("{dir}/{LOG_ID_FILE}");
    for _ in 0..2 {
        match log.get(&path).await {
            Ok(bytes) => {
                return std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|t| u64::from_str_radix(t.trim(), 16).ok())
                    .filter(|&id| id != 0)
                    .ok_or_else(|| Error::Corrupt(format!("{path} does not hold a log id")));
            }
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let id = crate::codec::random_u64()?.max(1);
        match log
            .put(
                &path,
                bytes::Bytes::from(format!("{id:016x}")),
                PutMode::CreateNew,
            )
            .await
        {
            Ok(_) => return Ok(id),
            // Made meanwhile by another handle: read theirs.
            Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Err(Error::Conflict(format!(
        "{path} kept changing while it was read"
    )))
}

/// The catalog entry this builder's table would have.
fn catalog_of(schema: &TableSchema, table_name: &str) -> Result<Catalog> {
    let arrow = schema.arrow();
    let bare = Arc::new(Schema::new(arrow.fields().clone()));
    let schema_ipc = crate::ipc::encode_stream(&bare, &[])?;
    let key_names: Vec<String> = schema.key_fields().map(|f| f.name().clone()).collect();
    let mut fp = crc32c::crc32c(&schema_ipc);
    for k in &key_names {
        fp = crc32c::crc32c_append(fp, k.as_bytes());
        fp = crc32c::crc32c_append(fp, &[0]);
    }
    Ok(Catalog {
        table_name: table_name.to_owned(),
        schema_ipc,
        key_names,
        fingerprint: fp,
    })
}

/// A reopen must name the same table with the same columns and key.
fn check_catalog(stored: &Catalog, wanted: &Catalog) -> Result<()> {
    if stored.table_name != wanted.table_name {
        return Err(Error::SchemaMismatch(format!(
            "this storage root holds table '{}', not '{}'; open it with that table name or use \
             another root",
            stored.table_name, wanted.table_name
        )));
    }
    if stored.key_names != wanted.key_names {
        return Err(Error::SchemaMismatch(format!(
            "table '{}' is keyed by ({}), but this open declares ({})",
            stored.table_name,
            stored.key_names.join(", "),
            wanted.key_names.join(", ")
        )));
    }
    if stored.fingerprint != wanted.fingerprint || stored.schema_ipc != wanted.schema_ipc {
        let (old, _) = crate::ipc::decode_stream(&stored.schema_ipc)?;
        let (new, _) = crate::ipc::decode_stream(&wanted.schema_ipc)?;
        let describe = |s: &Schema| {
            s.fields()
                .iter()
                .map(|f| {
                    let null = if f.is_nullable() { "" } else { " not null" };
                    format!("{}: {}{null}", f.name(), f.data_type())
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(Error::SchemaMismatch(format!(
            "table '{}' was created with columns ({}), but this open declares ({})",
            stored.table_name,
            describe(&old),
            describe(&new)
        )));
    }
    Ok(())
}

#[derive(Debug)]
struct Config {
    table_name: String,
    seal: SealPolicy,
    minor: Option<MinorCompaction>,
    clock: Arc<dyn Clock>,
    durability: Durability,
    retention: Retention,
    compaction: CompactionOptions,
    ack: CommitAckMode,
    backoff_attempts: u32,
    /// Id of this writer's log when it is kept outside the table's storage (0 otherwise).
    log_id: u64,
    /// Whether the SSTs this handle writes carry point-read blocks.
    point_read_blocks: bool,
}

/// An open table. Cheap to clone; clones share the same data.
#[derive(Debug, Clone)]
pub struct Db {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    schema: TableSchema,
    sst_schema: SchemaRef,
    key_names: Vec<String>,
    storage: Arc<dyn Storage>,
    /// Where WAL segments live (the table's storage unless configured otherwise).
    wal_storage: Arc<dyn Storage>,
    counting: CountingStorage,
    manifest: Manifest,
    config: Config,
    state: Mutex<State>,
    /// Held by whoever writes the commit queue (group-commit leader), and by seals that must
    /// rotate the WAL.
    commit: futures_util::lock::Mutex<Option<WalWriter>>,
    /// When (clock ms) a commit last reached the mutable memtable: work that reorganizes
    /// memtables for reads waits until writes pause.
    last_write_ms: Arc<std::sync::atomic::AtomicU64>,
}

/// The SSTs of one manifest version, newest first.
#[derive(Debug, Default)]
pub(crate) struct Version {
    pub(crate) ssts: Vec<Arc<SstHandle>>,
    pub(crate) manifest_version: u64,
}

/// [`Sealed::fill`] of a memtable the seal policy sealed.
const FULL: u32 = 1000;

/// A sealed memtable and the first WAL segment that may hold its commits.
#[derive(Debug, Clone)]
struct Sealed {
    mem: MemRef,
    segment: u64,
    /// How much of the seal policy it used, in thousandths: 1000 when the policy (or an
    /// explicit seal) sealed it, less when it was sealed early because writes paused. Minor
    /// compaction counts these, so sealing early to reorganize for reads does not make
    /// flushes more frequent or SSTs smaller than the policy asks.
    fill: u32,
}

#[derive(Debug)]
struct State {
    mutable: MemRef,
    mutable_since_ms: Option<u64>,
    /// The first WAL segment that may hold the mutable memtable's commits.
    mutable_segment: u64,
    /// Sealed memtables, oldest first.
    immutables: Vec<Sealed>,
    version: Arc<Version>,
    /// Every version handed out, for GC to see which files live snapshots still read.
    pinned_versions: Vec<Weak<Version>>,
    /// Read timestamps of live snapshots.
    pinned_ts: Vec<(Weak<()>, Timestamp)>,
    /// The highest timestamp assigned.
    last_ts: Timestamp,
    /// The highest timestamp readers may see (every commit at or below it is applied).
    visible_ts: Timestamp,
    /// Commits waiting for the group-commit leader.
    queue: Vec<commit::Pending>,
    next_seq: u64,
    /// Outcomes of commits written by another leader, by sequence number.
    outcomes: std::collections::HashMap<u64, Result<Timestamp>>,
    flushing: bool,
    closed: bool,
    compaction: maint::CompactionState,
    /// WAL frames of fast-acknowledged commits not yet written.
    deferred_frames: Vec<u8>,
    /// A [`Db::reorganize`] waits for writes to pause (wasm).
    reorganize_pending: bool,
    /// What WAL recovery at open cut: segments and bytes.
    wal_cut: (Vec<u64>, u64),
    /// When (clock ms) the manifest read behind the installed view was issued: a read under
    /// [`Freshness::MaxStalenessMs`] skips the check while this is recent enough.
    checked_ms: Option<u64>,
}

/// Where rows are, for diagnostics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbStats {
    /// Sealed memtables waiting for a flush.
    pub immutable_memtables: usize,
    /// How many of them are already one sorted run (the rest still answer from their index:
    /// in wasm sealed memtables are sorted and merged into one run once writes pause).
    pub sorted_memtables: usize,
    /// Versions in the mutable memtable.
    pub mutable_rows: usize,
    /// Rows of the mutable memtable's batches not yet put in key order (in wasm, once there
    /// are 8,192 and writes pause, the memtable is sealed and merged into the sealed run; under
    /// `SealPolicy::Never` or `AgeMillis` its batches are sorted instead).
    pub mutable_unsorted_rows: usize,
    /// SST count.
    pub ssts: usize,
    /// Versions in SSTs.
    pub sst_rows: u64,
    /// Bytes of SSTs.
    pub sst_bytes: u64,
    /// The newest commit timestamp visible to reads.
    pub last_ts: Timestamp,
    /// The manifest version this handle reads.
    pub manifest_version: u64,
    /// SSTs per level, `(level, count, bytes)`, lowest level first.
    pub levels: Vec<(u32, usize, u64)>,
    /// Versions (rows) stored per level, in the order of `levels`.
    pub level_rows: Vec<u64>,
    /// Compaction counters.
    pub compaction: CompactionMetrics,
    /// WAL segments whose tail recovery cut at a bad frame when this handle opened (a torn
    /// last write after a crash, or damage: under `TruncateTail` an older segment is cut
    /// too, and whatever followed the damage in it is not replayed).
    pub wal_cut_segments: Vec<u64>,
    /// Bytes those cuts left out.
    pub wal_cut_bytes: u64,
}

impl Db {
    // In wasm there is one thread and JS-backed storage is not Send; Arc is kept for one code
    // path on every target.
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    fn new(
        schema: TableSchema,
        storage: Arc<dyn Storage>,
        wal_storage: Arc<dyn Storage>,
        counting: CountingStorage,
        manifest: Manifest,
        config: Config,
        head: &Head,
    ) -> Result<Self> {
        let key_names = schema.key_fields().map(|f| f.name().clone()).collect();
        let sst_schema = crate::sst::format::sst_schema(&schema);
        let version = Arc::new(Version {
            ssts: head
                .state
                .ssts
                .iter()
                .map(|m| Arc::new(SstHandle::lazy(m.clone())))
                .collect(),
            manifest_version: head.state.version,
        });
        let last_ts = head.state.last_ts;
        Ok(Self {
            shared: Arc::new(Shared {
                schema,
                sst_schema,
                key_names,
                storage,
                wal_storage,
                counting,
                manifest,
                config,
                state: Mutex::new(State {
                    mutable: Arc::new(Mutex::new(Memtable::new())),
                    mutable_since_ms: None,
                    mutable_segment: 0,
                    immutables: Vec::new(),
                    pinned_versions: vec![Arc::downgrade(&version)],
                    version,
                    pinned_ts: Vec::new(),
                    last_ts,
                    visible_ts: last_ts,
                    queue: Vec::new(),
                    next_seq: 0,
                    outcomes: std::collections::HashMap::new(),
                    flushing: false,
                    closed: false,
                    compaction: maint::CompactionState::default(),
                    deferred_frames: Vec::new(),
                    reorganize_pending: false,
                    wal_cut: (Vec::new(), 0),
                    checked_ms: None,
                }),
                commit: futures_util::lock::Mutex::new(None),
                last_write_ms: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            }),
        })
    }

    /// The table's schema and key.
    pub fn schema(&self) -> &TableSchema {
        &self.shared.schema
    }

    /// The table's name.
    pub fn table_name(&self) -> &str {
        &self.shared.config.table_name
    }

    /// The storage the table lives on (wrapped in request accounting).
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.shared.storage
    }

    /// How writes become durable for this handle.
    pub fn durability(&self) -> &Durability {
        &self.shared.config.durability
    }

    /// Storage requests this handle made so far, by kind. Subtract two readings
    /// ([`RequestCounts::since`]) for the cost of the operations between them.
    pub fn request_counts(&self) -> RequestCounts {
        self.shared.counting.counts()
    }

    fn state(&self) -> Result<MutexGuard<'_, State>> {
        let guard = self.raw_state()?;
        if guard.closed {
            return Err(Error::Closed);
        }
        Ok(guard)
    }

    fn check_open(&self) -> Result<()> {
        self.state().map(drop)
    }

    fn raw_state(&self) -> Result<MutexGuard<'_, State>> {
        self.shared
            .state
            .lock()
            .map_err(|_| Error::Internal("state lock poisoned".into()))
    }

    fn key_name_refs(&self) -> Vec<&str> {
        self.shared.key_names.iter().map(String::as_str).collect()
    }

    /// Installs a manifest head as the SST set readers see, reusing open handles (and
    /// `fresh` ones just written) so cached footers survive.
    fn install(&self, st: &mut State, head: &Head, fresh: &[Arc<SstHandle>]) {
        if head.state.version <= st.version.manifest_version {
            return;
        }
        let find = |id: u64| {
            fresh
                .iter()
                .chain(st.version.ssts.iter())
                .find(|h| h.meta.id == id)
                .cloned()
        };
        let ssts = head
            .state
            .ssts
            .iter()
            .map(|m| find(m.id).unwrap_or_else(|| Arc::new(SstHandle::lazy(m.clone()))))
            .collect();
        let version = Arc::new(Version {
            ssts,
            manifest_version: head.state.version,
        });
        st.pinned_versions.retain(|w| w.strong_count() > 0);
        st.pinned_versions.push(Arc::downgrade(&version));
        st.version = version;
        // Commits by other handles are visible once their SSTs are installed.
        if head.state.last_ts > st.last_ts {
            st.last_ts = head.state.last_ts;
        }
        // Groups still in flight are stamped above the head when they commit.
        if head.state.last_ts > st.visible_ts {
            st.visible_ts = head.state.last_ts;
        }
    }

    /// Re-reads the manifest head (one GET) and, when another handle committed since, makes
    /// its commits visible here. Returns whether anything changed. Handles on object stores
    /// call this to see other writers' puts (a Worker does it once per request).
    pub async fn refresh(&self) -> Result<bool> {
        self.check_open()?;
        let issued = self.shared.config.clock.now_millis();
        let Some(head) = self.shared.manifest.load().await? else {
            return Err(Error::Corrupt("the manifest head disappeared".into()));
        };
        let mut st = self.state()?;
        let before = st.version.manifest_version;
        self.install(&mut st, &head, &[]);
        st.checked_ms = Some(st.checked_ms.map_or(issued, |c| c.max(issued)));
        Ok(st.version.manifest_version != before)
    }

    /// Upserts every row of `batch` in one commit and returns its commit timestamp. When a key
    /// repeats within the batch, the last row wins.
    pub async fn put(&self, batch: RecordBatch) -> Result<Timestamp> {
        match self.prepare_put(batch)? {
            Some((batch, keys)) => self.submit(commit::Op::Put(batch, keys)).await,
            None => Ok(self.state()?.visible_ts),
        }
    }

    /// Validates `batch` and returns it under the table's schema with its encoded keys, or
    /// `None` when it has no rows.
    fn prepare_put(&self, batch: RecordBatch) -> Result<Option<(RecordBatch, Vec<KeyBytes>)>> {
        let schema = self.shared.schema.arrow();
        self.shared.schema.check_compatible(&batch.schema())?;
        let key_cols: Vec<_> = self
            .shared
            .schema
            .key_indices()
            .iter()
            .map(|&i| batch.column(i).clone())
            .collect();
        let keys = encode_rows(&key_cols, &self.key_name_refs())?;
        for (field, col) in schema.fields().iter().zip(batch.columns()) {
            if !field.is_nullable() && col.null_count() > 0 {
                return Err(Error::TypeMismatch {
                    column: field.name().clone(),
                    expected: format!("a non-null {}", field.data_type()),
                    got: "null".into(),
                });
            }
        }
        // Store the rows under the table's own schema (nullability, metadata) so results are
        // uniform whatever the writer's schema said.
        let batch = RecordBatch::try_new(schema.clone(), batch.columns().to_vec())?;
        Ok((batch.num_rows() > 0).then_some((batch, keys)))
    }

    /// Rows given as values in column order, as one batch.
    fn rows_batch(&self, rows: &[Vec<Value>]) -> Result<RecordBatch> {
        let schema = &self.shared.schema;
        let mut b = RowsBuilder::new(schema.arrow().clone(), schema.key_indices())?;
        for row in rows {
            b.push_values(row)?;
        }
        b.finish()
    }

    /// Upserts the rows of an Arrow IPC stream (all its batches) in one commit.
    pub async fn put_ipc(&self, bytes: &[u8]) -> Result<Timestamp> {
        let batch = self.ipc_batch(bytes)?;
        self.put(batch).await
    }

    /// An Arrow IPC stream as one batch checked against the table's schema (dictionary
    /// columns decoded), ready for [`Db::put`] or a transaction.
    pub fn ipc_batch(&self, bytes: &[u8]) -> Result<RecordBatch> {
        let (schema, batches) = crate::ipc::decode_stream(bytes)?;
        let batch = arrow_select::concat::concat_batches(&schema, &batches)?;
        let batch = self.conform_to_table(batch)?;
        self.shared.schema.check_compatible(&batch.schema())?;
        Ok(batch)
    }

    /// Brings IPC input to the table's column types where only the encoding differs, in one
    /// pass: a dictionary-encoded column (apache-arrow encodes strings that way by default)
    /// whose value type is the column's becomes a plain array, and a nested column whose type
    /// differs only in the names of inner fields (apache-arrow names a list's item `""`, Rust's
    /// Arrow `"item"`) takes the table's type over the same buffers.
    fn conform_to_table(&self, batch: RecordBatch) -> Result<RecordBatch> {
        use arrow_array::cast::AsArray;
        use arrow_schema::DataType;
        let table = self.shared.schema.arrow();
        let mut changed = false;
        let mut fields = Vec::with_capacity(batch.num_columns());
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (f, col) in batch.schema().fields().iter().zip(batch.columns()) {
            let wanted = table.field_with_name(f.name()).ok().map(|t| t.data_type());
            let conformed = match (f.data_type(), wanted) {
                (DataType::Dictionary(_, value), Some(w)) if value.as_ref() == w => {
                    let dict = col.as_any_dictionary();
                    let keys: Vec<u32> = dict.normalized_keys().iter().map(|&k| k as u32).collect();
                    let idx =
                        arrow_array::UInt32Array::new(keys.into(), dict.keys().nulls().cloned());
                    let plain = arrow_select::take::take(dict.values().as_ref(), &idx, None)?;
                    Some((w, plain))
                }
                (have, Some(w)) if w != have && w.is_nested() && w.equals_datatype(have) => {
                    let data = col.to_data().into_builder().data_type(w.clone()).build()?;
                    Some((w, arrow_array::make_array(data)))
                }
                _ => None,
            };
            match conformed {
                Some((w, array)) => {
                    fields.push(Arc::new(f.as_ref().clone().with_data_type(w.clone())));
                    columns.push(array);
                    changed = true;
                }
                None => {
                    fields.push(f.clone());
                    columns.push(col.clone());
                }
            }
        }
        if !changed {
            return Ok(batch);
        }
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }

    /// Upserts rows given as values in column order.
    pub async fn put_rows(&self, rows: &[Vec<Value>]) -> Result<Timestamp> {
        let batch = self.rows_batch(rows)?;
        self.put(batch).await
    }

    /// [`Db::put_rows`] taking its rows by value, for futures that outlive the caller's
    /// borrow (e.g. many puts joined at once).
    pub async fn put_rows_owned(&self, rows: Vec<Vec<Value>>) -> Result<Timestamp> {
        self.put_rows(&rows).await
    }

    /// Deletes the rows with these keys (each a full key) in one commit.
    pub async fn delete_many(&self, keys: &[Vec<Value>]) -> Result<Timestamp> {
        if keys.is_empty() {
            return Ok(self.state()?.visible_ts);
        }
        let (batch, encoded) = self.key_batch(keys)?;
        self.submit(commit::Op::Delete(batch, encoded)).await
    }

    /// Deletes the row with this key (values of the key columns in key order).
    pub async fn delete(&self, key: &[Value]) -> Result<Timestamp> {
        self.delete_many(&[key.to_vec()]).await
    }

    /// A consistent view of everything committed so far.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let ts = self.state()?.visible_ts;
        self.snapshot_at(ts)
    }

    /// A view at read timestamp `ts` over the current memtables and SSTs. Correct for any `ts`
    /// from the oldest retained version on: compaction keeps every version such reads need.
    fn snapshot_at(&self, ts: Timestamp) -> Result<Snapshot> {
        let mut st = self.state()?;
        let mut mems = vec![st.mutable.clone()];
        mems.extend(st.immutables.iter().rev().map(|s| s.mem.clone()));
        let pin = Arc::new(());
        st.pinned_ts.retain(|(w, _)| w.strong_count() > 0);
        st.pinned_ts.push((Arc::downgrade(&pin), ts));
        Ok(Snapshot::new(
            self.clone(),
            ts,
            mems,
            st.version.clone(),
            pin,
        ))
    }

    /// Runs `read` on the live view. On a missing SST it re-reads the head and, when the head
    /// moved, runs once more: another handle compacted the file away and a GC (whose clock may
    /// run ahead of the committer's, which dates the drop) deleted it while this handle's head
    /// was older. Explicit snapshots keep their error: their files are gone for good
    /// (docs/architecture.md, grace period).
    async fn on_live_view<T, F, Fut>(&self, read: F) -> Result<T>
    where
        F: Fn(Snapshot) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        match read(self.snapshot()?).await {
            Err(Error::NotFound(_)) if self.refresh().await? => read(self.snapshot()?).await,
            r => r,
        }
    }

    /// The row with this key, as a one-row batch, or `None`.
    pub async fn get(&self, key: &[Value]) -> Result<Option<RecordBatch>> {
        self.on_live_view(|s| async move { s.get(key).await }).await
    }

    /// [`Db::get`] at the given freshness. A strict read checks the manifest and reads the
    /// current view at the same time: on an object store that is one round trip when nothing
    /// changed, the same as a read that does not check.
    pub async fn get_fresh(
        &self,
        key: &[Value],
        freshness: Freshness,
    ) -> Result<Option<RecordBatch>> {
        self.read_fresh(freshness, |s| async move { s.get(key).await })
            .await
    }

    /// [`Db::scan`] at the given freshness (see [`Db::get_fresh`]).
    pub async fn scan_fresh(
        &self,
        opts: &ScanOptions,
        freshness: Freshness,
    ) -> Result<RecordBatch> {
        self.read_fresh(freshness, |s| async move { s.scan(opts).await })
            .await
    }

    /// The batches of a scan at the given freshness, for a caller that encodes them itself.
    #[cfg(target_arch = "wasm32")]
    pub(crate) async fn scan_batches_fresh(
        &self,
        opts: &ScanOptions,
        freshness: Freshness,
    ) -> Result<(arrow_schema::SchemaRef, Vec<RecordBatch>)> {
        self.read_fresh(freshness, |s| async move {
            s.scan_stream(opts).await?.collect_batches().await
        })
        .await
    }

    /// Runs `read` on the live view at `freshness`. A check is made together with the read:
    /// the view is taken before the manifest read is issued, so if the head has not moved when
    /// that read returns, no commit acknowledged before this call is missing from the answer;
    /// if it moved, the read runs again on the new view.
    async fn read_fresh<T, F, Fut>(&self, freshness: Freshness, read: F) -> Result<T>
    where
        F: Fn(Snapshot) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        if !self.needs_check(freshness)? {
            return self.on_live_view(read).await;
        }
        let speculative = self.snapshot()?;
        let (changed, first) = futures_util::future::join(self.refresh(), read(speculative)).await;
        if changed? {
            return self.on_live_view(read).await;
        }
        match first {
            // A file compacted away under the old view: the head did not move, so it is gone.
            Err(Error::NotFound(_)) => self.on_live_view(read).await,
            r => r,
        }
    }

    /// Whether a read at `freshness` must check the manifest first.
    fn needs_check(&self, freshness: Freshness) -> Result<bool> {
        Ok(match freshness {
            Freshness::View => false,
            Freshness::Strict => true,
            Freshness::MaxStalenessMs(ms) => {
                let checked = self.state()?.checked_ms;
                let now = self.shared.config.clock.now_millis();
                // A clock that went back says nothing about age: check.
                checked.is_none_or(|c| now < c || now - c > ms)
            }
        })
    }

    /// The rows selected by `opts`, as one batch.
    pub async fn scan(&self, opts: &ScanOptions) -> Result<RecordBatch> {
        self.on_live_view(|s| async move { s.scan(opts).await })
            .await
    }

    /// The rows selected by `opts` as a stream of bounded batches.
    pub async fn scan_stream(&self, opts: &ScanOptions) -> Result<crate::read::merge::ScanStream> {
        self.on_live_view(|s| async move { s.scan_stream(opts).await })
            .await
    }

    /// [`Db::scan_stream`] at the given freshness. The stream is set up (footers opened,
    /// bounds resolved) while the manifest is checked, as [`Db::scan_fresh`] does; if the head
    /// moved, it is set up again on the new view. Rows are then read as the stream is pulled,
    /// all from the one view, so a strict stream sees every commit acknowledged before the
    /// call.
    pub async fn scan_stream_fresh(
        &self,
        opts: &ScanOptions,
        freshness: Freshness,
    ) -> Result<crate::read::merge::ScanStream> {
        self.read_fresh(freshness, |s| async move { s.scan_stream(opts).await })
            .await
    }

    /// Where rows are now.
    pub fn stats(&self) -> Result<DbStats> {
        let st = self.state()?;
        let mut levels: Vec<(u32, usize, u64)> = Vec::new();
        for h in &st.version.ssts {
            match levels.iter_mut().find(|l| l.0 == h.meta.level) {
                Some(l) => {
                    l.1 += 1;
                    l.2 += h.meta.bytes;
                }
                None => levels.push((h.meta.level, 1, h.meta.bytes)),
            }
        }
        levels.sort_unstable();
        let level_rows = levels
            .iter()
            .map(|l| {
                st.version
                    .ssts
                    .iter()
                    .filter(|h| h.meta.level == l.0)
                    .map(|h| h.meta.rows)
                    .sum()
            })
            .collect();
        let (mutable_rows, mutable_unsorted_rows) = {
            let m = lock(&st.mutable)?;
            (m.rows(), m.unsorted_rows())
        };
        Ok(DbStats {
            immutable_memtables: st.immutables.len(),
            sorted_memtables: st
                .immutables
                .iter()
                .map(|s| lock(&s.mem).map(|m| usize::from(m.run().is_some())))
                .sum::<Result<usize>>()?,
            mutable_rows,
            mutable_unsorted_rows,
            ssts: st.version.ssts.len(),
            sst_rows: st.version.ssts.iter().map(|s| s.meta.rows).sum(),
            sst_bytes: st.version.ssts.iter().map(|s| s.meta.bytes).sum(),
            last_ts: st.visible_ts,
            manifest_version: st.version.manifest_version,
            levels,
            level_rows,
            compaction: CompactionMetrics {
                running: st.compaction.running as u64,
                ..st.compaction.metrics.clone()
            },
            wal_cut_segments: st.wal_cut.0.clone(),
            wal_cut_bytes: st.wal_cut.1,
        })
    }

    /// The paths of the live SSTs, newest first.
    pub fn sst_paths(&self) -> Result<Vec<String>> {
        Ok(self
            .state()?
            .version
            .ssts
            .iter()
            .map(|s| s.meta.path.clone())
            .collect())
    }

    /// Flushes what the memtables hold (so the next open replays nothing), syncs the WAL, and
    /// marks the handle closed; later calls fail with [`crate::ErrorCode::Closed`]. Idempotent.
    pub async fn close(&self) -> Result<()> {
        if self.raw_state()?.closed {
            return Ok(());
        }
        if self.uses_memtable() {
            self.flush().await?;
        }
        self.sync_log().await?;
        let log = self.shared.config.log_id;
        if log != 0 {
            // Everything is flushed: other writers may go on.
            self.shared
                .manifest
                .commit(&Edit {
                    kind: Some(EditKind::Claim),
                    commit_id: crate::codec::random_u64()?,
                    release: Some(log),
                    log,
                    ..Edit::default()
                })
                .await?;
        }
        self.raw_state()?.closed = true;
        // Release files and locks (an OPFS writer lock lets the next tab in).
        self.shared.storage.close().await?;
        if !Arc::ptr_eq(&self.shared.storage, &self.shared.wal_storage) {
            self.shared.wal_storage.close().await?;
        }
        Ok(())
    }

    /// Whether commits land in memtables (everything but strict seal-every-batch).
    fn uses_memtable(&self) -> bool {
        !matches!(self.shared.config.durability, Durability::SealEveryBatch)
            || self.shared.config.ack == CommitAckMode::Fast
    }

    /// Makes every acknowledged commit durable now: writes and syncs the WAL frames of
    /// fast-acknowledged commits, or (seal-every-batch with fast acknowledgement) flushes them
    /// into an SST.
    pub async fn sync(&self) -> Result<()> {
        self.check_open()?;
        if matches!(self.shared.config.durability, Durability::SealEveryBatch) {
            if self.uses_memtable() {
                self.flush().await?;
            }
            return Ok(());
        }
        self.sync_log().await
    }

    /// Writes deferred (fast-acknowledged) WAL frames and syncs the log.
    async fn sync_log(&self) -> Result<()> {
        let mut wal = self.shared.commit.lock().await;
        self.write_deferred(&mut wal).await?;
        if let Some(w) = wal.as_mut() {
            w.sync(
                self.shared.wal_storage.as_ref(),
                self.shared.config.clock.now_millis(),
            )
            .await?;
        }
        Ok(())
    }

    /// One batch of the key columns of `keys`, and their encodings.
    fn key_batch(&self, keys: &[Vec<Value>]) -> Result<(RecordBatch, Vec<KeyBytes>)> {
        let schema = &self.shared.schema;
        let n = schema.key_indices().len();
        let key_schema = schema.key_schema();
        let idx: Vec<usize> = (0..n).collect();
        let mut b = RowsBuilder::new(key_schema, &idx)?;
        for k in keys {
            if k.len() != n {
                return Err(self.key_len_error(k.len()));
            }
            b.push_values(k)?;
        }
        let batch = b.finish()?;
        let encoded = encode_rows(batch.columns(), &self.key_name_refs())?;
        Ok((batch, encoded))
    }

    fn key_len_error(&self, got: usize) -> Error {
        Error::InvalidArgument(format!(
            "a key of this table has {} column(s) ({}), got {got} value(s)",
            self.shared.key_names.len(),
            self.shared.key_names.join(", "),
        ))
    }

    /// Encodes a full key (or, with `allow_prefix`, leading key columns). Returns the bytes and
    /// whether all key columns were given.
    fn encode_key(&self, values: &[Value], allow_prefix: bool) -> Result<(KeyBytes, bool)> {
        let schema = &self.shared.schema;
        let n = schema.key_indices().len();
        if values.is_empty() || values.len() > n || (!allow_prefix && values.len() != n) {
            return Err(self.key_len_error(values.len()));
        }
        let fields: Vec<_> = schema.key_fields().take(values.len()).cloned().collect();
        let key_schema = Arc::new(Schema::new(fields));
        let idx: Vec<usize> = (0..values.len()).collect();
        let mut b = RowsBuilder::new(key_schema, &idx)?;
        b.push_values(values)?;
        let batch = b.finish()?;
        let names = self.key_name_refs();
        let key = encode_rows(batch.columns(), names.get(..values.len()).unwrap_or(&names))?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Internal("no key encoded".into()))?;
        Ok((key, values.len() == n))
    }

    fn key_range(&self, opts: &ScanOptions) -> Result<Option<KeyRange>> {
        let enc = |b: &Bound<Vec<Value>>| -> Result<Bound<(KeyBytes, bool)>> {
            Ok(match b {
                Bound::Included(v) => Bound::Included(self.encode_key(v, true)?),
                Bound::Excluded(v) => Bound::Excluded(self.encode_key(v, true)?),
                Bound::Unbounded => Bound::Unbounded,
            })
        };
        let Some(start) = KeyRange::lower(enc(&opts.start)?) else {
            return Ok(None);
        };
        let mut range = KeyRange {
            start,
            end: KeyRange::upper(enc(&opts.end)?),
        };
        if let Some(prefix) = &opts.prefix {
            let (p, _) = self.encode_key(prefix, true)?;
            range = range.intersect_prefix(&p);
        }
        Ok(Some(range))
    }

    fn column_index(&self, name: &str, what: &str) -> Result<usize> {
        self.shared
            .schema
            .arrow()
            .index_of(name)
            .map_err(|_| Error::InvalidArgument(format!("unknown column '{name}' in {what}")))
    }
}

/// Checks, once, when a table is created, that the store honours conditional writes: on a
/// scratch object, a second create-if-absent and a compare-and-swap against an etag it does
/// not have must both be refused. A server that ignores `If-None-Match`/`If-Match` (some
/// S3-compatible ones do) would turn every commit into a blind overwrite, and concurrent
/// writers would lose each other's rows. Each write carries fresh random bytes, so a retried
/// request is never mistaken for its own earlier attempt. Costs four requests, at creation
/// only.
async fn probe_conditional_writes(storage: &dyn Storage) -> Result<()> {
    let path = format!("manifest/probe-{:016x}", crate::codec::random_u64()?);
    let fresh = || -> Result<bytes::Bytes> {
        Ok(bytes::Bytes::from(
            crate::codec::random_u64()?.to_le_bytes().to_vec(),
        ))
    };
    let first = storage.put(&path, fresh()?, PutMode::CreateNew).await?;
    let probes = [
        (PutMode::CreateNew, "If-None-Match: * (create-if-absent)"),
        (
            PutMode::IfMatch(other_etag(&first.etag)),
            "If-Match (compare-and-swap)",
        ),
    ];
    let mut outcome = Ok(());
    for (mode, what) in probes {
        match storage.put(&path, fresh()?, mode).await {
            Err(Error::Conflict(_)) => {}
            Ok(_) => {
                outcome = Err(Error::storage(format!(
                    "this store ignores {what} on writes: the manifest could not be moved \
                     safely by compare-and-swap, and concurrent writers would lose each \
                     other's rows. Use a store with conditional writes (AWS S3, R2, MinIO, \
                     recent Ceph RGW) or one writer with a WAL on local storage"
                )));
                break;
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    let _ = storage.delete(&path).await;
    outcome
}

/// An etag of the same shape as `etag` (quotes, dashes and length kept: R2's binding rejects
/// a quoted one, S3 quotes its own) that differs from it.
fn other_etag(etag: &str) -> String {
    let flip = |c: char| match c {
        '0' => '1',
        c if c.is_ascii_alphanumeric() => '0',
        c => c,
    };
    let other: String = etag.chars().map(flip).collect();
    if other == etag || other.is_empty() {
        "anax-probe".into()
    } else {
        other
    }
}

/// The first object under a table's data directories (SSTs, history archives, the WAL), if
/// any: a root without a manifest head must hold none of them to be a new table.
async fn stray_object(storage: &dyn Storage, wal_dir: Option<&str>) -> Result<Option<String>> {
    let wal = wal_dir.map(|d| format!("{d}/"));
    for prefix in ["sst/", crate::manifest::HISTORY_DIR]
        .into_iter()
        .chain(wal.as_deref())
    {
        if let Some(o) = storage.list(prefix).await?.into_iter().next() {
            return Ok(Some(o.path));
        }
    }
    Ok(None)
}
