//! Single JS values as the core's: cells, keys and lists of keys. Everything a caller can pass
//! is validated here and turned into a typed [`Error`]; nothing here may panic.

use js_sys::{Array, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

use crate::error::{Error, Result};
use crate::value::Value;

/// Reads property `name` of `obj` (undefined when absent).
pub fn prop(obj: &JsValue, name: &str) -> Result<JsValue> {
    Reflect::get(obj, &JsValue::from_str(name))
        .map_err(|_| Error::InvalidArgument(format!("could not read property '{name}'")))
}

/// Refuses an options object holding a name outside `allowed`, with `unknown(name, list of
/// allowed names)` as the message: a misspelt option would otherwise keep its default.
pub(super) fn refuse_unknown(
    v: &JsValue,
    allowed: &[&str],
    unknown: &dyn Fn(&str, &str) -> String,
) -> Result<()> {
    for k in js_sys::Object::keys(v.unchecked_ref::<js_sys::Object>()).iter() {
        let k = k.as_string().unwrap_or_default();
        if !allowed.contains(&k.as_str()) {
            return Err(Error::InvalidArgument(unknown(&k, &allowed.join(", "))));
        }
    }
    Ok(())
}

pub(super) fn is_plain_object(v: &JsValue) -> bool {
    v.is_object() && !Array::is_array(v) && !v.is_instance_of::<Uint8Array>()
}

/// `v` as a Rust string when it is a JS string, refusing one that holds a lone surrogate
/// (half of a UTF-16 pair, as `slice` through an emoji leaves). UTF-8 cannot hold it, and
/// the usual conversion would replace it with U+FFFD, so that two distinct keys would
/// silently become one.
pub fn exact_string(v: &JsValue, what: &dyn Fn() -> String) -> Result<Option<String>> {
    let Some(s) = v.as_string() else {
        return Ok(None);
    };
    // The replacement character is rare in real text: only then is the string checked unit
    // by unit (a call per unit), so ordinary strings cost nothing more.
    if s.contains('\u{FFFD}') && !v.unchecked_ref::<js_sys::JsString>().is_valid_utf16() {
        return Err(Error::InvalidArgument(format!(
            "{} is a string with a lone surrogate (half of a UTF-16 pair, as slicing through an \
             emoji leaves); UTF-8 cannot store it: repair the string (String.prototype.toWellFormed) \
             or store it as bytes",
            what()
        )));
    }
    Ok(Some(s))
}

/// One JS value as a cell.
pub fn to_value(v: &JsValue, what: &dyn Fn() -> String) -> Result<Value> {
    if v.is_null() || v.is_undefined() {
        return Ok(Value::Null);
    }
    if let Some(b) = v.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Some(f) = v.as_f64() {
        return Ok(Value::Float(f));
    }
    if let Some(s) = exact_string(v, what)? {
        return Ok(Value::Str(s));
    }
    if v.is_bigint() {
        let big: js_sys::BigInt = v.clone().unchecked_into();
        let text: String = big.to_string(10).map(String::from).unwrap_or_default();
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Value::Int(i));
        }
        if let Ok(u) = text.parse::<u64>() {
            return Ok(Value::UInt(u));
        }
        return Err(Error::InvalidArgument(format!(
            "{} is a bigint outside the 64-bit range",
            what()
        )));
    }
    if let Some(bytes) = v.dyn_ref::<Uint8Array>() {
        return Ok(Value::Bytes(bytes.to_vec()));
    }
    if let Some(date) = v.dyn_ref::<js_sys::Date>() {
        return Ok(Value::Float(date.get_time()));
    }
    let kind = if Array::is_array(v) {
        "an array"
    } else {
        "an object"
    };
    Err(Error::InvalidArgument(format!(
        "{} is {kind}; expected a number, bigint, string, boolean, Uint8Array, Date or null",
        what()
    )))
}

/// A key: one value, or an array of values for a composite key.
pub fn to_key(v: &JsValue) -> Result<Vec<Value>> {
    if Array::is_array(v) {
        let arr: &Array = v.unchecked_ref();
        arr.iter()
            .enumerate()
            .map(|(i, x)| to_value(&x, &|| format!("key part {i}")))
            .collect()
    } else {
        if v.is_undefined() || v.is_null() {
            return Err(Error::InvalidArgument(
                "a key is required (a value, or an array of values for a composite key)".into(),
            ));
        }
        Ok(vec![to_value(v, &|| "the key".into())?])
    }
}

/// `delete`'s argument: one key, or an array of keys. With a one-column key an array lists
/// keys; with a composite key an array of arrays does (a flat array is one composite key).
pub fn to_keys(v: &JsValue, arity: usize) -> Result<Vec<Vec<Value>>> {
    if !Array::is_array(v) {
        return Ok(vec![to_key(v)?]);
    }
    let arr: &Array = v.unchecked_ref();
    if arr.length() == 0 {
        return Err(Error::InvalidArgument(
            "delete was given an empty array; pass a key or a non-empty array of keys".into(),
        ));
    }
    let nested = arr.iter().all(|x| Array::is_array(&x));
    if arity > 1 && !nested {
        return Ok(vec![to_key(v)?]);
    }
    arr.iter().map(|x| to_key(&x)).collect()
}
