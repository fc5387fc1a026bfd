//! A scan's JS options as [`ScanOptions`]: bounds, prefix, limit, order, projection, and the
//! filter given as plain JSON.

use std::ops::Bound;

use js_sys::Array;
use wasm_bindgen::{JsCast, JsValue};

use super::schema::to_key_names;
use super::value::{is_plain_object, prop, to_key, to_value};
use crate::error::{Error, Result};
use crate::read::ScanOptions;
use crate::value::Value;

fn opt_bool(obj: &JsValue, name: &str, default: bool) -> Result<bool> {
    let v = prop(obj, name)?;
    if v.is_undefined() || v.is_null() {
        return Ok(default);
    }
    v.as_bool()
        .ok_or_else(|| Error::InvalidArgument(format!("scan option '{name}' must be a boolean")))
}

/// Every name a scan's options object may hold. The last two, the freshness pair, only a
/// live handle's scan takes (`options::scan_freshness` reads them from the same object); a
/// snapshot or a transaction reads at its own timestamp.
const SCAN_OPTIONS: &[&str] = &[
    "start",
    "end",
    "startInclusive",
    "endInclusive",
    "prefix",
    "projection",
    "limit",
    "reverse",
    "filter",
    "freshness",
    "maxStalenessMs",
];

/// Scan options: `{ start, end, startInclusive = true, endInclusive = false, prefix,
/// projection, limit, reverse, filter }`, and on a `live` handle the freshness pair. Any other
/// name is refused: a misspelt `limt` would otherwise return every row.
pub fn to_scan_options(v: &JsValue, live: bool) -> Result<ScanOptions> {
    let mut o = ScanOptions::default();
    if v.is_undefined() || v.is_null() {
        return Ok(o);
    }
    if !is_plain_object(v) {
        return Err(Error::InvalidArgument(
            "scan options must be an object".into(),
        ));
    }
    let allowed = match live {
        true => SCAN_OPTIONS,
        false => SCAN_OPTIONS
            .get(..SCAN_OPTIONS.len() - 2)
            .unwrap_or(SCAN_OPTIONS),
    };
    let whose = if live {
        "a scan"
    } else {
        "a snapshot's or transaction's scan"
    };
    super::value::refuse_unknown(v, allowed, &|name, list| {
        format!("unknown scan option '{name}'; {whose} takes {list}")
    })?;
    let bound = |name: &str, inclusive: bool| -> Result<Bound<Vec<Value>>> {
        let k = prop(v, name)?;
        if k.is_undefined() || k.is_null() {
            return Ok(Bound::Unbounded);
        }
        let key = to_key(&k)?;
        Ok(if inclusive {
            Bound::Included(key)
        } else {
            Bound::Excluded(key)
        })
    };
    o.start = bound("start", opt_bool(v, "startInclusive", true)?)?;
    o.end = bound("end", opt_bool(v, "endInclusive", false)?)?;
    let prefix = prop(v, "prefix")?;
    if !prefix.is_undefined() && !prefix.is_null() {
        o.prefix = Some(to_key(&prefix)?);
    }
    let limit = prop(v, "limit")?;
    if !limit.is_undefined() && !limit.is_null() {
        let n = limit
            .as_f64()
            .filter(|n| *n >= 0.0 && n.fract() == 0.0)
            .ok_or_else(|| {
                Error::InvalidArgument("scan option 'limit' must be a non-negative integer".into())
            })?;
        o.limit = Some(n.min(usize::MAX as f64) as usize);
    }
    o.reverse = opt_bool(v, "reverse", false)?;
    let filter = prop(v, "filter")?;
    if !filter.is_undefined() && !filter.is_null() {
        o.filter = Some(to_filter(&filter, 0)?);
    }
    let projection = prop(v, "projection")?;
    if !projection.is_undefined() && !projection.is_null() {
        o.projection = Some(to_key_names(&projection).map_err(|_| {
            Error::InvalidArgument(
                "scan option 'projection' must be an array of column names".into(),
            )
        })?);
    }
    Ok(o)
}

