//! The database handle: the builder that opens it and the operations users call.
//!
//! Every method takes `&self` and is `async`; shared state lives behind one mutex held only for
//! short, non-awaiting critical sections. A read takes a [`Snapshot`] (the read timestamp plus
//! the memtables and SSTs live at that moment) and then reads without the lock.

use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::{Array, RecordBatch};
use arrow_schema::{Field, Schema, SchemaRef};

use crate::error::{Error, Result};
use crate::key::{KeyBytes, encode_rows};
use crate::memtable::{Entry, Memtable, Timestamp};
use crate::options::{Clock, MinorCompaction, SealPolicy, SystemClock};
use crate::read::mem_source::{MemRef, MemSource, lock};
use crate::read::merge::{ScanStream, Source};
use crate::rows::RowsBuilder;
use crate::scan::{KeyRange, ScanOptions};
use crate::schema::{KeySpec, TableSchema};
use crate::sst::{Found, Sst};
use crate::storage::{MemoryStorage, PutMode, Storage};
use crate::value::Value;

/// The table name used when none is given.
pub const DEFAULT_TABLE_NAME: &str = "anax-default";

#[derive(Debug, Clone)]
enum StorageChoice {
    InMemory,
    #[cfg(not(target_arch = "wasm32"))]
    OnDisk(std::path::PathBuf),
    Custom(Arc<dyn Storage>),
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

    /// Volatile storage in this process's memory; `label` names it in diagnostics.
    pub fn in_memory(mut self, label: impl Into<String>) -> Self {
        let _ = label.into();
        self.storage = Some(StorageChoice::InMemory);
        self
    }

    /// Files under `path` on the local disk (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn on_disk(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.storage = Some(StorageChoice::OnDisk(path.into()));
        self
    }

    /// Any [`Storage`] implementation (tests use this to inject faults or share a store).
    pub fn with_storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = Some(StorageChoice::Custom(storage));
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

    /// The clock used for age-based sealing.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Validates the configuration and opens the database.
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
        let storage: Arc<dyn Storage> = match self.storage {
            None => {
                return Err(Error::InvalidArgument(
                    "storage backend not selected: call in_memory(..) (or another backend) \
                     before open"
                        .into(),
                ));
            }
            Some(StorageChoice::InMemory) => Arc::new(MemoryStorage::new()),
            #[cfg(not(target_arch = "wasm32"))]
            Some(StorageChoice::OnDisk(path)) => {
                Arc::new(crate::storage::DiskStorage::new(path, true)?)
            }
            Some(StorageChoice::Custom(s)) => s,
        };
        Ok(Db::new(
            schema,
            self.table_name,
            storage,
            self.seal,
            self.minor,
            self.clock,
        ))
    }

    /// Alias of [`DbBuilder::open`].
    pub async fn build(self) -> Result<Db> {
        self.open().await
    }
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
    table_name: String,
    storage: Arc<dyn Storage>,
    seal: SealPolicy,
    minor: Option<MinorCompaction>,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

/// The SSTs live at one moment, newest first.
#[derive(Debug, Default)]
struct Version {
    ssts: Vec<Arc<Sst>>,
}

#[derive(Debug)]
struct State {
    mutable: MemRef,
    mutable_since_ms: Option<u64>,
    /// Sealed memtables, oldest first.
    immutables: Vec<MemRef>,
    version: Arc<Version>,
    last_ts: Timestamp,
    next_sst_id: u64,
    flushing: bool,
    closed: bool,
}

/// A consistent read view: everything committed at or before its timestamp, nothing after.
/// It keeps the memtables and SSTs it needs alive while it exists.
#[derive(Debug, Clone)]
pub struct Snapshot {
    db: Db,
    ts: Timestamp,
    /// Newest first.
    mems: Vec<MemRef>,
    version: Arc<Version>,
}

/// Where rows are, for diagnostics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbStats {
    /// Sealed memtables waiting for a flush.
    pub immutable_memtables: usize,
    /// Versions in the mutable memtable.
    pub mutable_rows: usize,
    /// SST count.
    pub ssts: usize,
    /// Versions in SSTs.
    pub sst_rows: u64,
    /// Bytes of SSTs.
    pub sst_bytes: u64,
    /// The newest commit timestamp.
    pub last_ts: Timestamp,
}

