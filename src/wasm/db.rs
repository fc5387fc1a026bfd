//! `Db`: the JS class of an open table, its writes, reads, views and upkeep.

use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;

use super::options;
use super::read::{self, View};
use super::reply::{promise, to_js_error, value_or_promise};
use super::rows_in::{column_names, packed_arg, packed_bytes, rows_arg};
use super::snapshot::JsSnapshot;
use super::transaction::JsTxn;
use super::value::{prop, to_keys};
use crate::db::Db;
use crate::error::Error;
use crate::storage::js::object;

/// An open table. Every method returns a Promise; failures reject with an `AnaxError`.
#[wasm_bindgen(js_name = Db)]
pub struct JsDb {
    db: Db,
}

impl JsDb {
    pub(super) fn new(db: Db) -> Self {
        Self { db }
    }
}

#[wasm_bindgen(js_class = Db)]
impl JsDb {
    /// Upserts rows: an array of plain objects, or Arrow IPC bytes (stream or file format).
    /// Resolves to the commit timestamp (a number).
    pub fn put(&self, rows: JsValue) -> std::result::Result<JsValue, JsValue> {
        let db = self.db.clone();
        let batch = rows_arg(&db, &rows).map_err(to_js_error)?;
        value_or_promise(async move { Ok(JsValue::from_f64(db.put(batch).await? as f64)) })
    }

    /// `put` of rows packed by js/pack.js (the JS layer's fast path for scalar cells).
    #[wasm_bindgen(js_name = putPacked)]
    pub fn put_packed(&self, packed: &js_sys::Uint8Array) -> std::result::Result<JsValue, JsValue> {
        let packed = packed_bytes(packed);
        let db = self.db.clone();
        let batch = packed_arg(&db, packed).map_err(to_js_error)?;
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
        read::get(&key, move || {
            Ok(View::Live(db, options::to_freshness(&options)?))
        })
    }

    /// Resolves to the row with this key as a plain object (`{ column: value }`, as
    /// `ScanCursor.nextRows` makes them), or `null`, at the freshness `options` names (as
    /// `get`'s).
    #[wasm_bindgen(js_name = getRow)]
    pub fn get_row(&self, key: JsValue, options: JsValue) -> std::result::Result<JsValue, JsValue> {
        let db = self.db.clone();
        read::get_row(&key, move || {
            Ok(View::Live(db, options::to_freshness(&options)?))
        })
    }

    /// Resolves to the selected rows as one Arrow IPC stream (`Uint8Array`). The options may
    /// also name a freshness, as `get`'s do.
    pub fn scan(&self, options: JsValue) -> Promise {
        let db = self.db.clone();
        read::scan(options, move |o| {
            Ok(View::Live(db, options::scan_freshness(o)?))
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
        read::scan_cursor(options, move |o| {
            Ok(View::Live(db, options::scan_freshness(o)?))
        })
    }

    /// How many rows `scan(options)` would return, at the freshness the options name, without
    /// returning them.
    pub fn count(&self, options: JsValue) -> Promise {
        let db = self.db.clone();
        read::count(options, move |o| {
            Ok(View::Live(db, options::scan_freshness(o)?))
        })
    }

    /// Starts a transaction at the newest commit (`Db.transaction(fn)` in JS wraps it).
    #[wasm_bindgen(js_name = beginTransaction)]
    pub fn begin_transaction(&self) -> std::result::Result<JsTxn, JsValue> {
        let txn = self.db.transaction().map_err(to_js_error)?;
        Ok(JsTxn::new(txn))
    }

    /// A consistent read view of everything committed so far.
    pub fn snapshot(&self) -> std::result::Result<JsSnapshot, JsValue> {
        let snap = self.db.snapshot().map_err(to_js_error)?;
        Ok(JsSnapshot::new(snap))
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
            Ok(JsSnapshot::new(snap).into())
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
    /// a cron on another handle of the same prefix; resolves to the number run. `options`
    /// takes `signal` and `onProgress`, as `compact` does.
    #[wasm_bindgen(js_name = compactPending)]
    pub fn compact_pending(&self, max_jobs: JsValue, options: JsValue) -> Promise {
        let db = self.db.clone();
        let control = super::control::only(&options, "compactPending");
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
            let control = control?;
            Ok(JsValue::from_f64(
                db.compact_pending_with(n, &control).await?.len() as f64,
            ))
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
    /// `options.signal` stops it before it publishes (`ABORTED`); `options.onProgress` hears
    /// the versions merged.
    pub fn compact(&self, options: JsValue) -> Promise {
        let db = self.db.clone();
        let control = super::control::only(&options, "compact");
        promise(async move {
            let r = db.compact_with(&control?).await?;
            Ok(object(&[
                ("inputs", JsValue::from_f64(r.inputs as f64)),
                ("rowsIn", JsValue::from_f64(r.rows_in as f64)),
                ("rowsOut", JsValue::from_f64(r.rows_out as f64)),
                ("bytesOut", JsValue::from_f64(r.bytes_out as f64)),
            ]))
        })
    }

    /// Garbage collection (expired history, dropped and orphaned files, old WAL segments);
    /// resolves to counts of what it deleted. `options.signal` stops it between deletions
    /// (`ABORTED`; the next pass deletes the rest); `options.onProgress` hears its steps.
    pub fn gc(&self, options: JsValue) -> Promise {
        let db = self.db.clone();
        let control = super::control::only(&options, "gc");
        promise(async move {
            let r = db.gc_with(&control?).await?;
            Ok(object(&[
                ("sstsDeleted", JsValue::from_f64(r.ssts_deleted as f64)),
                ("notesDeleted", JsValue::from_f64(r.notes_deleted as f64)),
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

    /// Resolves once no compaction job runs on this handle, background ones included (pass it
    /// to a Worker's `ctx.waitUntil` when `compaction.background` is on).
    pub fn idle(&self) -> Promise {
        let db = self.db.clone();
        promise(async move {
            db.idle().await?;
            Ok(JsValue::UNDEFINED)
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
            ("running", n(c.running)),
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