/// A filter given as plain JSON: `{ and: [f, ...] }`, `{ or: [...] }`, `{ not: f }`,
/// `{ eq | ne | lt | le | gt | ge: [column, value] }`, `{ between: [column, low, high] }`,
/// `{ in: [column, [values]] }`, `{ startsWith: [column, prefix] }`, `{ isNull: column }`,
/// `{ isNotNull: column }`. Exactly one operator per object.
pub fn to_filter(v: &JsValue, depth: usize) -> Result<crate::read::filter::Filter> {
    use crate::read::filter::Filter;
    let bad = |m: String| Error::InvalidArgument(format!("filter: {m}"));
    if depth > 64 {
        return Err(bad("nested more than 64 deep".into()));
    }
    if !is_plain_object(v) {
        return Err(bad(
            "each filter is an object with one operator, e.g. {\"eq\": [\"id\", 1]}".into(),
        ));
    }
    let keys: Vec<String> = js_sys::Object::keys(v.unchecked_ref::<js_sys::Object>())
        .iter()
        .filter_map(|k| k.as_string())
        .collect();
    let [op] = keys.as_slice() else {
        return Err(bad(format!(
            "an object must hold exactly one operator, got {keys:?}"
        )));
    };
    let arg = prop(v, op)?;
    let list = |n: usize| -> Result<Vec<JsValue>> {
        if !Array::is_array(&arg) {
            return Err(bad(format!("'{op}' takes an array")));
        }
        let a: Vec<JsValue> = arg.unchecked_ref::<Array>().iter().collect();
        if n > 0 && a.len() != n {
            return Err(bad(format!("'{op}' takes {n} elements, got {}", a.len())));
        }
        Ok(a)
    };
    let column = |c: &JsValue| {
        c.as_string()
            .ok_or_else(|| bad(format!("the first element of '{op}' must be a column name")))
    };
    let value = |c: &JsValue| to_value(c, &|| format!("filter '{op}'"));
    let shape = || bad(format!("'{op}' has the wrong number of elements"));
    let cmp = |f: fn(String, Value) -> Filter| -> Result<Filter> {
        match list(2)?.as_slice() {
            [c, x] => Ok(f(column(c)?, value(x)?)),
            _ => Err(shape()),
        }
    };
    Ok(match op.as_str() {
        "and" | "or" => {
            let subs = list(0)?
                .iter()
                .map(|f| to_filter(f, depth + 1))
                .collect::<Result<Vec<_>>>()?;
            if op == "and" {
                Filter::And(subs)
            } else {
                Filter::Or(subs)
            }
        }
        "not" => Filter::Not(Box::new(to_filter(&arg, depth + 1)?)),
        "eq" => cmp(Filter::Eq)?,
        "ne" => cmp(Filter::NotEq)?,
        "lt" => cmp(Filter::Lt)?,
        "le" => cmp(Filter::LtEq)?,
        "gt" => cmp(Filter::Gt)?,
        "ge" => cmp(Filter::GtEq)?,
        "startsWith" => cmp(Filter::StartsWith)?,
        "between" => match list(3)?.as_slice() {
            [c, lo, hi] => Filter::Between(column(c)?, value(lo)?, value(hi)?),
            _ => return Err(shape()),
        },
        "in" => match list(2)?.as_slice() {
            [c, vals] if Array::is_array(vals) => {
                let vals = vals
                    .unchecked_ref::<Array>()
                    .iter()
                    .map(|x| value(&x))
                    .collect::<Result<Vec<_>>>()?;
                Filter::InList(column(c)?, vals)
            }
            _ => return Err(bad("'in' takes [column, [values]]".into())),
        },
        "isNull" => Filter::IsNull(column(&arg)?),
        "isNotNull" => Filter::IsNotNull(column(&arg)?),
        other => {
            return Err(bad(format!(
                "unknown operator '{other}'; use and, or, not, eq, ne, lt, le, gt, ge, between, \
                 in, startsWith, isNull, isNotNull"
            )));
        }
    })
}
