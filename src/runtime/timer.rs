//! `setTimeout` as a future, in every JS global (window, worker, workerd) without web-sys.

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// Resolves after `ms` milliseconds. If the global has no `setTimeout` (never seen in practice),
/// it resolves at once rather than hanging.
pub(crate) async fn sleep(ms: u64) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let scheduled = global_fn("setTimeout").is_some_and(|f| {
            f.call2(&js_sys::global(), &resolve, &JsValue::from_f64(ms as f64))
                .is_ok()
        });
        if !scheduled {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// A timer a call holds while its task is pending, in Cloudflare's runtime only. The runtime
/// cancels a request that has nothing of its own pending (no I/O, no timer) as hung, and a
/// call waiting for work another request's code drives (a put that joined another's group
/// commit, a read waiting for the commit lock) has nothing. The timer is never meant to fire:
/// it is cleared when the call settles; a call stuck for ten minutes is then taken for hung.
pub(crate) struct Keepalive {
    handle: JsValue,
    _noop: Closure<dyn FnMut()>,
}

/// How long a pending call keeps its request alive without progress.
const KEEPALIVE_MS: f64 = 600_000.0;

thread_local! {
    static IN_WORKERS: bool = {
        let ua = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("navigator"))
            .ok()
            .filter(|n| n.is_object())
            .and_then(|n| js_sys::Reflect::get(&n, &JsValue::from_str("userAgent")).ok())
            .and_then(|u| u.as_string());
        ua.as_deref() == Some("Cloudflare-Workers")
    };
}

/// The global function `name`, if the global has one.
fn global_fn(name: &str) -> Option<js_sys::Function> {
    js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str(name))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
}

impl Keepalive {
    /// A keepalive for a call pending in the current request, or `None` outside Cloudflare's
    /// runtime (browsers and Node have no such rule).
    pub(crate) fn start() -> Option<Self> {
        if !IN_WORKERS.with(|w| *w) {
            return None;
        }
        let noop = Closure::<dyn FnMut()>::new(|| {});
        let handle = global_fn("setTimeout")?
            .call2(
                &js_sys::global(),
                noop.as_ref(),
                &JsValue::from_f64(KEEPALIVE_MS),
            )
            .ok()?;
        Some(Self {
            handle,
            _noop: noop,
        })
    }
}

impl Drop for Keepalive {
    fn drop(&mut self) {
        if let Some(clear) = global_fn("clearTimeout") {
            let _ = clear.call1(&js_sys::global(), &self.handle);
        }
    }
}
