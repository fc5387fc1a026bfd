//! The one body of `get`, `scan` and `scanCursor` behind `Db`, `Snapshot` and `Transaction`.
//! Each class names what it reads (a [`View`]) and settles it where its method always did;
//! the read and its answer as Arrow IPC in a JS buffer are shared.

use std::rc::Rc;

use js_sys::{Promise, Uint8Array};
use wasm_bindgen::JsValue;

use super::cursor::JsScanCursor;
use super::reply::{promise, to_js_error, value_or_promise};
use super::scan_options::to_scan_options;
use super::value::to_key;
use crate::db::ScanStream;
use crate::db::{Db, Snapshot, Transaction};
use crate::error::{Error, Result};
use crate::options::Freshness;
use crate::read::ScanOptions;
use crate::value::Value;

/// What a read runs on.
pub(super) enum View {
    /// The table's live view at a freshness (`Db`).
    Live(Db, Freshness),
    /// A fixed read timestamp (`Snapshot`).
    Snapshot(Snapshot),
    /// A transaction's snapshot plus its own writes. The read holds the `Rc` until it ends:
    /// that is how `commit` sees a read still running and refuses.
    Txn(Rc<Transaction>),
}

impl View {
    async fn get(&self, key: &[Value]) -> Result<Option<arrow_array::RecordBatch>> {
        match self {
            View::Live(db, freshness) => db.get_fresh(key, *freshness).await,
            View::Snapshot(snap) => snap.get(key).await,
            View::Txn(txn) => txn.get(key).await,
        }
    }

    fn db(&self) -> &Db {
        match self {
            View::Live(db, _) => db,
            View::Snapshot(snap) => snap.db(),
            View::Txn(txn) => txn.db(),
        }
    }

    async fn stream(&self, opts: &ScanOptions) -> Result<ScanStream> {
        match self {
            View::Live(db, freshness) => db.scan_stream_fresh(opts, *freshness).await,
            View::Snapshot(snap) => snap.scan_stream(opts).await,
            View::Txn(txn) => txn.scan_stream(opts).await,
        }
    }

    async fn scan(&self, opts: &ScanOptions) -> Result<JsValue> {
        match self {
            // The whole collection runs inside the freshness check, so a view that moved (or
            // lost a file to compaction) while the rows were read is read again.
            View::Live(db, freshness) => {
                let (schema, batches) = db.scan_batches_fresh(opts, *freshness).await?;
                encode_result(&schema, batches)
            }
            View::Snapshot(_) | View::Txn(_) => scan_result(self.stream(opts).await?).await,
        }
    }
}

/// `get`: the row with this key as Arrow IPC, or `null`. The key is converted, then `view`
/// settled, before the future is made (see `task::value_or_promise`), so both throw.
pub(super) fn get(
    key: &JsValue,
    view: impl FnOnce() -> Result<View>,
) -> std::result::Result<JsValue, JsValue> {
    let key = to_key(key).map_err(to_js_error)?;
    let view = view().map_err(to_js_error)?;
    value_or_promise(async move { row_result(view.get(&key).await?) })
}

/// `getRow`: the row with this key as a plain object (as `ScanCursor.nextRows` makes them),
/// or `null`; the key and view are taken as [`get`] takes them.
pub(super) fn get_row(
    key: &JsValue,
    view: impl FnOnce() -> Result<View>,
) -> std::result::Result<JsValue, JsValue> {
    let key = to_key(key).map_err(to_js_error)?;
    let view = view().map_err(to_js_error)?;
    value_or_promise(async move {
        match view.get(&key).await? {
            Some(batch) => Ok(super::rows_out::batch_to_rows(&batch)?.get(0)),
            None => Ok(JsValue::NULL),
        }
    })
}

/// The view a scan-shaped call reads, settled, and its options read for it (the freshness
/// pair only on a live view: a snapshot or a transaction reads at its own timestamp).
fn settle(
    options: &JsValue,
    view: impl FnOnce(&JsValue) -> Result<View>,
) -> Result<(View, ScanOptions)> {
    let view = view(options)?;
    let opts = to_scan_options(options, matches!(view, View::Live(..)))?;
    Ok((view, opts))
}

/// `scan`: the selected rows as one Arrow IPC stream. `view` is settled inside the Promise,
/// before the scan options are read, so its failure rejects.
pub(super) fn scan(
    options: JsValue,
    view: impl FnOnce(&JsValue) -> Result<View> + 'static,
) -> Promise {
    promise(async move {
        let (view, opts) = settle(&options, view)?;
        view.scan(&opts).await
    })
}

/// `scanCursor`: a cursor over the selected rows, settled as [`scan`] is.
pub(super) fn scan_cursor(
    options: JsValue,
    view: impl FnOnce(&JsValue) -> Result<View> + 'static,
) -> Promise {
    promise(async move {
        let (view, opts) = settle(&options, view)?;
        let stream = view.stream(&opts).await?;
        Ok(JsScanCursor::new(stream).into())
    })
}

/// `count`: how many rows `scan(options)` would return, without returning them. Only the key
/// columns (and a filter's) are decoded, and no Arrow IPC is built. `projection` is refused:
/// it would change nothing.
pub(super) fn count(
    options: JsValue,
    view: impl FnOnce(&JsValue) -> Result<View> + 'static,
) -> Promise {
    promise(async move {
        let (view, mut opts) = settle(&options, view)?;
        if opts.projection.is_some() {
            return Err(Error::InvalidArgument(
                "count takes no projection: it counts rows, whatever their columns".into(),
            ));
        }
        let keys = view.db().schema().key_fields().map(|f| f.name().clone());
        opts.projection = Some(keys.collect());
        let mut stream = view.stream(&opts).await?;
        let mut rows = 0u64;
        while let Some(batch) = stream.next().await? {
            rows += batch.num_rows() as u64;
        }
        Ok(JsValue::from_f64(rows as f64))
    })
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
async fn scan_result(stream: crate::db::ScanStream) -> Result<JsValue> {
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
