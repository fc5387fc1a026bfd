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

/// A plain object with these properties.
pub(crate) fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        set(&o, k, v);
    }
    o.into()
}

/// A JS exception from `backend` doing `what` on `path`: `NotFoundError` is `NOT_FOUND`,
/// anything else `STORAGE` with the exception's message.
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
    if backend == "bucket" {
        Error::transient(message, None)
    } else {
        Error::storage(message)
    }
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