impl Db {
    // In wasm there is one thread and JS-backed storage is not Send; Arc is kept for one code
    // path on every target.
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    fn new(
        schema: TableSchema,
        table_name: String,
        storage: Arc<dyn Storage>,
        seal: SealPolicy,
        minor: Option<MinorCompaction>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let key_names = schema.key_fields().map(|f| f.name().clone()).collect();
        let sst_schema = crate::sst::format::sst_schema(&schema);
        Self {
            shared: Arc::new(Shared {
                schema,
                sst_schema,
                key_names,
                table_name,
                storage,
                seal,
                minor,
                clock,
                state: Mutex::new(State {
                    mutable: Arc::new(Mutex::new(Memtable::new())),
                    mutable_since_ms: None,
                    immutables: Vec::new(),
                    version: Arc::new(Version::default()),
                    last_ts: 0,
                    next_sst_id: 1,
                    flushing: false,
                    closed: false,
                }),
            }),
        }
    }

    /// The table's schema and key.
    pub fn schema(&self) -> &TableSchema {
        &self.shared.schema
    }

    /// The table's name.
    pub fn table_name(&self) -> &str {
        &self.shared.table_name
    }

    /// The storage the table lives on.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.shared.storage
    }

    fn state(&self) -> Result<MutexGuard<'_, State>> {
        let guard = self
            .shared
            .state
            .lock()
            .map_err(|_| Error::Internal("state lock poisoned".into()))?;
        if guard.closed {
            return Err(Error::Closed);
        }
        Ok(guard)
    }

    fn key_name_refs(&self) -> Vec<&str> {
        self.shared.key_names.iter().map(String::as_str).collect()
    }

    /// Upserts every row of `batch` in one commit and returns its commit timestamp. When a key
    /// repeats within the batch, the last row wins.
    pub async fn put(&self, batch: RecordBatch) -> Result<Timestamp> {
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
        if batch.num_rows() == 0 {
            return Ok(self.state()?.last_ts);
        }
        let ts = self.commit(|mem, ts| mem.insert_batch(batch, keys, ts))?;
        self.maybe_flush().await?;
        Ok(ts)
    }

    /// Applies one commit to the mutable memtable under the state lock, then seals per policy.
    fn commit(&self, apply: impl FnOnce(&mut Memtable, Timestamp)) -> Result<Timestamp> {
        let mut st = self.state()?;
        st.last_ts += 1;
        let ts = st.last_ts;
        let now = self.shared.clock.now_millis();
        let since = *st.mutable_since_ms.get_or_insert(now);
        let seal = {
            let mut mem = lock(&st.mutable)?;
            apply(&mut mem, ts);
            match self.shared.seal {
                SealPolicy::BatchesThreshold { batches } => mem.batch_count() >= batches,
                SealPolicy::Rows(n) => mem.rows() >= n,
                SealPolicy::Bytes(n) => mem.memory_bytes() >= n,
                SealPolicy::AgeMillis(ms) => now.saturating_sub(since) >= ms,
                SealPolicy::Never => false,
            }
        };
        if seal {
            Self::seal_locked(&mut st);
        }
        Ok(ts)
    }

    fn seal_locked(st: &mut State) {
        let fresh = Arc::new(Mutex::new(Memtable::new()));
        let old = std::mem::replace(&mut st.mutable, fresh);
        st.immutables.push(old);
        st.mutable_since_ms = None;
    }

    async fn maybe_flush(&self) -> Result<()> {
        let due = match self.shared.minor {
            Some(m) => self.state()?.immutables.len() >= m.segment_threshold,
            None => false,
        };
        if due {
            self.flush_immutables().await?;
        }
        Ok(())
    }

    /// Writes every sealed memtable into one SST and installs it. Sealed memtables stay
    /// readable until the SST replaces them in one step, so readers never miss rows.
    async fn flush_immutables(&self) -> Result<()> {
        let (mems, id) = {
            let mut st = self.state()?;
            if st.flushing || st.immutables.is_empty() {
                return Ok(());
            }
            st.flushing = true;
            let id = st.next_sst_id;
            st.next_sst_id += 1;
            (st.immutables.clone(), id)
        };
        let result = self.write_and_install(&mems, id).await;
        if let Ok(mut st) = self.shared.state.lock() {
            st.flushing = false;
        }
        result
    }

    async fn write_and_install(&self, mems: &[MemRef], id: u64) -> Result<()> {
        let level = self.shared.minor.map_or(0, |m| m.target_level);
        let path = format!("sst/L{level}/{id:020}.parquet");
        let written = {
            let guards = mems.iter().map(lock).collect::<Result<Vec<_>>>()?;
            let refs: Vec<&Memtable> = guards.iter().map(|g| &**g).collect();
            crate::sst::writer::write_sst(&self.shared.schema, &refs, id, level, path.clone())?
        };
        if let Some((bytes, _)) = &written {
            self.shared
                .storage
                .put(&path, bytes.clone(), PutMode::CreateNew)
                .await?;
        }
        let mut st = self.state()?;
        let mut ssts = Vec::with_capacity(st.version.ssts.len() + 1);
        if let Some((_, sst)) = written {
            ssts.push(sst);
        }
        ssts.extend(st.version.ssts.iter().cloned());
        st.version = Arc::new(Version { ssts });
        st.immutables
            .retain(|m| !mems.iter().any(|f| Arc::ptr_eq(f, m)));
        Ok(())
    }

    /// Seals the mutable memtable and writes everything sealed into an SST now.
    pub async fn flush(&self) -> Result<()> {
        {
            let mut st = self.state()?;
            let empty = lock(&st.mutable)?.versions() == 0;
            if !empty {
                Self::seal_locked(&mut st);
            }
        }
        self.flush_immutables().await
    }

    /// Seals the mutable memtable without flushing it.
    pub async fn seal(&self) -> Result<()> {
        let mut st = self.state()?;
        if lock(&st.mutable)?.versions() > 0 {
            Self::seal_locked(&mut st);
        }
        Ok(())
    }

    /// Upserts the rows of an Arrow IPC stream (all its batches) in one commit.
    pub async fn put_ipc(&self, bytes: &[u8]) -> Result<Timestamp> {
        let (schema, batches) = crate::ipc::decode_stream(bytes)?;
        self.shared.schema.check_compatible(&schema)?;
        let batch = arrow_select::concat::concat_batches(&schema, &batches)?;
        self.put(batch).await
    }

    /// Upserts rows given as values in column order.
    pub async fn put_rows(&self, rows: &[Vec<Value>]) -> Result<Timestamp> {
        let schema = &self.shared.schema;
        let mut b = RowsBuilder::new(schema.arrow().clone(), schema.key_indices())?;
        for row in rows {
            b.push_values(row)?;
        }
        self.put(b.finish()?).await
    }

    /// Deletes the rows with these keys (each a full key) in one commit.
    pub async fn delete_many(&self, keys: &[Vec<Value>]) -> Result<Timestamp> {
        if keys.is_empty() {
            return Ok(self.state()?.last_ts);
        }
        let (batch, encoded) = self.key_batch(keys)?;
        let ts = self.commit(|mem, ts| mem.delete_batch(batch, encoded, ts))?;
        self.maybe_flush().await?;
        Ok(ts)
    }

    /// Deletes the row with this key (values of the key columns in key order).
    pub async fn delete(&self, key: &[Value]) -> Result<Timestamp> {
        self.delete_many(&[key.to_vec()]).await
    }

    /// A consistent view of everything committed so far.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let st = self.state()?;
        let mut mems = vec![st.mutable.clone()];
        mems.extend(st.immutables.iter().rev().cloned());
        Ok(Snapshot {
            db: self.clone(),
            ts: st.last_ts,
            mems,
            version: st.version.clone(),
        })
    }

    /// The row with this key, as a one-row batch, or `None`.
    pub async fn get(&self, key: &[Value]) -> Result<Option<RecordBatch>> {
        self.snapshot()?.get(key).await
    }

    /// The rows selected by `opts`, as one batch.
    pub async fn scan(&self, opts: &ScanOptions) -> Result<RecordBatch> {
        self.snapshot()?.scan(opts).await
    }

    /// The rows selected by `opts` as a stream of bounded batches.
    pub async fn scan_stream(&self, opts: &ScanOptions) -> Result<ScanStream> {
        self.snapshot()?.scan_stream(opts)
    }

    /// Where rows are now.
    pub fn stats(&self) -> Result<DbStats> {
        let st = self.state()?;
        Ok(DbStats {
            immutable_memtables: st.immutables.len(),
            mutable_rows: lock(&st.mutable)?.rows(),
            ssts: st.version.ssts.len(),
            sst_rows: st.version.ssts.iter().map(|s| s.meta.rows).sum(),
            sst_bytes: st.version.ssts.iter().map(|s| s.meta.bytes).sum(),
            last_ts: st.last_ts,
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

    /// Marks the handle closed; later calls fail with [`crate::ErrorCode::Closed`]. Idempotent.
    pub async fn close(&self) -> Result<()> {
        let mut st = self
            .shared
            .state
            .lock()
            .map_err(|_| Error::Internal("state lock poisoned".into()))?;
        st.closed = true;
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

impl Snapshot {
    /// The read timestamp: commits at or below it are visible.
    pub fn ts(&self) -> Timestamp {
        self.ts
    }

    /// The row with this key as of this snapshot, or `None`.
    pub async fn get(&self, key: &[Value]) -> Result<Option<RecordBatch>> {
        let db = &self.db;
        let (key, _) = db.encode_key(key, false)?;
        let table = db.shared.schema.arrow();
        for mem in &self.mems {
            let mem = lock(mem)?;
            match mem.get(&key, self.ts) {
                Some((_, Entry::Row { batch, row })) => {
                    // Memtable batches are stored under the table schema: one zero-copy slice.
                    let found = mem
                        .batches()
                        .get(batch as usize)
                        .filter(|b| (row as usize) < b.num_rows())
                        .map(|b| b.slice(row as usize, 1))
                        .ok_or_else(|| Error::Internal("memtable entry out of range".into()))?;
                    return Ok(Some(found));
                }
                Some((_, Entry::Tombstone { .. })) => return Ok(None),
                None => {}
            }
        }
        let all: Vec<usize> = (0..table.fields().len()).collect();
        for sst in &self.version.ssts {
            match sst
                .get(db.shared.storage.as_ref(), &key, self.ts, &all)
                .await?
            {
                Some(Found::Row(batch, _)) => {
                    return Ok(Some(RecordBatch::try_new(
                        table.clone(),
                        batch.columns().to_vec(),
                    )?));
                }
                Some(Found::Deleted(_)) => return Ok(None),
                None => {}
            }
        }
        Ok(None)
    }

    /// The rows selected by `opts` as of this snapshot, as one batch.
    pub async fn scan(&self, opts: &ScanOptions) -> Result<RecordBatch> {
        self.scan_stream(opts)?.collect().await
    }

    /// The rows selected by `opts` as of this snapshot, as a stream of bounded batches.
    pub fn scan_stream(&self, opts: &ScanOptions) -> Result<ScanStream> {
        let db = &self.db;
        let table = db.shared.schema.arrow();
        let projection: Vec<usize> = match &opts.projection {
            None => (0..table.fields().len()).collect(),
            Some(names) => names
                .iter()
                .map(|n| db.column_index(n, "projection"))
                .collect::<Result<_>>()?,
        };
        let filter_cols: Vec<usize> = match &opts.filter {
            None => Vec::new(),
            Some(f) => f
                .columns()
                .iter()
                .map(|n| db.column_index(n, "filter"))
                .collect::<Result<_>>()?,
        };
        let mut needed: Vec<usize> = projection.iter().chain(&filter_cols).copied().collect();
        needed.sort_unstable();
        needed.dedup();
        let sst_fields = db.shared.sst_schema.fields();
        let needed_schema: SchemaRef = Arc::new(Schema::new(
            needed
                .iter()
                .filter_map(|&c| {
                    sst_fields
                        .get(c)
                        .map(|f| f.as_ref().clone().with_nullable(true))
                })
                .collect::<Vec<Field>>(),
        ));
        if let Some(f) = &opts.filter {
            f.validate(&needed_schema)?;
        }
        let output: Vec<usize> = projection
            .iter()
            .filter_map(|c| needed.iter().position(|n| n == c))
            .collect();
        let output_schema = Arc::new(table.project(&projection)?);
        let key_idx = db.shared.schema.key_indices();
        let mem_needed: Vec<_> = needed
            .iter()
            .map(|&c| {
                (
                    c,
                    key_idx.iter().position(|&k| k == c),
                    table.field(c).data_type().clone(),
                )
            })
            .collect();

        let mut sources = Vec::new();
        if let Some(range) = db.key_range(opts)? {
            let (lo, hi) = range.as_slices();
            for mem in &self.mems {
                sources.push(Source::Mem(MemSource::new(
                    mem.clone(),
                    range.start.clone(),
                    range.end.clone(),
                    self.ts,
                    opts.reverse,
                    mem_needed.clone(),
                )));
            }
            for sst in &self.version.ssts {
                if sst.overlaps(lo, hi) && sst.meta.min_ts <= self.ts {
                    sources.push(Source::Sst(sst.scan(
                        lo,
                        hi,
                        self.ts,
                        opts.reverse,
                        needed.clone(),
                    )));
                }
            }
        }
        Ok(ScanStream::new(
            sources,
            db.shared.storage.clone(),
            opts.reverse,
            opts.filter.clone(),
            needed_schema,
            output,
            output_schema,
            opts.limit,
        ))
    }
}
