//! Conversions between JS values and the core's types. Everything a caller can pass is
//! validated here and turned into a typed [`Error`]; nothing here may panic.

use std::ops::Bound;
use std::sync::Arc;

use arrow_schema::{Field, Schema, SchemaRef};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

use crate::error::{Error, Result};
use crate::scan::ScanOptions;
use crate::schema::parse_type_name;
use crate::value::Value;

/// Turns an [`Error`] into a JS `Error` whose `name` is `"AnaxError"` and whose `code` is the
/// stable [`crate::ErrorCode`] string (the JS wrapper's `AnaxError` recognises these).
pub fn to_js_error(e: Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    err.set_name("AnaxError");
    // Reflect::set on a fresh Error object cannot fail; ignore the impossible.
    let _ = Reflect::set(&err, &"code".into(), &e.code().as_str().into());
    err.into()
}

/// Reads property `name` of `obj` (undefined when absent).
pub fn prop(obj: &JsValue, name: &str) -> Result<JsValue> {
    Reflect::get(obj, &JsValue::from_str(name))
        .map_err(|_| Error::InvalidArgument(format!("could not read property '{name}'")))
}

fn is_plain_object(v: &JsValue) -> bool {
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

/// The most values (cells plus nested items) one put of row objects may hold.
pub const CELL_BUDGET: usize = 16_000_000;

/// A row's cell: a scalar as [`to_value`], or for list and struct columns an array (items)
/// or a plain object (fields by name), nested up to 32 deep.
pub fn to_cell(
    v: &JsValue,
    what: &dyn Fn() -> String,
    depth: usize,
    budget: &mut usize,
) -> Result<Value> {
    if depth > 32 {
        return Err(Error::InvalidArgument(format!(
            "{} is nested more than 32 deep",
            what()
        )));
    }
    // A bound on the values one put may hold, so shared references (`a = [a, a]`) cannot
    // expand into billions of cells.
    *budget = budget.checked_sub(1).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{}: one put may hold at most {CELL_BUDGET} values (split it into several puts)",
            what()
        ))
    })?;
    if Array::is_array(v) {
        let arr: &Array = v.unchecked_ref();
        return arr
            .iter()
            .enumerate()
            .map(|(i, x)| to_cell(&x, &|| format!("{}[{i}]", what()), depth + 1, budget))
            .collect::<Result<Vec<_>>>()
            .map(Value::List);
    }
    if is_plain_object(v) && !v.is_instance_of::<js_sys::Date>() {
        let entries = Object::entries(v.unchecked_ref::<Object>());
        return entries
            .iter()
            .map(|e| {
                let pair: Array = e.unchecked_into();
                let name = pair.get(0).as_string().unwrap_or_default();
                let value = to_cell(
                    &pair.get(1),
                    &|| format!("{}.{name}", what()),
                    depth + 1,
                    budget,
                )?;
                Ok((name, value))
            })
            .collect::<Result<Vec<_>>>()
            .map(Value::Struct);
    }
    to_value(v, what)
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

