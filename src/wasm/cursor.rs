//! `ScanCursor`: a running scan handed out one bounded batch per `next`, so memory stays
//! bounded whatever the scan's size.

use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::*;

use super::reply::promise;
use super::rows_out;
use crate::error::{Error, Result};

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
    pub(super) fn new(stream: crate::read::merge::ScanStream) -> Self {
        Self {
            stream: std::rc::Rc::new(std::cell::RefCell::new(CursorState::Idle(Box::new(stream)))),
        }
    }

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
            let rows = Self::step(cell, |b| rows_out::batch_to_rows(&b)).await?;
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
