//! The Web Locks the OPFS backend holds: a database's writer lock (`anax-writer:{path}`, for
//! as long as the storage lives) and one per object for compare-and-swap (held for the check
//! and the write). web-sys has `LockManager` only behind `web_sys_unstable_apis`, so the one
//! call Anax makes is declared here.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::js::{get, object};
use crate::error::{Error, Result};

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks`.
    type Locks;

    /// `locks.request(name, callback)`.
    #[wasm_bindgen(method, catch, js_name = request)]
    fn request(
        this: &Locks,
        name: &str,
        callback: &JsValue,
    ) -> std::result::Result<Promise, JsValue>;

    /// `locks.request(name, options, callback)`.
    #[wasm_bindgen(method, catch, js_name = request)]
    fn request_with(
        this: &Locks,
        name: &str,
        options: &JsValue,
        callback: &JsValue,
    ) -> std::result::Result<Promise, JsValue>;
}

fn js_err(what: &str, path: &str, e: &JsValue) -> Error {
    super::js::error("OPFS", what, path, e)
}

fn locks() -> Option<Locks> {
    let locks = get(&get(&js_sys::global(), "navigator"), "locks");
    (!locks.is_undefined()).then(|| locks.unchecked_into())
}

/// Runs `work` while holding the Web Lock `name` (exclusive). Resolves to its result.
pub(super) async fn with_lock<F>(name: &str, work: F) -> Result<JsValue>
where
    F: std::future::Future<Output = Result<JsValue>> + 'static,
{
    let Some(locks) = locks() else {
        // No Web Locks (very old browsers): single-context use is still safe.
        return work.await;
    };
    let work = RefCell::new(Some(work));
    // The work's typed error waits here while the lock's promise rejects; a JS exception
    // cannot carry a Rust error, and a code spelled into a string would be parsed back.
    let failure: Rc<RefCell<Option<Error>>> = Rc::default();
    let slot = failure.clone();
    let cb = Closure::once(move |_lock: JsValue| -> Promise {
        let work = work.borrow_mut().take();
        crate::runtime::task::promise(async move {
            match work {
                Some(w) => w.await.map_err(|e| {
                    *slot.borrow_mut() = Some(e);
                    JsValue::UNDEFINED
                }),
                None => Ok(JsValue::UNDEFINED),
            }
        })
    });
    let p = locks
        .request(name, cb.as_ref())
        .map_err(|e| js_err("lock", name, &e))?;
    let out = JsFuture::from(p).await;
    drop(cb);
    out.map_err(|e| {
        let typed = failure.borrow_mut().take();
        typed.unwrap_or_else(|| js_err("lock", name, &e))
    })
}

/// What asking for a held lock came to.
pub(super) enum Hold {
    /// No Web Locks here (very old browsers): one context at a time is the caller's to keep.
    Unsupported,
    /// Held until this function is called.
    Granted(Function),
    /// Another context holds it (and kept it past the wait).
    Refused,
}

/// Takes the lock `name` (exclusive, or `shared` with other shared holders) and keeps it until
/// the returned function is called, waiting up to `wait_ms` for its holder (0: granted now or
/// never).
pub(super) async fn hold(name: &str, wait_ms: u32, shared: bool) -> Result<Hold> {
    let Some(locks) = locks() else {
        return Ok(Hold::Unsupported);
    };
    let (granted_tx, granted_rx) = oneshot();
    let refused = granted_tx.clone();
    let release_slot: Rc<RefCell<Option<Function>>> = Default::default();
    let slot = release_slot.clone();
    let cb = Closure::once_into_js(move |lock: JsValue| -> Promise {
        let granted = !lock.is_null();
        let _ = granted_tx.call1(&JsValue::UNDEFINED, &JsValue::from_bool(granted));
        if !granted {
            return Promise::resolve(&JsValue::UNDEFINED);
        }
        // Held until `release` is called.
        Promise::new(&mut |resolve, _| {
            *slot.borrow_mut() = Some(resolve);
        })
    });
    // Without a wait: granted now or never (`ifAvailable`). With one: queued behind the
    // holder until a timeout signal aborts the request, which then never calls `cb`.
    let mode: JsValue = if shared { "shared" } else { "exclusive" }.into();
    let options = if wait_ms == 0 {
        object(&[("ifAvailable", true.into()), ("mode", mode)])
    } else {
        let signal = super::js::timeout_signal(wait_ms)
            .ok_or_else(|| Error::storage("AbortSignal.timeout is missing: lockWaitMs needs it"))?;
        object(&[("signal", signal.into()), ("mode", mode)])
    };
    let held = locks
        .request_with(name, &options, &cb)
        .map_err(|e| js_err("lock", name, &e))?;
    // An aborted request rejects: that is the wait running out. (Granted, it resolves only
    // once the lock is released, so this task waits that long, doing nothing.)
    wasm_bindgen_futures::spawn_local(async move {
        if JsFuture::from(held).await.is_err() {
            let _ = refused.call1(&JsValue::UNDEFINED, &JsValue::FALSE);
        }
    });
    let granted = JsFuture::from(granted_rx)
        .await
        .map_err(|e| js_err("lock", name, &e))?;
    if granted.as_bool() != Some(true) {
        return Ok(Hold::Refused);
    }
    let release = release_slot.borrow_mut().take();
    Ok(release.map_or(Hold::Refused, Hold::Granted))
}

/// A one-shot JS promise and the function that resolves it.
fn oneshot() -> (Function, Promise) {
    let mut resolve = None;
    let p = Promise::new(&mut |res, _| resolve = Some(res));
    (resolve.unwrap_or_else(|| Function::new_no_args("")), p)
}
