//! How Anax's futures run in wasm. The hottest calls (a get answered from the memtable, a put
//! whose storage writes are synchronous, as OPFS sync access handles are) finish inside the
//! call: their future is polled once right away, and only one that is still pending becomes a
//! task. Every other call is a task from the start. A call's task is polled only in the
//! context of the call that made it (see `CallTask`: what a Workers isolate serving many
//! requests at once needs); background jobs are wasm-bindgen-futures tasks.
//!
//! Polling in place must never nest: JS that Anax calls while polling (a storage adapter's
//! callbacks, say) may call Anax again, and running that call's future inside the outer poll
//! could meet state the outer poll is using. So every poll of an Anax future is marked, and a
//! call made while the mark is set is queued as a task. The mark is restored by Rust code
//! after the poll, which a JS exception unwinding through wasm would skip: so the futures
//! polled in place must not call JS that can throw (their callers convert JS arguments before
//! making the future, and storage calls catch).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use js_sys::Promise;
use wasm_bindgen::JsValue;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;

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

/// What a JS call computes: its value or the error it rejects with.
type CallFuture = Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>;

/// A call's future, polled only in the context of the call that made it.
///
/// Cloudflare's runtime ties every promise to the request that created it: a continuation
/// runs in that request's context even when another request settles the promise, and I/O
/// started in a request is cancelled when that request ends. wasm-bindgen-futures runs every
/// woken task from one shared microtask, in the context of whichever request woke the queue
/// first, so a call woken by another request's code (a put that joined another's group
/// commit) made its next storage calls on behalf of that request, and they died with it (the
/// caller saw "the Workers runtime canceled this request ... hung"). Here each task, when it
/// goes pending, makes a promise of its own (in its own context, since it is being polled
/// there), and that promise's continuation queues its next poll; its waker only settles that
/// promise. Elsewhere (browsers, Node) this is two microtasks per wake instead of one.
///
/// A task lives until its future completes. One whose storage call the runtime cancelled (a
/// request's own I/O outliving its `waitUntil`) is never woken again and stays, with what it
/// holds: a group commit it leads then holds its members too. Hence the worker example passes
/// every request's Anax work to `waitUntil`.
struct CallTask {
    fut: Option<CallFuture>,
    /// Settles the call's promise.
    settle: Option<(js_sys::Function, js_sys::Function)>,
    /// Resolves the promise whose continuation polls this task next; `None` while polling.
    hop: Option<js_sys::Function>,
    /// Woken while being polled (or before its first hop was armed).
    woken: bool,
    /// Polls this task, from a microtask (see `schedule_poll`).
    poll: Option<Closure<dyn FnMut(JsValue)>>,
    /// Keeps the call's request from being taken for hung while it waits (Workers only).
    _keepalive: Option<super::timer::Keepalive>,
}

thread_local! {
    static TASKS: RefCell<HashMap<u64, CallTask>> = RefCell::new(HashMap::new());
    /// Every hop's continuation: a hop resolves with its task's number.
    static SCHEDULE: Closure<dyn FnMut(JsValue)> = Closure::new(|id: JsValue| {
        if let Some(id) = id.as_f64() {
            schedule_poll(id as u64);
        }
    });
    static NEXT_TASK: Cell<u64> = const { Cell::new(0) };
}

/// Wakes a task by number: a waker must be `Send + Sync`, which JS values are not, so it
/// carries the number and the task stays in this thread's table.
struct TaskWaker(u64);

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        wake_task(self.0);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        wake_task(self.0);
    }
}

fn wake_task(id: u64) {
    let hop = TASKS.with(|t| {
        let mut tasks = t.borrow_mut();
        let task = tasks.get_mut(&id)?;
        let hop = task.hop.take();
        if hop.is_none() {
            task.woken = true;
        }
        hop
    });
    if let Some(resolve) = hop {
        // Settling a promise runs no JS synchronously; the continuation is queued.
        let _ = resolve.call1(&JsValue::UNDEFINED, &task_number(id));
    }
}

/// Makes task `id`'s next hop in the current context (the task's own), already resolved if it
/// was woken meanwhile.
fn arm(id: u64) {
    let mut resolver: Option<js_sys::Function> = None;
    let hop = Promise::new(&mut |resolve, _reject| resolver = Some(resolve));
    // Registers the continuation only; nothing runs until the hop is resolved. Outside the
    // table's borrow: JS that wraps `then` could call Anax.
    SCHEDULE.with(|schedule| {
        let _ = hop.then(schedule);
    });
    let woken = TASKS.with(|t| {
        let mut tasks = t.borrow_mut();
        let Some(task) = tasks.get_mut(&id) else {
            return false;
        };
        if task.woken {
            task.woken = false;
            true
        } else {
            task.hop = resolver.take();
            false
        }
    });
    if woken && let Some(resolve) = resolver {
        let _ = resolve.call1(&JsValue::UNDEFINED, &task_number(id));
    }
}

