//! How Anax's futures run in wasm. The hottest calls (a get answered from the memtable, a put
//! whose storage writes are synchronous, as OPFS sync access handles are) finish inside the
//! call: their future is polled once right away, and only one that is still pending becomes a
//! task on wasm-bindgen's microtask queue. A task costs a queued closure, a JS promise with two
//! callbacks and a microtask hop; a point get is ~10 µs, of which that was a measurable part.
//! Every other call is a task, as wasm-bindgen-futures makes it.
//!
//! Polling in place must never nest: JS that Anax calls while polling (a storage adapter's
//! callbacks, say) may call Anax again, and running that call's future inside the outer poll
//! could meet state the outer poll is using. So every poll of an Anax future is marked, and a
//! call made while the mark is set is queued as a task. The mark is restored by Rust code
//! after the poll, which a JS exception unwinding through wasm would skip: so the futures
//! polled in place must not call JS that can throw (their callers convert JS arguments before
//! making the future, and storage calls catch).

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

/// The promise of `fut`'s result, computed in a task whose polls are marked.
pub fn promise<F>(fut: F) -> Promise
where
    F: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    wasm_bindgen_futures::future_to_promise(Marked(Box::pin(fut)))
}

/// For the hottest calls (get, put): `fut`'s value itself when it completes on its first
/// poll (its error thrown), else a Promise of it. Saves a promise and two microtask hops per
/// call. `fut` must not call JS that can throw (see the module doc). Only for methods the JS
/// layer wraps (`js/api.js` turns both forms into one Promise); the values they produce are
/// never Promises, so the two forms cannot be confused.
pub fn value_or_promise<F>(fut: F) -> Result<JsValue, JsValue>
where
    F: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    let mut fut = Box::pin(fut);
    if !POLLING.with(Cell::get) {
        // A waker that does nothing is safe here: a future that returns Pending has stored
        // the waker it was polled with, and the task below polls it again at once with its
        // own, which replaces it (the Future contract: the latest waker is the one woken).
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(out) = marked(|| fut.as_mut().poll(&mut cx)) {
            return out;
        }
    }
    Ok(wasm_bindgen_futures::future_to_promise(Marked(fut)).into())
}

/// Runs `fut` as a background task, its polls marked.
pub fn spawn<F: Future<Output = ()> + 'static>(fut: F) {
    wasm_bindgen_futures::spawn_local(Marked(Box::pin(fut)));
}
