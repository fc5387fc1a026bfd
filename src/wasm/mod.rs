//! The JS boundary (wasm-bindgen): converts and validates JS arguments, calls the pure-Rust
//! core, and returns Promises. No engine logic lives here.

mod convert;
mod options;
mod storage;
pub(crate) mod task;
pub(crate) mod timer;

use js_sys::{Array, Promise, Uint8Array};
use wasm_bindgen::prelude::*;

use std::sync::Arc;

use crate::db::{Db, DbBuilder};
use crate::error::{Error, Result};
use crate::storage::Storage;
use convert::{prop, to_js_error, to_key, to_key_names, to_keys, to_scan_options, to_schema};

fn promise<F>(fut: F) -> Promise
where
    F: std::future::Future<Output = Result<JsValue>> + 'static,
{
    task::promise(async move { fut.await.map_err(to_js_error) })
}

/// Like [`promise`], for the hot calls: the value itself when the work finished within the
/// call (see `task::value_or_promise`). Only for methods js/api.js wraps, and only for
/// futures that call no throwing JS: convert JS arguments before making the future.
fn value_or_promise<F>(fut: F) -> std::result::Result<JsValue, JsValue>
where
    F: std::future::Future<Output = Result<JsValue>> + 'static,
{
    task::value_or_promise(async move { fut.await.map_err(to_js_error) })
}

use crate::storage::js::object;

/// Where a cursor is.
enum CursorState {
    /// Ready for `next`.
    Idle(Box<crate::read::merge::ScanStream>),
    /// A `next` is running.
    Busy,
    /// Every row was returned.
    Done,
    /// A `next` failed; the scan cannot go on.
    Failed,
}

/// A running scan; see `Db.scanCursor`.
#[wasm_bindgen(js_name = ScanCursor)]
pub struct JsScanCursor {
    stream: std::rc::Rc<std::cell::RefCell<CursorState>>,
}

impl JsScanCursor {
    /// Runs one step, keeping the state honest: overlapping calls and calls after a failure
    /// reject instead of looking like the end of the scan.
    async fn step<T>(
        cell: std::rc::Rc<std::cell::RefCell<CursorState>>,
        f: impl FnOnce(arrow_array::RecordBatch) -> Result<T>,
    ) -> Result<Option<T>> {
        let state = std::mem::replace(&mut *cell.borrow_mut(), CursorState::Busy);
        let mut stream = match state {
            CursorState::Idle(s) => s,
            CursorState::Done => {
                *cell.borrow_mut() = CursorState::Done;
                return Ok(None);
            }
            CursorState::Busy => {
                return Err(Error::InvalidArgument(
                    "a scan cursor's next() was called before the previous call resolved".into(),
                ));
            }
            CursorState::Failed => {
                *cell.borrow_mut() = CursorState::Failed;
                return Err(Error::InvalidArgument(
                    "this scan cursor failed earlier; start a new scan".into(),
                ));
            }
        };
        match stream.next().await.and_then(|b| b.map(f).transpose()) {
            Ok(Some(out)) => {
                *cell.borrow_mut() = CursorState::Idle(stream);
                Ok(Some(out))
            }
            Ok(None) => {
                *cell.borrow_mut() = CursorState::Done;
                Ok(None)
            }
            Err(e) => {
                *cell.borrow_mut() = CursorState::Failed;
                Err(e)
            }
        }
    }
}

#[wasm_bindgen(js_class = ScanCursor)]
impl JsScanCursor {
    /// The next batch as an array of plain row objects, or `null` when the scan is done.
    #[wasm_bindgen(js_name = nextRows)]
    pub fn next_rows(&self) -> Promise {
        let cell = self.stream.clone();
        promise(async move {
            let rows = Self::step(cell, |b| convert::batch_to_rows(&b)).await?;
            Ok(rows.map_or(JsValue::NULL, JsValue::from))
        })
    }

