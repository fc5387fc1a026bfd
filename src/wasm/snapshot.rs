//! `Snapshot`: the JS class of a read-only view at one timestamp.

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::read::{self, View};

/// A read-only view of the table at one timestamp; see `Db.snapshot` and `Db.at`. Holding it
/// keeps the versions it reads from compaction and GC: call `release()` when done.
#[wasm_bindgen(js_name = Snapshot)]
pub struct JsSnapshot {
    snap: crate::db::Snapshot,
}

impl JsSnapshot {
    pub(super) fn new(snap: crate::db::Snapshot) -> Self {
        Self { snap }
    }
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
        read::get(&key, move || Ok(View::Snapshot(snap)))
    }

    /// The row with this key as of the snapshot, as a plain object, or `null`.
    #[wasm_bindgen(js_name = getRow)]
    pub fn get_row(&self, key: JsValue) -> std::result::Result<JsValue, JsValue> {
        let snap = self.snap.clone();
        read::get_row(&key, move || Ok(View::Snapshot(snap)))
    }

    /// The selected rows as of the snapshot, as one Arrow IPC stream.
    pub fn scan(&self, options: JsValue) -> Promise {
        let snap = self.snap.clone();
        read::scan(options, move |_| Ok(View::Snapshot(snap)))
    }

    /// A cursor over the selected rows as of the snapshot.
    #[wasm_bindgen(js_name = scanCursor)]
    pub fn scan_cursor(&self, options: JsValue) -> Promise {
        let snap = self.snap.clone();
        read::scan_cursor(options, move |_| Ok(View::Snapshot(snap)))
    }

    /// How many rows `scan(options)` would return as of the snapshot.
    pub fn count(&self, options: JsValue) -> Promise {
        let snap = self.snap.clone();
        read::count(options, move |_| Ok(View::Snapshot(snap)))
    }
}
