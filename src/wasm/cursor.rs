//! `ScanCursor`: a running scan handed out one bounded batch per `next`, so memory stays
//! bounded whatever the scan's size.

use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::*;

use arrow_ipc::writer::StreamWriter;

use super::reply::promise;
use super::rows_out;
use crate::error::{Error, Result};

/// Where a cursor is.
enum CursorState {
    /// Ready for `next`.
    Idle(Box<crate::db::ScanStream>),
    /// A `next` is running.
    Busy,
    /// Every row was returned.
    Done,
    /// A `next` failed; the scan cannot go on.
    Failed,
}

/// How a cursor's batches have been handed out: one way per cursor, since the pieces of one
/// stream (`nextPart`) are only a valid stream if no batch went out another way.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Unread,
    /// `next` or `nextRows`: each batch whole.
    Batches,
    /// `nextPart`: the pieces of one IPC stream; `Ended` once its end marker went out.
    Parts,
    Ended,
}

/// A running scan; see `Db.scanCursor`.
#[wasm_bindgen(js_name = ScanCursor)]
pub struct JsScanCursor {
    stream: std::rc::Rc<std::cell::RefCell<CursorState>>,
    /// The output schema, for a stream of no rows (its schema message still goes out).
    schema: arrow_schema::SchemaRef,
    mode: std::rc::Rc<std::cell::Cell<Mode>>,
    /// The writer of `nextPart`'s stream: it keeps the dictionaries already sent, and writes
    /// the schema message once, before the first batch.
    writer: std::rc::Rc<std::cell::RefCell<Option<StreamWriter<Vec<u8>>>>>,
}

impl JsScanCursor {
    pub(super) fn new(stream: crate::db::ScanStream) -> Self {
        Self {
            schema: stream.schema(),
            stream: std::rc::Rc::new(std::cell::RefCell::new(CursorState::Idle(Box::new(stream)))),
            mode: std::rc::Rc::new(std::cell::Cell::new(Mode::Unread)),
            writer: std::rc::Rc::new(std::cell::RefCell::new(None)),
        }
    }

    /// Claims the cursor for one way of reading it; a second way is refused before it
    /// takes a batch.
    fn claim(&self, want: Mode) -> Result<()> {
        match (self.mode.get(), want) {
            (Mode::Unread, _) => {
                self.mode.set(want);
                Ok(())
            }
            (Mode::Batches, Mode::Batches) | (Mode::Parts | Mode::Ended, Mode::Parts) => Ok(()),
            _ => Err(Error::InvalidArgument(
                "a scan cursor is read one way: nextPart() (pieces of one Arrow IPC stream) or \
                 next()/nextRows() (whole batches), not both; start a new scan"
                    .into(),
            )),
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
        if let Err(e) = self.claim(Mode::Batches) {
            return promise(async move { Err(e) });
        }
        let cell = self.stream.clone();
        promise(async move {
            let rows = Self::step(cell, |b| rows_out::batch_to_rows(&b)).await?;
            Ok(rows.map_or(JsValue::NULL, JsValue::from))
        })
    }

    /// The next batch as a complete Arrow IPC stream, or `null` when the scan is done.
    pub fn next(&self) -> Promise {
        if let Err(e) = self.claim(Mode::Batches) {
            return promise(async move { Err(e) });
        }
        let cell = self.stream.clone();
        promise(async move {
            let bytes = Self::step(cell, |b| crate::ipc::encode_stream(&b.schema(), &[b])).await?;
            Ok(bytes.map_or(JsValue::NULL, |b| Uint8Array::from(b.as_slice()).into()))
        })
    }

    /// The next piece of one Arrow IPC stream over the whole scan, or `null` after its end:
    /// the first piece carries the schema message, each later one a batch (at most 8,192
    /// rows), the last the end-of-stream marker. Laid end to end, the pieces are one stream
    /// (a `Response` body, or what apache-arrow's `RecordBatchReader` reads).
    #[wasm_bindgen(js_name = nextPart)]
    pub fn next_part(&self) -> Promise {
        if let Err(e) = self.claim(Mode::Parts) {
            return promise(async move { Err(e) });
        }
        let cell = self.stream.clone();
        let mode = self.mode.clone();
        let writer = self.writer.clone();
        let schema = self.schema.clone();
        promise(async move {
            if mode.get() == Mode::Ended {
                return Ok(JsValue::NULL);
            }
            let bytes =
                match Self::step(cell, |b| write_part(&writer, &b.schema(), Some(&b))).await? {
                    Some(bytes) => bytes,
                    None => {
                        // The end: the schema too when no batch went out (a stream of no rows).
                        let mut out = write_part(&writer, &schema, None)?;
                        let mut w = writer.borrow_mut().take().ok_or_else(|| {
                            Error::Internal("a scan stream's writer is missing at its end".into())
                        })?;
                        w.finish()?;
                        out.append(w.get_mut());
                        mode.set(Mode::Ended);
                        out
                    }
                };
            Ok(Uint8Array::from(bytes.as_slice()).into())
        })
    }
}

/// Writes `batch` (if any) to the cursor's stream, starting the stream (its schema message)
/// first if needed, and takes the bytes written.
fn write_part(
    writer: &std::cell::RefCell<Option<StreamWriter<Vec<u8>>>>,
    schema: &arrow_schema::SchemaRef,
    batch: Option<&arrow_array::RecordBatch>,
) -> Result<Vec<u8>> {
    let mut slot = writer.borrow_mut();
    if slot.is_none() {
        *slot = Some(StreamWriter::try_new(Vec::with_capacity(1024), schema)?);
    }
    let w = slot
        .as_mut()
        .ok_or_else(|| Error::Internal("a scan stream's writer is missing".into()))?;
    if let Some(b) = batch {
        w.write(b)?;
    }
    Ok(std::mem::take(w.get_mut()))
}
