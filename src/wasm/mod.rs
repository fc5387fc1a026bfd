//! The JS boundary (wasm-bindgen): converts and validates JS arguments, calls the pure-Rust
//! core, and returns Promises. No engine logic lives here.

mod convert;
mod storage;
pub(crate) mod timer;

use js_sys::{Array, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use std::sync::Arc;

use crate::db::{Db, DbBuilder};
use crate::error::{Error, Result};
use crate::storage::Storage;
use convert::{prop, to_js_error, to_key, to_key_names, to_scan_options, to_schema};

fn promise<F>(fut: F) -> Promise
where
    F: std::future::Future<Output = Result<JsValue>> + 'static,
{
    future_to_promise(async move { fut.await.map_err(to_js_error) })
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
            if let Some(t) = table.as_string() {
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
            let db = builder.open().await?;
            Ok(JsDb { db }.into())
        })
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
                .map_err(|m| Error::Storage(format!("storage check failed: {m}")))?;
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
    pub fn put(&self, rows: JsValue) -> Promise {
        let db = self.db.clone();
        promise(async move {
            let ts = if let Some(bytes) = rows.dyn_ref::<Uint8Array>() {
                db.put_ipc(&bytes.to_vec()).await?
            } else if Array::is_array(&rows) {
                let batch = convert::rows_to_batch(rows.unchecked_ref(), db.schema())?;
                db.put(batch).await?
            } else {
                return Err(Error::InvalidArgument(
                    "put takes an array of row objects or Arrow IPC stream bytes (Uint8Array)"
                        .into(),
                ));
            };
            Ok(JsValue::from_f64(ts as f64))
        })
    }

    /// Deletes a key (or, given an array of keys for a single-column key, each of them).
    pub fn delete(&self, key: JsValue) -> Promise {
        let db = self.db.clone();
        promise(async move {
            let ts = db.delete(&to_key(&key)?).await?;
            Ok(JsValue::from_f64(ts as f64))
        })
    }

    /// Resolves to the row with this key as an Arrow IPC stream (`Uint8Array`), or `null`.
    pub fn get(&self, key: JsValue) -> Promise {
        let db = self.db.clone();
        promise(async move {
            match db.get(&to_key(&key)?).await? {
                Some(batch) => {
                    let bytes = crate::ipc::encode_stream(&batch.schema(), &[batch])?;
                    Ok(Uint8Array::from(bytes.as_slice()).into())
                }
                None => Ok(JsValue::NULL),
            }
        })
    }

    /// Resolves to the selected rows as one Arrow IPC stream (`Uint8Array`).
    pub fn scan(&self, options: JsValue) -> Promise {
        let db = self.db.clone();
        promise(async move {
            let opts = to_scan_options(&options)?;
            let batch = db.scan(&opts).await?;
            let bytes = crate::ipc::encode_stream(&batch.schema(), &[batch])?;
            Ok(Uint8Array::from(bytes.as_slice()).into())
        })
    }

    /// A cursor over the selected rows: each `next()` resolves to one Arrow IPC stream of at
    /// most 8,192 rows (a complete stream, decodable on its own), or `null` at the end. Memory
    /// stays bounded whatever the scan's size. `scanBatches` wraps it as an async iterator.
    #[wasm_bindgen(js_name = scanCursor)]
    pub fn scan_cursor(&self, options: JsValue) -> Promise {
        let db = self.db.clone();
        promise(async move {
            let opts = to_scan_options(&options)?;
            let stream = db.scan_stream(&opts).await?;
            Ok(JsScanCursor {
                stream: std::rc::Rc::new(std::cell::RefCell::new(CursorState::Idle(Box::new(
                    stream,
                )))),
            }
            .into())
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
    /// `{ manifestVersion, lastTs, memtableRows, sstRows, sstBytes, levels: [{ level, files,
    /// bytes }], requests: { get, getRange, put, putConditional, list, delete, head, append,
    /// sync, total } }`.
    pub fn stats(&self) -> std::result::Result<JsValue, JsValue> {
        let st = self.db.stats().map_err(to_js_error)?;
        let r = self.db.request_counts();
        let levels: Array = st
            .levels
            .iter()
            .map(|(level, files, bytes)| {
                object(&[
                    ("level", JsValue::from_f64(f64::from(*level))),
                    ("files", JsValue::from_f64(*files as f64)),
                    ("bytes", JsValue::from_f64(*bytes as f64)),
                ])
            })
            .collect();
        let n = |v: u64| JsValue::from_f64(v as f64);
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
            ("sstRows", n(st.sst_rows)),
            ("sstBytes", n(st.sst_bytes)),
            ("levels", levels.into()),
            ("requests", requests),
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
