//! The table's shape from `Anax.open`'s options: the `schema` description (or Arrow IPC bytes)
//! and the `key` column names.

use std::sync::Arc;

use arrow_schema::{Field, Schema, SchemaRef};
use js_sys::{Array, Object, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

use super::value::{is_plain_object, prop};
use crate::error::{Error, Result};
use crate::schema::parse_type_name;

/// Parses the JS schema description: `{ column: "type" | { type, nullable } , ... }` in
/// property order, or Arrow IPC bytes (a stream whose schema is used).
/// Key columns are made non-nullable; other columns are nullable unless `nullable: false`.
pub fn to_schema(v: &JsValue, key: &[String]) -> Result<SchemaRef> {
    if let Some(bytes) = v.dyn_ref::<Uint8Array>() {
        // Arrow writers mark every field nullable by default; key columns never hold nulls.
        let (schema, _) = crate::ipc::decode_stream_or_file(&bytes.to_vec())?;
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