    /// The next batch as a complete Arrow IPC stream, or `null` when the scan is done.
    pub fn next(&self) -> Promise {
        let cell = self.stream.clone();
        promise(async move {
            let bytes = Self::step(cell, |b| crate::ipc::encode_stream(&b.schema(), &[b])).await?;
            Ok(bytes.map_or(JsValue::NULL, |b| Uint8Array::from(b.as_slice()).into()))
        })
    }
}

impl JsScanCursor {
    fn new(stream: crate::read::merge::ScanStream) -> Self {
        Self {
            stream: std::rc::Rc::new(std::cell::RefCell::new(CursorState::Idle(Box::new(stream)))),
        }
    }
}

/// A one-row batch (or none) as the JS result of `get`.
fn row_result(batch: Option<arrow_array::RecordBatch>) -> Result<JsValue> {
    match batch {
        Some(batch) => {
            let bytes = crate::ipc::encode_stream(&batch.schema(), &[batch])?;
            Ok(Uint8Array::from(bytes.as_slice()).into())
        }
        None => Ok(JsValue::NULL),
    }
}

/// A finished scan as its JS result: one IPC stream, its pieces copied straight into one JS
/// buffer.
async fn scan_result(stream: crate::read::merge::ScanStream) -> Result<JsValue> {
    let (schema, batches) = stream.collect_batches().await?;
    encode_result(&schema, batches)
}

/// A scan's batches as one Arrow IPC stream in a JS buffer.
fn encode_result(
    schema: &arrow_schema::SchemaRef,
    batches: Vec<arrow_array::RecordBatch>,
) -> Result<JsValue> {
    // The pieces share the batches' buffers: the columns are copied once, into the answer.
    let parts = crate::ipc::encode_parts(schema, &batches)?;
    drop(batches);
    let total: usize = parts.iter().map(|p| p.as_slice().len()).sum();
    let len = u32::try_from(total).map_err(|_| {
        Error::InvalidArgument(format!(
            "a scan result of {total} bytes exceeds a JS buffer's 4 GiB: scan fewer rows \
             (a limit or narrower bounds) or use scanCursor"
        ))
    })?;
    let out = Uint8Array::new_with_length(len);
    let mut at = 0u32;
    for p in &parts {
        let p = p.as_slice();
        // Lengths fit: each is a part of `total`.
        let end = at + p.len() as u32;
        out.subarray(at, end).copy_from(p);
        at = end;
    }
    Ok(out.into())
}

/// `put`'s argument as a batch of the table's schema: row objects or IPC bytes.
fn rows_arg(db: &Db, rows: &JsValue) -> Result<arrow_array::RecordBatch> {
    if let Some(bytes) = rows.dyn_ref::<Uint8Array>() {
        return db.ipc_batch(&bytes.to_vec());
    }
    if let Some(buf) = rows.dyn_ref::<js_sys::ArrayBuffer>() {
        return db.ipc_batch(&Uint8Array::new(buf).to_vec());
    }
    if Array::is_array(rows) {
        return convert::rows_to_batch(rows.unchecked_ref(), db.schema());
    }
    let arrow_like = rows.is_object()
        && !prop(rows, "schema")?.is_undefined()
        && !prop(rows, "batches")?.is_undefined();
    Err(Error::InvalidArgument(if arrow_like {
        "put takes Arrow IPC bytes, not an apache-arrow Table: pass tableToIPC(table, \"stream\")"
            .into()
    } else {
        "put takes an array of row objects or Arrow IPC stream bytes (Uint8Array)".into()
    }))
}

/// A batch from packed rows (js/pack.js), checked against the table's schema.
fn packed_arg(db: &Db, packed: &[u8]) -> Result<arrow_array::RecordBatch> {
    let schema = db.schema();
    let mut b = crate::rows::RowsBuilder::new(schema.arrow().clone(), schema.key_indices())?;
    b.push_packed(packed)?;
    b.finish()
}

/// The table's column names, in order (what js/pack.js packs rows by).
fn column_names(db: &Db) -> Array {
    db.schema()
        .arrow()
        .fields()
        .iter()
        .map(|f| JsValue::from_str(f.name()))
        .collect()
}

