//! What a call hands back to JS: a failure as an `AnaxError`, a future as a Promise (or, for
//! the hot calls, as its value when it finished within the call).

use js_sys::{Promise, Reflect};
use wasm_bindgen::JsValue;

use crate::error::{Error, Result};
use crate::runtime::task;

/// Turns an [`Error`] into a JS `Error` whose `name` is `"AnaxError"` and whose `code` is the
/// stable [`crate::ErrorCode`] string (the JS wrapper's `AnaxError` recognises these).
pub fn to_js_error(e: Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    err.set_name("AnaxError");
    // Reflect::set on a fresh Error object cannot fail; ignore the impossible.
    let _ = Reflect::set(&err, &"code".into(), &e.code().as_str().into());
    // A storage failure's details as fields, so callers branch on data, not on the message.
    if let Some(s) = e.storage_details() {
        let _ = Reflect::set(&err, &"retryable".into(), &s.retryable.into());
        if let Some(status) = s.status {
            let _ = Reflect::set(&err, &"status".into(), &status.into());
        }
        if let Some(op) = s.operation {
            let _ = Reflect::set(&err, &"operation".into(), &op.into());
        }
        if let Some(path) = &s.path {
            let _ = Reflect::set(&err, &"path".into(), &path.as_str().into());
        }
        if let Some(code) = &s.code {
            let _ = Reflect::set(&err, &"backendCode".into(), &code.as_str().into());
        }
        if let Some(cause) = s.cause.and_then(crate::storage::js::cause) {
            let _ = Reflect::set(&err, &"cause".into(), &cause);
        }
    }
    err.into()
}

pub(super) fn promise<F>(fut: F) -> Promise
where
    F: std::future::Future<Output = Result<JsValue>> + 'static,
{
    task::promise(async move { fut.await.map_err(to_js_error) })
}

/// Like [`promise`], for the hot calls: the value itself when the work finished within the
/// call (see `task::value_or_promise`). Only for methods js/api.js wraps, and only for
/// futures that call no throwing JS: convert JS arguments before making the future.
pub(super) fn value_or_promise<F>(fut: F) -> std::result::Result<JsValue, JsValue>
where
    F: std::future::Future<Output = Result<JsValue>> + 'static,
{
    task::value_or_promise(async move { fut.await.map_err(to_js_error) })
}
