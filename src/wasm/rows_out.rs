//! A batch as plain JS row objects, for callers that want JSON rather than Arrow.

use js_sys::{Array, Reflect, Uint8Array};
use wasm_bindgen::JsValue;

use crate::error::{Error, Result};

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