/// A read-only view of the table at one timestamp; see `Db.snapshot` and `Db.at`. Holding it
/// keeps the versions it reads from compaction and GC: call `release()` when done.
#[wasm_bindgen(js_name = Snapshot)]
pub struct JsSnapshot {
    snap: crate::db::Snapshot,
}

#[wasm_bindgen(js_class = Snapshot)]
impl JsSnapshot {
    /// The read timestamp: commits at or below it are visible.
    #[wasm_bindgen(getter)]
    pub fn timestamp(&self) -> f64 {
        self.snap.ts() as f64
    }

    /// The row with this key as of the snapshot (Arrow IPC), or `null`.
    pub fn get(&self, key: JsValue) -> std::result::Result<JsValue, JsValue> {
        let snap = self.snap.clone();
        let key = to_key(&key).map_err(to_js_error)?;
        value_or_promise(async move { row_result(snap.get(&key).await?) })
    }

    /// The selected rows as of the snapshot, as one Arrow IPC stream.
    pub fn scan(&self, options: JsValue) -> Promise {
        let snap = self.snap.clone();
        promise(
            async move { scan_result(snap.scan_stream(&to_scan_options(&options)?).await?).await },
        )
    }

    /// A cursor over the selected rows as of the snapshot.
    #[wasm_bindgen(js_name = scanCursor)]
    pub fn scan_cursor(&self, options: JsValue) -> Promise {
        let snap = self.snap.clone();
        promise(async move {
            let stream = snap.scan_stream(&to_scan_options(&options)?).await?;
            Ok(JsScanCursor::new(stream).into())
        })
    }
}

/// Where a transaction is: open (shared with reads in flight) or finished.
type TxnCell = std::rc::Rc<std::cell::RefCell<Option<std::rc::Rc<crate::db::Transaction>>>>;

/// An optimistic transaction; see `Db.transaction`. Reads see its own writes; `commit`
/// rejects with `CONFLICT` if another commit wrote one of its keys after it began.
#[wasm_bindgen(js_name = Transaction)]
pub struct JsTxn {
    txn: TxnCell,
}

impl JsTxn {
    fn open(cell: &TxnCell) -> Result<std::rc::Rc<crate::db::Transaction>> {
        cell.borrow().clone().ok_or_else(|| {
            Error::InvalidArgument(
                "this transaction has already committed or aborted; start a new one".into(),
            )
        })
    }
}

#[wasm_bindgen(js_class = Transaction)]
impl JsTxn {
    /// The snapshot timestamp the transaction reads at.
    #[wasm_bindgen(getter, js_name = readTimestamp)]
    pub fn read_timestamp(&self) -> f64 {
        self.txn
            .borrow()
            .as_ref()
            .map_or(0.0, |t| t.read_ts() as f64)
    }

    /// The row with this key (seeing this transaction's writes) as Arrow IPC, or `null`.
    pub fn get(&self, key: JsValue) -> std::result::Result<JsValue, JsValue> {
        let txn = Self::open(&self.txn).map_err(to_js_error)?;
        let key = to_key(&key).map_err(to_js_error)?;
        value_or_promise(async move { row_result(txn.get(&key).await?) })
    }

    /// The selected rows (seeing this transaction's writes) as one Arrow IPC stream.
    pub fn scan(&self, options: JsValue) -> Promise {
        let cell = self.txn.clone();
        promise(async move {
            let txn = Self::open(&cell)?;
            scan_result(txn.scan_stream(&to_scan_options(&options)?).await?).await
        })
    }

    /// A cursor over the selected rows, seeing this transaction's writes.
    #[wasm_bindgen(js_name = scanCursor)]
    pub fn scan_cursor(&self, options: JsValue) -> Promise {
        let cell = self.txn.clone();
        promise(async move {
            let txn = Self::open(&cell)?;
            let stream = txn.scan_stream(&to_scan_options(&options)?).await?;
            Ok(JsScanCursor::new(stream).into())
        })
    }