#[wasm_bindgen]
extern "C" {
    /// The global `queueMicrotask`, which scripts/build-wasm.sh points at js/tasks.js's
    /// `anaxQueueMicrotask`: a trap while polling a task is reported there (the JS layer
    /// then rejects every pending call with `INTERNAL`) instead of leaving its promise
    /// unsettled.
    #[wasm_bindgen(js_name = queueMicrotask)]
    fn queue_microtask(task: &JsValue);
}

/// Queues task `id`'s next poll: run from the hop's continuation, so in the task's context.
fn schedule_poll(id: u64) {
    // The function is taken out of the table first: no borrow is held while JS runs.
    let poll: Option<JsValue> = TASKS.with(|t| {
        t.borrow()
            .get(&id)
            .and_then(|task| task.poll.as_ref())
            .map(|p| p.as_ref().clone())
    });
    if let Some(poll) = poll {
        queue_microtask(&poll);
    }
}

/// Polls task `id` once (in its own context) and settles its promise when it is done.
fn run_task(id: u64) {
    let Some(mut fut) = TASKS.with(|t| {
        let mut tasks = t.borrow_mut();
        let task = tasks.get_mut(&id)?;
        task.woken = false;
        task.fut.take()
    }) else {
        return;
    };
    let waker = Waker::from(Arc::new(TaskWaker(id)));
    let polled = marked(|| fut.as_mut().poll(&mut Context::from_waker(&waker)));
    match polled {
        Poll::Pending => {
            TASKS.with(|t| {
                if let Some(task) = t.borrow_mut().get_mut(&id) {
                    task.fut = Some(fut);
                }
            });
            arm(id);
        }
        Poll::Ready(out) => {
            // Removing the task drops its `poll` closure while it runs: wasm-bindgen frees a
            // closure dropped during its own call only once that call returns.
            let task = TASKS.with(|t| t.borrow_mut().remove(&id));
            if let Some((resolve, reject)) = task.and_then(|t| t.settle) {
                let _ = match out {
                    Ok(v) => resolve.call1(&JsValue::UNDEFINED, &v),
                    Err(e) => reject.call1(&JsValue::UNDEFINED, &e),
                };
            }
        }
    }
}

/// A new task for `fut` and the promise of its result; its first poll is a hop away.
fn start(fut: CallFuture, id: u64) -> Promise {
    let mut settle = None;
    let promise = Promise::new(&mut |resolve, reject| settle = Some((resolve, reject)));
    let keepalive = super::timer::Keepalive::start();
    TASKS.with(|t| {
        t.borrow_mut().insert(
            id,
            CallTask {
                fut: Some(fut),
                settle,
                hop: None,
                woken: false,
                poll: Some(Closure::new(move |_: JsValue| run_task(id))),
                _keepalive: keepalive,
            },
        );
    });
    arm(id);
    promise
}

/// A task's number as the value its hops resolve with (task numbers stay far below 2^53).
fn task_number(id: u64) -> JsValue {
    JsValue::from_f64(id as f64)
}

fn next_id() -> u64 {
    NEXT_TASK.with(|n| {
        let id = n.get();
        n.set(id.wrapping_add(1));
        id
    })
}

/// The promise of `fut`'s result, computed in a task whose polls are marked and run in the
/// context of this call.
pub fn promise<F>(fut: F) -> Promise
where
    F: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    let id = next_id();
    let promise = start(Box::pin(fut), id);
    // The first poll is a hop away, as wasm-bindgen-futures made it: never inside this call.
    wake_task(id);
    promise
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
    let mut fut: CallFuture = Box::pin(fut);
    if !POLLING.with(Cell::get) {
        // A waker that does nothing is safe here: a future that returns Pending has stored
        // the waker it was polled with, and its task polls it again at once with its own,
        // which replaces it (the Future contract: the latest waker is the one woken).
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(out) = marked(|| fut.as_mut().poll(&mut cx)) {
            return out;
        }
    }
    let id = next_id();
    let promise = start(fut, id);
    wake_task(id);
    Ok(promise.into())
}

/// Runs `fut` as a background task, its polls marked.
pub fn spawn<F: Future<Output = ()> + 'static>(fut: F) {
    wasm_bindgen_futures::spawn_local(Marked(Box::pin(fut)));
}
