//! `setTimeout` as a future, in every JS global (window, worker, workerd) without web-sys.

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// Resolves after `ms` milliseconds. If the global has no `setTimeout` (never seen in practice),
/// it resolves at once rather than hanging.
pub(crate) async fn sleep(ms: u64) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let global = js_sys::global();
        let set_timeout = js_sys::Reflect::get(&global, &JsValue::from_str("setTimeout"))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        let scheduled = set_timeout
            .map(|f| {
                f.call2(&global, &resolve, &JsValue::from_f64(ms as f64))
                    .is_ok()
            })
            .unwrap_or(false);
        if !scheduled {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