    /// Buffers an upsert of rows (objects or IPC bytes) in the transaction.
    pub fn put(&self, rows: JsValue) -> Promise {
        let cell = self.txn.clone();
        promise(async move {
            let txn = Self::open(&cell)?;
            let batch = rows_arg(txn.db(), &rows)?;
            txn.put(batch)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// `put` of rows packed by js/pack.js.
    #[wasm_bindgen(js_name = putPacked)]
    pub fn put_packed(&self, packed: Vec<u8>) -> Promise {
        let cell = self.txn.clone();
        promise(async move {
            let txn = Self::open(&cell)?;
            let batch = packed_arg(txn.db(), &packed)?;
            txn.put(batch)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The column names in table order.
    #[wasm_bindgen(js_name = columnNames)]
    pub fn column_names(&self) -> Result<Array, JsValue> {
        let txn = Self::open(&self.txn).map_err(to_js_error)?;
        Ok(column_names(txn.db()))
    }

    /// Buffers the delete of a key (or of each key in an array) in the transaction.
    pub fn delete(&self, key: JsValue) -> Promise {
        let cell = self.txn.clone();
        promise(async move {
            let txn = Self::open(&cell)?;
            let keys = to_keys(&key, txn.db().schema().key_indices().len())?;
            txn.delete_many(&keys)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Commits every buffered write with one timestamp (resolved), or rejects with
    /// `CONFLICT` and writes nothing.
    pub fn commit(&self) -> Promise {
        let cell = self.txn.clone();
        promise(async move {
            let txn = Self::open(&cell)?;
            *cell.borrow_mut() = None;
            let txn = std::rc::Rc::try_unwrap(txn).map_err(|t| {
                *cell.borrow_mut() = Some(t);
                Error::InvalidArgument(
                    "commit() was called while a read of this transaction was still running; \
                     await every read first"
                        .into(),
                )
            })?;
            Ok(JsValue::from_f64(txn.commit().await? as f64))
        })
    }

    /// Drops every buffered write. Idempotent.
    pub fn abort(&self) {
        self.txn.borrow_mut().take();
    }
}

/// Entry point of the JS API.
#[wasm_bindgen]
pub struct Anax;

#[wasm_bindgen]
impl Anax {
    /// Opens a table.
    ///
    /// ```js
    /// const db = await Anax.open({
    ///   schema: { id: "utf8", name: "utf8", score: "float64" },
    ///   key: "id",
    ///   storage: { kind: "memory" },
    /// });
    /// ```
    pub fn open(options: JsValue) -> Promise {
        promise(async move {
            if !options.is_object() {
                return Err(Error::InvalidArgument(
                    "Anax.open takes an options object { schema, key, storage }".into(),
                ));
            }
            let key = to_key_names(&prop(&options, "key")?)?;
            let schema = to_schema(&prop(&options, "schema")?, &key)?;
            let names: Vec<&str> = key.iter().map(String::as_str).collect();
            let mut builder = DbBuilder::from_schema_key_names(schema, &names);
            let table = prop(&options, "tableName")?;
            if let Some(t) = convert::exact_string(&table, &|| "tableName".into())? {
                builder = builder.table_name(t);
            } else if !table.is_undefined() {
                return Err(Error::InvalidArgument("tableName must be a string".into()));
            }
            let storage = prop(&options, "storage")?;
            builder = match storage::to_storage(&storage)? {
                storage::Choice::Memory => builder.in_memory("js"),
                storage::Choice::Opfs(path) => builder.opfs(path),
                storage::Choice::Store(s) => builder.with_storage(s),
            };
            let builder = options::apply(&options, builder)?;
            let db = builder.open().await?;
            Ok(JsDb { db }.into())
        })
    }

    /// Test hook: executes a wasm trap, what a Rust panic compiles to, either at once
    /// (`"sync"`) or inside a task of the executor (`"async"`). The JS layer must turn both
    /// into `INTERNAL` rejections and refuse further calls; the tests call this last.
    #[wasm_bindgen(js_name = __trapForTests)]
    pub fn trap_for_tests(mode: JsValue) -> std::result::Result<Promise, JsValue> {
        match mode.as_string().as_deref() {
            Some("sync") => core::arch::wasm32::unreachable(),
            Some("async") => Ok(promise(async { core::arch::wasm32::unreachable() })),
            _ => Err(to_js_error(Error::InvalidArgument(
                "__trapForTests takes \"sync\" or \"async\"".into(),
            ))),
        }
    }

    /// Checks that a storage backend honours Anax's contract (ranged reads, listing, deletes,
    /// create-if-absent and compare-and-swap races between two clients) by running the
    /// conformance suite under a scratch prefix it removes afterwards. Resolves to the number
    /// of cases passed; rejects with the first broken expectation.
    #[wasm_bindgen(js_name = checkStorage)]
    #[allow(clippy::arc_with_non_send_sync)] // one thread in wasm
    pub fn check_storage(storage: JsValue) -> Promise {
        promise(async move {
            let (a, b): (Arc<dyn Storage>, Arc<dyn Storage>) = match (
                storage::to_storage(&storage)?,
                storage::to_storage(&storage)?,
            ) {
                (storage::Choice::Store(a), storage::Choice::Store(b)) => (a, b),
                (storage::Choice::Opfs(path), _) => {
                    // One writer lock per database: both clients share the handle and
                    // race through it (the Web Lock per object still serializes them).
                    let o: Arc<dyn Storage> =
                        Arc::new(crate::storage::Opfs::open(&format!("{path}.check")).await?);
                    (o.clone(), o)
                }
                _ => {
                    let m = Arc::new(crate::storage::MemoryStorage::new());
                    (m.clone(), m)
                }
            };
            let root = format!("conformance/{:016x}", crate::codec::random_u64()?);
            let passed = crate::storage::conformance::run(a.as_ref(), Some(b.as_ref()), &root)
                .await
                .map_err(|m| Error::storage(format!("storage check failed: {m}")))?;
            Ok(JsValue::from_f64(passed as f64))
        })
    }
}

/// An open table. Every method returns a Promise; failures reject with an `AnaxError`.
#[wasm_bindgen(js_name = Db)]
pub struct JsDb {
    db: Db,
}

#[wasm_bindgen(js_class = Db)]
impl JsDb {
    /// Upserts rows: an array of plain objects, or Arrow IPC stream bytes. Resolves to the
    /// commit timestamp (a number).
    pub fn put(&self, rows: JsValue) -> std::result::Result<JsValue, JsValue> {
        let db = self.db.clone();
        let batch = rows_arg(&db, &rows).map_err(to_js_error)?;
        value_or_promise(async move { Ok(JsValue::from_f64(db.put(batch).await? as f64)) })
    }

    /// `put` of rows packed by js/pack.js (the JS layer's fast path for scalar cells).
    #[wasm_bindgen(js_name = putPacked)]
    pub fn put_packed(&self, packed: Vec<u8>) -> std::result::Result<JsValue, JsValue> {
        let db = self.db.clone();
        let batch = packed_arg(&db, &packed).map_err(to_js_error)?;
        value_or_promise(async move { Ok(JsValue::from_f64(db.put(batch).await? as f64)) })
    }

    /// The column names in table order.
    #[wasm_bindgen(js_name = columnNames)]
    pub fn column_names(&self) -> Array {
        column_names(&self.db)
    }

    /// Deletes a key, or every key of an array of keys, in one commit (a composite key is an
    /// array of its parts; several are an array of such arrays). Resolves to the commit
    /// timestamp.
    pub fn delete(&self, key: JsValue) -> Promise {
        let db = self.db.clone();
        promise(async move {
            let keys = to_keys(&key, db.schema().key_indices().len())?;
            Ok(JsValue::from_f64(db.delete_many(&keys).await? as f64))
        })
    }

    /// Resolves to the row with this key as an Arrow IPC stream (`Uint8Array`), or `null`.
    /// `options.freshness: "strict"` also sees every commit other handles made before the
    /// call (one manifest read, issued together with the data reads); `maxStalenessMs`
    /// checks only when the handle's last check is older than that.
    pub fn get(&self, key: JsValue, options: JsValue) -> std::result::Result<JsValue, JsValue> {
        let db = self.db.clone();
        let key = to_key(&key).map_err(to_js_error)?;
        let freshness = options::to_freshness(&options).map_err(to_js_error)?;
        value_or_promise(async move { row_result(db.get_fresh(&key, freshness).await?) })
    }

    /// Resolves to the selected rows as one Arrow IPC stream (`Uint8Array`). The options may
    /// also name a freshness, as `get`'s do.
    pub fn scan(&self, options: JsValue) -> Promise {
        let db = self.db.clone();
        promise(async move {
            let freshness = options::scan_freshness(&options)?;
            let opts = to_scan_options(&options)?;
            let (schema, batches) = db.scan_batches_fresh(&opts, freshness).await?;
            encode_result(&schema, batches)
        })
    }

    /// A cursor over the selected rows: each `next()` resolves to one Arrow IPC stream of at
    /// most 8,192 rows (a complete stream, decodable on its own), or `null` at the end. Memory
    /// stays bounded whatever the scan's size. `scanBatches` wraps it as an async iterator.
    /// The options may name a freshness, as `scan`'s do: the check is made when the cursor is
    /// created, and every row comes from the view it settled on.
    #[wasm_bindgen(js_name = scanCursor)]
    pub fn scan_cursor(&self, options: JsValue) -> Promise {
        let db = self.db.clone();
        promise(async move {
            let freshness = options::scan_freshness(&options)?;
            let opts = to_scan_options(&options)?;
            let stream = db.scan_stream_fresh(&opts, freshness).await?;
            Ok(JsScanCursor::new(stream).into())
        })
    }

    /// Starts a transaction at the newest commit (`Db.transaction(fn)` in JS wraps it).
    #[wasm_bindgen(js_name = beginTransaction)]
    pub fn begin_transaction(&self) -> std::result::Result<JsTxn, JsValue> {
        let txn = self.db.transaction().map_err(to_js_error)?;
        Ok(JsTxn {
            txn: std::rc::Rc::new(std::cell::RefCell::new(Some(std::rc::Rc::new(txn)))),
        })
    }

    /// A consistent read view of everything committed so far.
    pub fn snapshot(&self) -> std::result::Result<JsSnapshot, JsValue> {
        let snap = self.db.snapshot().map_err(to_js_error)?;
        Ok(JsSnapshot { snap })
    }

    /// Every retained version, oldest first: `[{ version, timestamp, wallMs, kind, ssts,
    /// bytes, added, removed }]`.
    pub fn versions(&self) -> Promise {
        let db = self.db.clone();
        promise(async move {
            let list: Array = db
                .versions()
                .await?
                .iter()
                .map(|h| {
                    let n = |v: u64| JsValue::from_f64(v as f64);
                    let kind = match h.kind {
                        crate::manifest::EditKind::Init => "init",
                        crate::manifest::EditKind::Put => "put",
                        crate::manifest::EditKind::Flush => "flush",
                        crate::manifest::EditKind::Compact => "compact",
                        crate::manifest::EditKind::Gc => "gc",
                        crate::manifest::EditKind::Claim => "claim",
                    };
                    object(&[
                        ("version", n(h.version)),
                        ("timestamp", n(h.ts)),
                        ("wallMs", n(h.wall_ms)),
                        ("kind", JsValue::from_str(kind)),
                        ("ssts", n(h.ssts.into())),
                        ("bytes", n(h.bytes)),
                        ("added", n(h.added.into())),
                        ("removed", n(h.removed.into())),
                    ])
                })
                .collect();
            Ok(list.into())
        })
    }

    /// A read-only view as of a retained version: a version number, `{ version }`, or
    /// `{ timestamp }` (everything committed at or before that commit timestamp).
    pub fn at(&self, at: JsValue) -> Promise {
        let db = self.db.clone();
        promise(async move {
            let whole = |v: &JsValue, what: &str| {
                v.as_f64()
                    .filter(|n| *n >= 0.0 && n.fract() == 0.0 && *n <= 9_007_199_254_740_991.0)
                    .map(|n| n as u64)
                    .ok_or_else(|| {
                        Error::InvalidArgument(format!(
                            "at(): {what} must be a non-negative integer"
                        ))
                    })
            };
            let snap = if at.as_f64().is_some() {
                db.at_version(whole(&at, "the version")?).await?
            } else if at.is_object() && !prop(&at, "version")?.is_undefined() {
                db.at_version(whole(&prop(&at, "version")?, "version")?)
                    .await?
            } else if at.is_object() && !prop(&at, "timestamp")?.is_undefined() {
                db.at_timestamp(whole(&prop(&at, "timestamp")?, "timestamp")?)
                    .await?
            } else {
                return Err(Error::InvalidArgument(
                    "at() takes a version number, { version } or { timestamp }".into(),
                ));
            };
            Ok(JsSnapshot { snap }.into())
        })
    }

    /// Makes every acknowledged commit durable (for `commitAckMode: "fast"` and relaxed WAL
    /// sync policies).
    pub fn sync(&self) -> Promise {
        let db = self.db.clone();
        promise(async move {
            db.sync().await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Runs up to `maxJobs` (default 1) of the compaction strategy's pending jobs, e.g. from
    /// a cron on another handle of the same prefix; resolves to the number run.
    #[wasm_bindgen(js_name = compactPending)]
    pub fn compact_pending(&self, max_jobs: JsValue) -> Promise {
        let db = self.db.clone();
        promise(async move {
            let n = if max_jobs.is_undefined() || max_jobs.is_null() {
                1
            } else {
                max_jobs
                    .as_f64()
                    .filter(|n| *n >= 1.0 && n.fract() == 0.0 && *n <= 1_000.0)
                    .ok_or_else(|| {
                        Error::InvalidArgument(
                            "compactPending(maxJobs): maxJobs must be an integer from 1 to 1000"
                                .into(),
                        )
                    })? as usize
            };
            Ok(JsValue::from_f64(db.compact_pending(n).await?.len() as f64))
        })
    }

    /// Seals the memtable and writes it to an SST now.
    pub fn flush(&self) -> Promise {
        let db = self.db.clone();
        promise(async move {
            db.flush().await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Merges the table's SSTs into one; resolves to `{ inputs, rowsIn, rowsOut, bytesOut }`.
    pub fn compact(&self) -> Promise {
        let db = self.db.clone();
        promise(async move {
            let r = db.compact().await?;
            Ok(object(&[
                ("inputs", JsValue::from_f64(r.inputs as f64)),
                ("rowsIn", JsValue::from_f64(r.rows_in as f64)),
                ("rowsOut", JsValue::from_f64(r.rows_out as f64)),
                ("bytesOut", JsValue::from_f64(r.bytes_out as f64)),
            ]))
        })
    }

    /// Garbage collection (expired history, dropped and orphaned files, old WAL segments);
    /// resolves to counts of what it deleted.
    pub fn gc(&self) -> Promise {
        let db = self.db.clone();
        promise(async move {
            let r = db.gc().await?;
            Ok(object(&[
                ("sstsDeleted", JsValue::from_f64(r.ssts_deleted as f64)),
                (
                    "orphansDeleted",
                    JsValue::from_f64(r.orphans_deleted as f64),
                ),
                (
                    "walSegmentsDeleted",
                    JsValue::from_f64(r.wal_segments_deleted as f64),
                ),
                (
                    "archivesDeleted",
                    JsValue::from_f64(r.archives_deleted as f64),
                ),
                ("historyFloor", JsValue::from_f64(r.history_floor as f64)),
            ]))
        })
    }

    /// Re-reads the manifest (one request) so other writers' commits become visible;
    /// resolves to whether anything changed.
    pub fn refresh(&self) -> Promise {
        let db = self.db.clone();
        promise(async move { Ok(JsValue::from_bool(db.refresh().await?)) })
    }

    /// Where the rows are and what storage requests this handle made so far:
    /// `{ wasmMemoryBytes, manifestVersion, lastTs, memtableRows, unsortedRows, sealedMemtables,
    /// sortedMemtables, sstRows, sstBytes, levels:
    /// [{ level, files, rows, bytes }], compaction: { jobs, followUps, dropped, conflicts,
    /// failed, rowsIn, rowsOut, bytesIn, bytesOut, slowdowns, stalls }, requests: { get,
    /// getRange, put, putConditional, list, delete, head, append, sync, bytesRead,
    /// bytesWritten, total } }`.
    pub fn stats(&self) -> std::result::Result<JsValue, JsValue> {
        let st = self.db.stats().map_err(to_js_error)?;
        let r = self.db.request_counts();
        let n = |v: u64| JsValue::from_f64(v as f64);
        let levels: Array = st
            .levels
            .iter()
            .zip(st.level_rows.iter())
            .map(|((level, files, bytes), rows)| {
                object(&[
                    ("level", JsValue::from_f64(f64::from(*level))),
                    ("files", n(*files as u64)),
                    ("rows", n(*rows)),
                    ("bytes", n(*bytes)),
                ])
            })
            .collect();
        let c = &st.compaction;
        let compaction = object(&[
            ("jobs", n(c.jobs)),
            ("followUps", n(c.follow_ups)),
            ("dropped", n(c.dropped)),
            ("conflicts", n(c.conflicts)),
            ("failed", n(c.failed)),
            ("rowsIn", n(c.rows_in)),
            ("rowsOut", n(c.rows_out)),
            ("bytesIn", n(c.bytes_in)),
            ("bytesOut", n(c.bytes_out)),
            ("slowdowns", n(c.slowdowns)),
            ("stalls", n(c.stalls)),
        ]);
        let requests = object(&[
            ("get", n(r.get)),
            ("getRange", n(r.get_range)),
            ("put", n(r.put)),
            ("putConditional", n(r.put_conditional)),
            ("list", n(r.list)),
            ("delete", n(r.delete)),
            ("head", n(r.head)),
            ("append", n(r.append)),
            ("sync", n(r.sync)),
            ("bytesRead", n(r.bytes_read)),
            ("bytesWritten", n(r.bytes_written)),
            ("total", n(r.total())),
        ]);
        // The module's linear memory (it only grows): what this isolate's Anax costs.
        let memory = wasm_bindgen::memory()
            .dyn_into::<js_sys::WebAssembly::Memory>()
            .map(|m| {
                m.buffer()
                    .unchecked_into::<js_sys::ArrayBuffer>()
                    .byte_length()
            })
            .unwrap_or(0);
        Ok(object(&[
            ("wasmMemoryBytes", JsValue::from_f64(f64::from(memory))),
            ("manifestVersion", n(st.manifest_version)),
            ("lastTs", n(st.last_ts)),
            ("memtableRows", n(st.mutable_rows as u64)),
            ("unsortedRows", n(st.mutable_unsorted_rows as u64)),
            ("sealedMemtables", n(st.immutable_memtables as u64)),
            ("sortedMemtables", n(st.sorted_memtables as u64)),
            ("sstRows", n(st.sst_rows)),
            ("sstBytes", n(st.sst_bytes)),
            ("levels", levels.into()),
            ("compaction", compaction),
            ("requests", requests),
            (
                "walCutSegments",
                st.wal_cut_segments
                    .iter()
                    .map(|s| n(*s))
                    .collect::<Array>()
                    .into(),
            ),
            ("walCutBytes", n(st.wal_cut_bytes)),
        ]))
    }

    /// Closes the handle; later calls reject with code `CLOSED`. Idempotent.
    pub fn close(&self) -> Promise {
        let db = self.db.clone();
        promise(async move {
            db.close().await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}
