//! How Anax's futures run in wasm. A call whose work needs no I/O (a get answered from the
//! memtable, a put into memory storage) finishes inside the call: its future is polled once
//! right away, and only a future that is still pending becomes a task on wasm-bindgen's
//! microtask queue. A task costs a queued closure, a JS promise with two callbacks and a
//! microtask hop; a point get is ~10 µs, of which that was a measurable part.
//!
//! Polling in place must never nest: JS that Anax calls while polling (a storage adapter's
//! callbacks, say) may call Anax again, and running that call's future inside the outer poll
//! could meet state the outer poll is using. So every poll of an Anax future is marked, and
//! a call made while the mark is set is queued as a task as before.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use js_sys::Promise;
use wasm_bindgen::JsValue;

thread_local! {
    static POLLING: Cell<bool> = const { Cell::new(false) };
}

/// Sets the mark for the duration of one poll, restoring what was there.
fn marked<T>(poll: impl FnOnce() -> T) -> T {
    let was = POLLING.with(|p| p.replace(true));
    let out = poll();
    POLLING.with(|p| p.set(was));
    out
}

/// A future whose every poll is marked.
struct Marked<F>(Pin<Box<F>>);

impl<F: Future> Future for Marked<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let fut = self.0.as_mut();
        marked(|| fut.poll(cx))
    }
}

/// `fut`'s result when it completes on its first poll, else a task to finish it.
fn first_poll<F>(fut: F) -> Result<Result<JsValue, JsValue>, Marked<F>>
where
    F: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    let mut fut = Box::pin(fut);
    if !POLLING.with(Cell::get) {
        // A waker that does nothing is safe here: a future that returns Pending has stored
        // the waker it was polled with, and the task polls it again at once with its own,
        // which replaces it (the Future contract: the latest waker is the one woken).
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(out) = marked(|| fut.as_mut().poll(&mut cx)) {
            return Ok(out);
        }
    }
    Err(Marked(fut))
}

/// The promise of `fut`'s result: already settled when `fut` completes on its first poll.
pub fn promise<F>(fut: F) -> Promise
where
    F: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    match first_poll(fut) {
        Ok(Ok(v)) => Promise::resolve(&v),
        Ok(Err(e)) => Promise::reject(&e),
        Err(task) => wasm_bindgen_futures::future_to_promise(task),
    }
}

/// For the hottest calls (get, put): `fut`'s value itself when it completes on its first
/// poll (its error thrown), else a Promise of it. Saves a promise and two microtask hops per
/// call; only for methods the JS layer wraps (`js/api.js` turns both forms into one Promise).
/// The values these methods produce are never Promises, so the two forms cannot be confused.
pub fn value_or_promise<F>(fut: F) -> Result<JsValue, JsValue>
where
    F: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    match first_poll(fut) {
        Ok(out) => out,
        Err(task) => Ok(wasm_bindgen_futures::future_to_promise(task).into()),
    }
}

/// Runs `fut` as a background task, its polls marked.
pub fn spawn<F: Future<Output = ()> + 'static>(fut: F) {
    wasm_bindgen_futures::spawn_local(Marked(Box::pin(fut)));
}