/// Parses the JS schema description: `{ column: "type" | { type, nullable } , ... }` in
/// property order, or Arrow IPC bytes (a stream whose schema is used).
/// Key columns are made non-nullable; other columns are nullable unless `nullable: false`.
pub fn to_schema(v: &JsValue, key: &[String]) -> Result<SchemaRef> {
    if let Some(bytes) = v.dyn_ref::<Uint8Array>() {
        // Arrow writers mark every field nullable by default; key columns never hold nulls.
        let (schema, _) = crate::ipc::decode_stream(&bytes.to_vec())?;
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| {
                let is_key = key.iter().any(|k| k == f.name());
                f.as_ref().clone().with_nullable(f.is_nullable() && !is_key)
            })
            .collect();
        return Ok(Arc::new(Schema::new_with_metadata(
            fields,
            schema.metadata().clone(),
        )));
    }
    if !is_plain_object(v) {
        return Err(Error::InvalidArgument(
            "schema must be an object such as { id: \"utf8\", score: \"float64\" } or Arrow IPC \
             bytes"
                .into(),
        ));
    }
    let entries = Object::entries(v.unchecked_ref::<Object>());
    if entries.length() == 0 {
        return Err(Error::InvalidArgument("schema has no columns".into()));
    }
    let mut fields = Vec::with_capacity(entries.length() as usize);
    for entry in entries.iter() {
        let pair: Array = entry.unchecked_into();
        let name = pair.get(0).as_string().unwrap_or_default();
        let is_key = key.contains(&name);
        fields.push(field_spec(&name, &pair.get(1), !is_key, 0)?);
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// One column (or nested field) description: a type name, `{ type, nullable }`,
/// `{ type: "list" | "largeList", items: spec }` or `{ type: "struct", fields: { name: spec } }`.
fn field_spec(name: &str, spec: &JsValue, default_nullable: bool, depth: usize) -> Result<Field> {
    let bad = |m: &str| Error::InvalidArgument(format!("column '{name}': {m}"));
    if depth > 16 {
        return Err(bad("types nest at most 16 deep"));
    }
    if let Some(t) = spec.as_string() {
        let dt = parse_type_name(&t).map_err(|e| bad(&e.to_string()))?;
        return Ok(Field::new(name, dt, default_nullable));
    }
    if !is_plain_object(spec) {
        return Err(bad(
            "must be a type name such as \"int64\" or { type, nullable } (with items for a \
             list, fields for a struct)",
        ));
    }
    for k in Object::keys(spec.unchecked_ref::<Object>()).iter() {
        let k = k.as_string().unwrap_or_default();
        if !["type", "nullable", "items", "fields"].contains(&k.as_str()) {
            return Err(bad(&format!(
                "unknown property '{k}'; a column takes type, nullable, items (lists) and \
                 fields (structs)"
            )));
        }
    }
    let t = prop(spec, "type")?
        .as_string()
        .ok_or_else(|| bad("needs a string 'type'"))?;
    let nullable = prop(spec, "nullable")?;
    let nullable = if nullable.is_undefined() {
        default_nullable
    } else {
        nullable
            .as_bool()
            .ok_or_else(|| bad("'nullable' must be a boolean"))?
    };
    let dt = match t.as_str() {
        "list" | "largeList" => {
            let items = prop(spec, "items")?;
            if items.is_undefined() {
                return Err(bad(
                    "a list needs 'items', e.g. { type: \"list\", items: \"int64\" }",
                ));
            }
            let item = Arc::new(field_spec("item", &items, true, depth + 1)?);
            if t == "list" {
                arrow_schema::DataType::List(item)
            } else {
                arrow_schema::DataType::LargeList(item)
            }
        }
        "struct" => {
            let children = prop(spec, "fields")?;
            if !is_plain_object(&children) {
                return Err(bad(
                    "a struct needs 'fields', e.g. { type: \"struct\", fields: { x: \"float64\" } }",
                ));
            }
            let entries = Object::entries(children.unchecked_ref::<Object>());
            if entries.length() == 0 {
                return Err(bad("a struct needs at least one field"));
            }
            let mut fields = Vec::with_capacity(entries.length() as usize);
            for entry in entries.iter() {
                let pair: Array = entry.unchecked_into();
                let child = pair.get(0).as_string().unwrap_or_default();
                fields.push(field_spec(&child, &pair.get(1), true, depth + 1)?);
            }
            arrow_schema::DataType::Struct(fields.into())
        }
        other => parse_type_name(other).map_err(|e| bad(&e.to_string()))?,
    };
    Ok(Field::new(name, dt, nullable))
}

/// The `key` option: a column name or an array of names.
pub fn to_key_names(v: &JsValue) -> Result<Vec<String>> {
    if let Some(s) = v.as_string() {
        return Ok(vec![s]);
    }
    if Array::is_array(v) {
        let arr: &Array = v.unchecked_ref();
        return arr
            .iter()
            .map(|x| {
                x.as_string().ok_or_else(|| {
                    Error::InvalidArgument("key must list column names as strings".into())
                })
            })
            .collect();
    }
    Err(Error::InvalidArgument(
        "key is required: a column name, or an array of names for a composite key".into(),
    ))
}

/// Rows given as an array of plain objects, checked against `schema`: unknown properties are
/// a schema mismatch (they usually mean a typo), missing ones are null.
pub fn rows_to_batch(
    rows: &Array,
    schema: &crate::schema::TableSchema,
) -> Result<arrow_array::RecordBatch> {
    let arrow = schema.arrow();
    let names: Vec<JsValue> = arrow
        .fields()
        .iter()
        .map(|f| JsValue::from_str(f.name()))
        .collect();
    let mut b = crate::rows::RowsBuilder::new(arrow.clone(), schema.key_indices())?;
    let mut budget = CELL_BUDGET;
    for (r, row) in rows.iter().enumerate() {
        if !is_plain_object(&row) {
            return Err(Error::InvalidArgument(format!(
                "row {r} is not an object; pass an array of objects like {{ id: 1, name: \"x\" }}"
            )));
        }
        let keys = Object::keys(row.unchecked_ref::<Object>());
        for k in keys.iter() {
            let k = k.as_string().unwrap_or_default();
            if arrow.index_of(&k).is_err() {
                return Err(Error::SchemaMismatch(format!(
                    "row {r} has a property '{k}' that is not a column of the table"
                )));
            }
        }
        b.push_row(|i| {
            let name = names
                .get(i)
                .ok_or_else(|| Error::Internal("column index out of range".into()))?;
            let v = Reflect::get(&row, name)
                .map_err(|_| Error::InvalidArgument(format!("row {r}: unreadable property")))?;
            to_cell(
                &v,
                &|| format!("row {r}, column '{}'", arrow.field(i).name()),
                0,
                &mut budget,
            )
        })?;
    }
    b.finish()
}

fn opt_bool(obj: &JsValue, name: &str, default: bool) -> Result<bool> {
    let v = prop(obj, name)?;
    if v.is_undefined() || v.is_null() {
        return Ok(default);
    }
    v.as_bool()
        .ok_or_else(|| Error::InvalidArgument(format!("scan option '{name}' must be a boolean")))
}

/// Scan options: `{ start, end, startInclusive = true, endInclusive = false, prefix,
/// projection, limit, reverse }`.
pub fn to_scan_options(v: &JsValue) -> Result<ScanOptions> {
    let mut o = ScanOptions::default();
    if v.is_undefined() || v.is_null() {
        return Ok(o);
    }
    if !is_plain_object(v) {
        return Err(Error::InvalidArgument(
            "scan options must be an object".into(),
        ));
    }
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

/// A batch as an array of plain row objects (`{ column: value }`): numbers for numeric,
/// date and timestamp columns (64-bit integers beyond 2^53 as BigInt), strings, booleans,
/// `Uint8Array` for binary, arrays for lists, objects for structs, `null` for nulls. For
/// callers that want JSON rather than Arrow.
pub fn batch_to_rows(batch: &arrow_array::RecordBatch) -> Result<Array> {
    let schema = batch.schema();
    let objects: Vec<js_sys::Object> = (0..batch.num_rows())
        .map(|_| js_sys::Object::new())
        .collect();
    for (c, col) in batch.columns().iter().enumerate() {
        let name = JsValue::from_str(schema.field(c).name());
        for (r, obj) in objects.iter().enumerate() {
            let v = js_cell(col.as_ref(), r, schema.field(c).name())?;
            set_own(obj, &name, &v);
        }
    }
    let rows = Array::new();
    for o in objects {
        rows.push(&o);
    }
    Ok(rows)
}

/// Sets `obj[name] = v` as an own property, even for the name `__proto__` (a plain
/// assignment would call the prototype setter and drop the value).
fn set_own(obj: &js_sys::Object, name: &JsValue, v: &JsValue) {
    if name.as_string().as_deref() == Some("__proto__") {
        let desc = js_sys::Object::new();
        let _ = Reflect::set(&desc, &"value".into(), v);
        let _ = Reflect::set(&desc, &"enumerable".into(), &JsValue::TRUE);
        let _ = Reflect::set(&desc, &"writable".into(), &JsValue::TRUE);
        let _ = Reflect::set(&desc, &"configurable".into(), &JsValue::TRUE);
        let _ = Reflect::define_property(obj, name, &desc);
    } else {
        let _ = Reflect::set(obj, name, v);
    }
}

/// One cell of `col` as a JS value.
fn js_cell(col: &dyn arrow_array::Array, r: usize, column: &str) -> Result<JsValue> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    use arrow_schema::{DataType, TimeUnit};
    if col.is_null(r) {
        return Ok(JsValue::NULL);
    }
    let int = |v: i64| {
        if v.unsigned_abs() <= (1u64 << 53) {
            JsValue::from_f64(v as f64)
        } else {
            js_sys::BigInt::from(v).into()
        }
    };
    Ok(match col.data_type() {
        DataType::Boolean => JsValue::from_bool(col.as_boolean().value(r)),
        DataType::Int8 => int(col.as_primitive::<Int8Type>().value(r).into()),
        DataType::Int16 => int(col.as_primitive::<Int16Type>().value(r).into()),
        DataType::Int32 => int(col.as_primitive::<Int32Type>().value(r).into()),
        DataType::Int64 => int(col.as_primitive::<Int64Type>().value(r)),
        DataType::UInt8 => int(col.as_primitive::<UInt8Type>().value(r).into()),
        DataType::UInt16 => int(col.as_primitive::<UInt16Type>().value(r).into()),
        DataType::UInt32 => int(col.as_primitive::<UInt32Type>().value(r).into()),
        DataType::UInt64 => {
            let v = col.as_primitive::<UInt64Type>().value(r);
            if v <= (1u64 << 53) {
                JsValue::from_f64(v as f64)
            } else {
                js_sys::BigInt::from(v).into()
            }
        }
        DataType::Float32 => JsValue::from_f64(col.as_primitive::<Float32Type>().value(r).into()),
        DataType::Float64 => JsValue::from_f64(col.as_primitive::<Float64Type>().value(r)),
        DataType::Utf8 => JsValue::from_str(col.as_string::<i32>().value(r)),
        DataType::LargeUtf8 => JsValue::from_str(col.as_string::<i64>().value(r)),
        DataType::Binary => Uint8Array::from(col.as_binary::<i32>().value(r)).into(),
        DataType::LargeBinary => Uint8Array::from(col.as_binary::<i64>().value(r)).into(),
        DataType::FixedSizeBinary(_) => {
            Uint8Array::from(col.as_fixed_size_binary().value(r)).into()
        }
        DataType::Date32 => int(col.as_primitive::<Date32Type>().value(r).into()),
        DataType::Date64 => int(col.as_primitive::<Date64Type>().value(r)),
        DataType::Timestamp(TimeUnit::Second, _) => {
            int(col.as_primitive::<TimestampSecondType>().value(r))
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            int(col.as_primitive::<TimestampMillisecondType>().value(r))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            int(col.as_primitive::<TimestampMicrosecondType>().value(r))
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            int(col.as_primitive::<TimestampNanosecondType>().value(r))
        }
        DataType::List(_) | DataType::LargeList(_) => {
            let items = if let Some(l) = col.as_list_opt::<i32>() {
                l.value(r)
            } else {
                col.as_list::<i64>().value(r)
            };
            let out = Array::new();
            for i in 0..items.len() {
                out.push(&js_cell(items.as_ref(), i, column)?);
            }
            out.into()
        }
        DataType::Struct(fields) => {
            let s = col.as_struct();
            let obj = js_sys::Object::new();
            for (f, child) in fields.iter().zip(s.columns()) {
                let v = js_cell(child.as_ref(), r, column)?;
                set_own(&obj, &JsValue::from_str(f.name()), &v);
            }
            obj.into()
        }
        other => {
            return Err(Error::InvalidArgument(format!(
                "column '{column}' has type {other}, which has no JSON form here; read it as Arrow IPC"
            )));
        }
    })
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
