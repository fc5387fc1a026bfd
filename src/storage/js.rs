//! Calling JS objects from the JS-backed backends (OPFS, bucket bindings) and the JS boundary:
//! property reads, method calls that may return Promises, JS errors as typed errors.

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::error::{Error, Result};

/// `o[k]`, or `undefined`.
pub(crate) fn get(o: &JsValue, k: &str) -> JsValue {
    Reflect::get(o, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
}

/// `o[k] = v`.
pub(crate) fn set(o: &Object, k: &str, v: &JsValue) {
    let _ = Reflect::set(o, &JsValue::from_str(k), v);
}

/// `AbortSignal.timeout(ms)`, or `None` where the runtime lacks it (asked first: the typed
/// binding would throw there).
pub(crate) fn timeout_signal(ms: u32) -> Option<web_sys::AbortSignal> {
    get(&get(&js_sys::global(), "AbortSignal"), "timeout")
        .is_function()
        .then(|| web_sys::AbortSignal::timeout_with_u32(ms))
}

/// A plain object with these properties.
pub(crate) fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        set(&o, k, v);
    }
    o.into()
}

/// How many recent JS exceptions are kept for the errors that name them (a few per call in
/// flight; an older one is gone when a JS error is made, and that error has no `cause`).
const CAUSES_KEPT: usize = 64;

thread_local! {
    static CAUSES: std::cell::RefCell<(u32, std::collections::VecDeque<(u32, JsValue)>)> =
        const { std::cell::RefCell::new((0, std::collections::VecDeque::new())) };
}

/// Keeps `e` for the JS error of the failure it caused (see `StorageError::cause`).
pub(crate) fn keep_cause(e: &JsValue) -> crate::error::CauseId {
    CAUSES.with(|c| {
        let mut c = c.borrow_mut();
        c.0 = c.0.wrapping_add(1);
        let id = c.0;
        if c.1.len() >= CAUSES_KEPT {
            c.1.pop_front();
        }
        c.1.push_back((id, e.clone()));
        crate::error::CauseId(id)
    })
}

/// The exception kept under `id`, if it is still kept.
pub(crate) fn cause(id: crate::error::CauseId) -> Option<JsValue> {
    CAUSES.with(|c| {
        c.borrow()
            .1
            .iter()
            .find(|(i, _)| *i == id.0)
            .map(|(_, e)| e.clone())
    })
}

/// A JS exception's `name` (or, for a Node system error, its errno `code`), as the backend
/// code of the failure it caused.
pub(crate) fn exception_code(e: &JsValue) -> Option<String> {
    get(e, "code")
        .as_string()
        .or_else(|| get(e, "name").as_string())
}

/// A JS exception from `backend` doing `what` on `path`: `NotFoundError` is `NOT_FOUND`,
/// anything else `STORAGE` with the exception's message, name and the exception itself.
pub(crate) fn error(backend: &str, what: &str, path: &str, e: &JsValue) -> Error {
    if get(e, "name").as_string().as_deref() == Some("NotFoundError") {
        return Error::NotFound(path.to_owned());
    }
    let detail = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".into());
    let message = format!("{backend} {what} {path}: {detail}");
    // A bucket binding's exception is the network's or the store's (R2: "internal error,
    // try again"); OPFS exceptions (quota, lock, security) do not pass by retrying.
    let err = if backend == "bucket" {
        Error::transient(message, None)
    } else {
        Error::storage(message)
    };
    err.with_backend_code(exception_code(e))
        .with_cause(Some(keep_cause(e)))
}

/// `o.method(...args)`, awaited when it returns a Promise.
pub(crate) async fn call(
    backend: &str,
    o: &JsValue,
    method: &str,
    args: &[JsValue],
    path: &str,
) -> Result<JsValue> {
    let f: Function = get(o, method)
        .dyn_into()
        .map_err(|_| Error::storage(format!("{backend}: {method}() is not available here")))?;
    let arr: js_sys::Array = args.iter().collect();
    let out = f
        .apply(o, &arr)
        .map_err(|e| error(backend, method, path, &e))?;
    match out.dyn_into::<Promise>() {
        Ok(p) => JsFuture::from(p)
            .await
            .map_err(|e| error(backend, method, path, &e)),
        Err(v) => Ok(v),
    }
}
