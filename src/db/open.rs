//! Opening a table: the builder's choices validated, the manifest head created or checked,
//! the log claimed, and the handle built for WAL recovery to fill. Apart from the builder
//! (builder.rs) so the options read on their own.

use std::sync::{Arc, Mutex};

use super::builder::StorageChoice;
use super::catalog::{catalog_of, check_catalog};
use super::{Config, Db, DbBuilder, Shared, State, Version};
use crate::error::{Error, Result};
use crate::manifest::{Edit, EditKind, Head, Manifest, ManifestState};
use crate::memtable::Memtable;
use crate::options::{Durability, SealPolicy, WalConfig};
use crate::schema::TableSchema;
use crate::sst::SstHandle;
use crate::storage::{CountingStorage, MemoryStorage, PutMode, Storage};

impl DbBuilder {
    /// Validates the configuration, then recovers the database at the chosen storage (manifest,
    /// then WAL replay) or initialises it there.
    // In wasm, storage handles hold JS values and are not Send; one Arc code path everywhere.
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    pub async fn open(self) -> Result<Db> {
        let schema = TableSchema::new(self.schema, &self.key)?;
        let control = self.control;
        control.check()?;
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
            Some(StorageChoice::File(s)) => (s, Durability::Wal(self.wal.clone())),
            Some(StorageChoice::S3(spec)) => (
                Arc::new(crate::storage::s3::S3Storage::new(spec)?),
                Durability::SealEveryBatch,
            ),
            #[cfg(target_arch = "wasm32")]
            Some(StorageChoice::Opfs(path, wait)) => {
                // Without a log every commit is a compare-and-swap of the manifest, so tabs and
                // workers share the table as Workers share a bucket: no writer lock.
                let opfs = if matches!(self.durability, Some(Durability::SealEveryBatch)) {
                    crate::storage::Opfs::open_shared(&path, wait).await?
                } else {
                    crate::storage::Opfs::open_waiting(&path, wait).await?
                };
                (Arc::new(opfs), Durability::Wal(self.wal.clone()))
            }
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
        let tail_pack = self
            .tail_pack
            .unwrap_or(matches!(durability, Durability::SealEveryBatch));
        // The pack is fetched in the same round trip as the head: its tails are checked against
        // the head's records later, so it need not wait for the head.
        let (found, pack) = if tail_pack {
            futures_util::future::join(manifest.load(), super::tails::read_pack(storage.as_ref()))
                .await
        } else {
            (manifest.load().await, Vec::new())
        };
        let mut found = found?;
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
                        if !storage.conditional_writes_native() {
                            probe_conditional_writes(storage.as_ref()).await?;
                        }
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
        if let Some(bytes) = self.block_cache_bytes {
            crate::sst::block_cache::set_budget(bytes);
        }
        let point_read_blocks = self
            .point_read_blocks
            .unwrap_or(matches!(durability, Durability::SealEveryBatch));
        let mut compaction = self.compaction;
        compaction.background = self.background.unwrap_or(
            cfg!(not(target_arch = "wasm32")) && matches!(durability, Durability::SealEveryBatch),
        );
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
                compaction,
                ack: self.ack,
                backoff_attempts: self.backoff.max_attempts,
                log_id,
                point_read_blocks,
                tail_pack,
                block_cache: self.block_cache,
            },
            &head,
        )?;
        db.seed_tails(pack)?;
        // The head just read is as fresh as a refresh issued when the open began.
        db.state()?.checked_ms = Some(checked_ms);
        db.recover(&head, &control).await?;
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
                    answer_waiters: Vec::new(),
                    flushing: false,
                    closed: false,
                    compaction: super::compact::CompactionState::default(),
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
/// The directories are listed at once: on an object store each listing is a round trip.
async fn stray_object(storage: &dyn Storage, wal_dir: Option<&str>) -> Result<Option<String>> {
    let wal = wal_dir.map(|d| format!("{d}/"));
    let wal_listing = async {
        match &wal {
            Some(prefix) => storage.list(prefix).await,
            None => Ok(Vec::new()),
        }
    };
    let (ssts, history, log) = futures_util::future::try_join3(
        storage.list("sst/"),
        storage.list(crate::manifest::HISTORY_DIR),
        wal_listing,
    )
    .await?;
    Ok([ssts, history, log]
        .into_iter()
        .find_map(|objects| objects.into_iter().next().map(|o| o.path)))
}
