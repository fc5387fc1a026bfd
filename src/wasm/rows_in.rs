//! Rows from JS as a batch of the table's schema: row objects (checked cell by cell), Arrow
//! IPC bytes, or rows packed by js/pack.js. Nothing here may panic.

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

use super::value::{is_plain_object, prop, to_value};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::value::Value;

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

/// `put`'s argument as a batch of the table's schema: row objects or IPC bytes.
pub(super) fn rows_arg(db: &Db, rows: &JsValue) -> Result<arrow_array::RecordBatch> {
    if let Some(bytes) = rows.dyn_ref::<Uint8Array>() {
        return db.ipc_batch(&bytes.to_vec());
    }
    if let Some(buf) = rows.dyn_ref::<js_sys::ArrayBuffer>() {
        return db.ipc_batch(&Uint8Array::new(buf).to_vec());
    }
    if Array::is_array(rows) {
        return rows_to_batch(rows.unchecked_ref(), db.schema());
    }
    let arrow_like = rows.is_object()
        && !prop(rows, "schema")?.is_undefined()
        && !prop(rows, "batches")?.is_undefined();
    Err(Error::InvalidArgument(if arrow_like {
        "put takes Arrow IPC bytes, not an apache-arrow Table: pass tableToIPC(table, \"stream\")"
            .into()
    } else {
        "put takes an array of row objects or Arrow IPC stream bytes (Uint8Array)".into()
    }))
}

/// A batch from packed rows (js/pack.js), checked against the table's schema. Takes the bytes
/// so that they are freed before the put runs: its first poll (which encodes the SST) happens
/// inside the call, and a 16 MiB value held there once more grew wasm memory by as much.
pub(super) fn packed_arg(db: &Db, packed: Vec<u8>) -> Result<arrow_array::RecordBatch> {
    let schema = db.schema();
    let mut b = crate::rows::RowsBuilder::new(schema.arrow().clone(), schema.key_indices())?;
    b.push_packed(&packed)?;
    drop(packed);
    b.finish()
}

/// Copies packed rows out of JS memory into a buffer an eighth larger than they are. A put
/// frees it once the batch is built; the SST's encoding buffers then fit in the space it
/// leaves (wasm memory never shrinks: a buffer that fits nowhere grows it for good).
pub(super) fn packed_bytes(packed: &js_sys::Uint8Array) -> Vec<u8> {
    let n = packed.length() as usize;
    let mut out = Vec::with_capacity(n.saturating_add(n / 8));
    out.resize(n, 0);
    packed.copy_to(&mut out);
    out
}

/// The table's column names, in order (what js/pack.js packs rows by).
pub(super) fn column_names(db: &Db) -> Array {
    db.schema()
        .arrow()
        .fields()
        .iter()
        .map(|f| JsValue::from_str(f.name()))
        .collect()
}
