//! `{ signal, onProgress }` of the long calls (`Anax.open` with its WAL replay, `compact`,
//! `gc`) as a [`Control`]. The signal is read at each of the call's checks rather than
//! listened to, so nothing registered with it outlives the call.

use js_sys::Function;
use wasm_bindgen::{JsCast, JsValue};

use super::value::prop;
use crate::control::{Control, Progress};
use crate::error::{Error, Result};
use crate::storage::js::object;

/// Option names of `compact(options)` and `gc(options)`.
const NAMES: &[&str] = &["signal", "onProgress"];

/// Whether `v` looks like an AbortSignal (by shape: one from another realm counts too).
fn is_signal(v: &JsValue) -> bool {
    v.is_object()
        && prop(v, "aborted").is_ok_and(|a| a.as_bool().is_some())
        && prop(v, "addEventListener").is_ok_and(|f| f.is_function())
}

/// The control of `method` from the `signal` and `onProgress` of `options` (an options
/// object or undefined). The callback gets `{ phase, done, total }`; what it throws is
/// ignored, since a progress display must not fail the work it shows.
pub fn from_options(options: &JsValue, method: &str) -> Result<Control> {
    if options.is_undefined() || options.is_null() {
        return Ok(Control::default());
    }
    let signal = prop(options, "signal")?;
    let sink = prop(options, "onProgress")?;
    let mut control = if signal.is_undefined() {
        Control::default()
    } else if is_signal(&signal) {
        Control::with_probe(move || {
            prop(&signal, "aborted")
                .is_ok_and(|a| a.is_truthy())
                .then(|| "the call was aborted by its AbortSignal".to_owned())
        })
    } else {
        return Err(Error::InvalidArgument(format!(
            "{method}'s signal must be an AbortSignal"
        )));
    };
    if !sink.is_undefined() {
        let f: Function = sink.dyn_into().map_err(|_| {
            Error::InvalidArgument(format!("{method}'s onProgress must be a function"))
        })?;
        control = control.on_progress(move |p: &Progress| {
            let report = object(&[
                ("phase", JsValue::from_str(p.phase.as_str())),
                ("done", JsValue::from_f64(p.done as f64)),
                ("total", JsValue::from_f64(p.total as f64)),
            ]);
            let _ = f.call1(&JsValue::UNDEFINED, &report);
        });
    }
    Ok(control)
}

/// [`from_options`] for a call whose options hold nothing else (`compact`, `gc`): other
/// names are refused, as everywhere, so a misspelt `signl` cannot go unnoticed.
pub fn only(options: &JsValue, method: &str) -> Result<Control> {
    if !(options.is_undefined() || options.is_null()) {
        if !super::value::is_plain_object(options) {
            return Err(Error::InvalidArgument(format!(
                "{method} takes an options object {{ signal, onProgress }} or nothing"
            )));
        }
        super::value::refuse_unknown(options, NAMES, &|k, list| {
            format!("unknown option '{k}'; {method} takes {list}")
        })?;
    }
    from_options(options, method)
}
