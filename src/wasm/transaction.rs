//! `Transaction`: the JS class of an optimistic transaction, buffering writes until `commit`.

use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;

use super::read::{self, View};
use super::reply::{promise, to_js_error};
use super::rows_in::{column_names, packed_arg, packed_bytes, rows_arg};
use super::value::to_keys;
use crate::error::{Error, Result};

/// Where a transaction is: open (shared with reads in flight) or finished.
type TxnCell = std::rc::Rc<std::cell::RefCell<Option<std::rc::Rc<crate::db::Transaction>>>>;

/// An optimistic transaction; see `Db.transaction`. Reads see its own writes; `commit`
/// rejects with `CONFLICT` if another commit wrote one of its keys after it began.
#[wasm_bindgen(js_name = Transaction)]
pub struct JsTxn {
    txn: TxnCell,
}

impl JsTxn {
    pub(super) fn new(txn: crate::db::Transaction) -> Self {
        Self {
            txn: std::rc::Rc::new(std::cell::RefCell::new(Some(std::rc::Rc::new(txn)))),
        }
    }

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
        // Settled before the key is read: a finished transaction says so whatever the key.
        let txn = Self::open(&self.txn).map_err(to_js_error)?;
        read::get(&key, move || Ok(View::Txn(txn)))
    }

    /// The row with this key (seeing this transaction's writes) as a plain object, or `null`.
    #[wasm_bindgen(js_name = getRow)]
    pub fn get_row(&self, key: JsValue) -> std::result::Result<JsValue, JsValue> {
        let txn = Self::open(&self.txn).map_err(to_js_error)?;
        read::get_row(&key, move || Ok(View::Txn(txn)))
    }

    /// The selected rows (seeing this transaction's writes) as one Arrow IPC stream.
    pub fn scan(&self, options: JsValue) -> Promise {
        let cell = self.txn.clone();
        read::scan(options, move |_| Ok(View::Txn(Self::open(&cell)?)))
    }

    /// A cursor over the selected rows, seeing this transaction's writes.
    #[wasm_bindgen(js_name = scanCursor)]
    pub fn scan_cursor(&self, options: JsValue) -> Promise {
        let cell = self.txn.clone();
        read::scan_cursor(options, move |_| Ok(View::Txn(Self::open(&cell)?)))
    }

    /// How many rows `scan(options)` would return, seeing this transaction's writes.
    pub fn count(&self, options: JsValue) -> Promise {
        let cell = self.txn.clone();
        read::count(options, move |_| Ok(View::Txn(Self::open(&cell)?)))
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
    pub fn put_packed(&self, packed: &js_sys::Uint8Array) -> Promise {
        let packed = packed_bytes(packed);
        let cell = self.txn.clone();
        promise(async move {
            let txn = Self::open(&cell)?;
            let batch = packed_arg(txn.db(), packed)?;
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
