//! Builds Arrow columns from rows of [`Value`]s, checking each value against its column.
//!
//! This is the path for plain JS objects and for keys named by value; Arrow input (RecordBatch,
//! IPC) skips it entirely.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, FixedSizeBinaryBuilder, LargeBinaryBuilder, LargeStringBuilder,
    PrimitiveBuilder, StringBuilder,
};
use arrow_array::types::{
    Date32Type, Date64Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{ArrayRef, ArrowPrimitiveType, RecordBatch};
use arrow_schema::{DataType, Field, SchemaRef, TimeUnit};

use crate::error::{Error, Result};
use crate::value::Value;

/// Accumulates rows for one schema, then yields a [`RecordBatch`].
pub struct RowsBuilder {
    schema: SchemaRef,
    columns: Vec<Column>,
    key: Vec<bool>,
    rows: usize,
}

enum Column {
    Bool(BooleanBuilder),
    I8(PrimitiveBuilder<Int8Type>),
    I16(PrimitiveBuilder<Int16Type>),
    I32(PrimitiveBuilder<Int32Type>),
    I64(PrimitiveBuilder<Int64Type>),
    U8(PrimitiveBuilder<UInt8Type>),
    U16(PrimitiveBuilder<UInt16Type>),
    U32(PrimitiveBuilder<UInt32Type>),
    U64(PrimitiveBuilder<UInt64Type>),
    F32(PrimitiveBuilder<Float32Type>),
    F64(PrimitiveBuilder<Float64Type>),
    Date32(PrimitiveBuilder<Date32Type>),
    Date64(PrimitiveBuilder<Date64Type>),
    TsS(PrimitiveBuilder<TimestampSecondType>),
    TsMs(PrimitiveBuilder<TimestampMillisecondType>),
    TsUs(PrimitiveBuilder<TimestampMicrosecondType>),
    TsNs(PrimitiveBuilder<TimestampNanosecondType>),
    Utf8(StringBuilder),
    LargeUtf8(LargeStringBuilder),
    Binary(BinaryBuilder),
    LargeBinary(LargeBinaryBuilder),
    FixedBinary(FixedSizeBinaryBuilder, usize),
    /// A list or struct column: cells are kept as values and built at the end, recursively.
    Nested(Field, Vec<Value>),
}

impl RowsBuilder {
    /// A builder for `schema`; `key` lists the indices of key columns (a null there is
    /// [`Error::KeyNull`]). Fails for column types that cannot be built from values.
    pub fn new(schema: SchemaRef, key: &[usize]) -> Result<Self> {
        let columns = schema
            .fields()
            .iter()
            .map(|f| Column::for_field(f))
            .collect::<Result<Vec<_>>>()?;
        let key = (0..schema.fields().len())
            .map(|i| key.contains(&i))
            .collect();
        Ok(Self {
            schema,
            columns,
            key,
            rows: 0,
        })
    }

    /// The schema rows are built for.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Appends one row; `cell(i)` yields the value of column `i`. On error the builder must be
    /// dropped (the row may be half-appended).
    pub fn push_row(&mut self, mut cell: impl FnMut(usize) -> Result<Value>) -> Result<()> {
        for i in 0..self.columns.len() {
            self.push_cell(i, cell(i)?)?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Appends `value` to column `i` of the row being built.
    fn push_cell(&mut self, i: usize, value: Value) -> Result<()> {
        let row = self.rows;
        let (Some(col), Some(field), Some(is_key)) = (
            self.columns.get_mut(i),
            self.schema.fields().get(i),
            self.key.get(i),
        ) else {
            return Err(Error::Internal(format!("no column {i} to append to")));
        };
        if matches!(value, Value::Null) && !field.is_nullable() {
            return Err(if *is_key {
                Error::KeyNull {
                    column: field.name().clone(),
                    row,
                }
            } else {
                Error::TypeMismatch {
                    column: field.name().clone(),
                    expected: format!("a non-null {}", field.data_type()),
                    got: "null".into(),
                }
            });
        }
        col.append(value, field)
    }

    /// Appends one row given as a slice of values in column order.
    pub fn push_values(&mut self, values: &[Value]) -> Result<()> {
        if values.len() != self.columns.len() {
            return Err(Error::InvalidArgument(format!(
                "expected {} values, got {}",
                self.columns.len(),
                values.len()
            )));
        }
        self.push_row(|i| Ok(values.get(i).cloned().unwrap_or(Value::Null)))
    }

    /// Appends the rows of a packed batch (the format is at `Packed`): the form the JS layer gives
    /// row objects whose cells are all scalars, so a put crosses into wasm once instead of
    /// several times per cell. The cells become the values `to_value` would have made, so
    /// the checks and their errors are the ones of the row-object path.
    pub fn push_packed(&mut self, packed: &[u8]) -> Result<()> {
        let mut r = Packed { buf: packed, at: 0 };
        let columns = r.u32()? as usize;
        let rows = r.u32()? as usize;
        if columns != self.columns.len() {
            return Err(Error::Internal(format!(
                "packed rows have {columns} columns, the table {}",
                self.columns.len()
            )));
        }
        if self.rows == 0 && packed.len() >= LARGE_PACKED {
            self.size_string_columns(r.clone(), rows)?;
        }
        for _ in 0..rows {
            for i in 0..columns {
                // A string into a string column goes straight from the packed bytes into the
                // column: no owned copy on the way (a 16 MiB value was held three times).
                match (r.peek(), self.columns.get_mut(i)) {
                    (Some(4), Some(Column::Utf8(b))) => b.append_value(r.str_cell()?),
                    (Some(4), Some(Column::LargeUtf8(b))) => b.append_value(r.str_cell()?),
                    _ => {
                        let v = r.cell()?;
                        self.push_cell(i, v)?;
                    }
                }
            }
            self.rows += 1;
        }
        if r.at != packed.len() {
            return Err(Error::Internal("packed rows have trailing bytes".into()));
        }
        Ok(())
    }

    /// Sizes the string columns of a fresh builder for the packed rows `r` is at (one pass over
    /// their cells): a column that receives [`LARGE_PACKED`] bytes or more gets room for them
    /// at once, plus a sixty-fourth and 64 KiB. Built by doubling, a large column copied its
    /// values at every step; sized exactly, the memory its values free once they are written
    /// to an SST could not hold that SST's buffer (the values and a few bytes more), and wasm
    /// memory grew by another copy for it (a 16 MiB value peaked at 70 MiB).
    fn size_string_columns(&mut self, mut r: Packed<'_>, rows: usize) -> Result<()> {
        let mut bytes = vec![0usize; self.columns.len()];
        for _ in 0..rows {
            for b in bytes.iter_mut() {
                if r.peek() == Some(4) {
                    // Only the length: the cell's UTF-8 is checked once, when it is appended.
                    r.take(1)?;
                    let n = r.u32()? as usize;
                    r.take(n)?;
                    *b = b.saturating_add(n);
                } else {
                    r.cell()?;
                }
            }
        }
        for (column, n) in self.columns.iter_mut().zip(bytes) {
            if n < LARGE_PACKED {
                continue;
            }
            let room = n.saturating_add(n / 64).saturating_add(64 << 10);
            match column {
                Column::Utf8(b) => *b = StringBuilder::with_capacity(rows, room),
                Column::LargeUtf8(b) => *b = LargeStringBuilder::with_capacity(rows, room),
                _ => {}
            }
        }
        Ok(())
    }

    /// The rows appended so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row was appended.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Finishes the batch.
    pub fn finish(self) -> Result<RecordBatch> {
        let arrays = self
            .columns
            .into_iter()
            .map(Column::finish)
            .collect::<Result<Vec<ArrayRef>>>()?;
        Ok(RecordBatch::try_new(self.schema, arrays)?)
    }
}

/// A reader over packed rows. The format, little-endian: `u32` column count, `u32` row count, then each row's
/// cells in column order, each a tag byte: 0 null, 1 false, 2 true, 3 number (`f64`),
/// 4 string (`u32` byte length, UTF-8). Written by `js/pack.js`; private to this package.
/// Every malformed input is an error, never a panic.
#[derive(Clone)]
struct Packed<'a> {
    buf: &'a [u8],
    at: usize,
}

/// Packed rows this large (and string columns receiving this much) are sized before they are
/// built (see [`RowsBuilder::size_string_columns`]).
const LARGE_PACKED: usize = 1 << 20;

impl Packed<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let out = self
            .at
            .checked_add(n)
            .and_then(|end| self.buf.get(self.at..end))
            .ok_or_else(|| Error::Internal("packed rows end early".into()))?;
        self.at += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// The next cell's tag, not consumed.
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.at).copied()
    }

    /// A string cell (tag 4), borrowed from the packed bytes.
    fn str_cell(&mut self) -> Result<&str> {
        match self.array()? {
            [4] => self.text(),
            [t] => Err(Error::Internal(format!(
                "packed rows hold tag {t}, not a string"
            ))),
        }
    }

    /// A string's length and UTF-8 bytes (after its tag).
    fn text(&mut self) -> Result<&str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?)
            .map_err(|_| Error::Internal("packed rows hold invalid UTF-8".into()))
    }

    fn cell(&mut self) -> Result<Value> {
        let [tag] = self.array()?;
        Ok(match tag {
            0 => Value::Null,
            1 => Value::Bool(false),
            2 => Value::Bool(true),
            3 => Value::Float(f64::from_le_bytes(self.array()?)),
            4 => Value::Str(self.text()?.to_owned()),
            t => {
                return Err(Error::Internal(format!(
                    "packed rows hold an unknown tag {t}"
                )));
            }
        })
    }
}

fn mismatch(field: &Field, v: &Value) -> Error {
    Error::TypeMismatch {
        column: field.name().clone(),
        expected: field.data_type().to_string(),
        got: v.describe(),
    }
}

/// The value as an exact integer, if it is one.
fn as_i128(v: &Value) -> Option<i128> {
    match v {
        Value::Int(i) => Some(i128::from(*i)),
        Value::UInt(u) => Some(i128::from(*u)),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1.8e19 => Some(*f as i128),
        _ => None,
    }
}

fn append_int<T>(b: &mut PrimitiveBuilder<T>, v: Value, field: &Field) -> Result<()>
where
    T: ArrowPrimitiveType,
    T::Native: TryFrom<i128>,
{
    let n = as_i128(&v)
        .and_then(|i| T::Native::try_from(i).ok())
        .ok_or_else(|| mismatch(field, &v))?;
    b.append_value(n);
    Ok(())
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::UInt(u) => Some(*u as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

impl Column {
    fn for_field(field: &Field) -> Result<Self> {
        Ok(match field.data_type() {
            DataType::Boolean => Column::Bool(BooleanBuilder::new()),
            DataType::Int8 => Column::I8(PrimitiveBuilder::new()),
            DataType::Int16 => Column::I16(PrimitiveBuilder::new()),
            DataType::Int32 => Column::I32(PrimitiveBuilder::new()),
            DataType::Int64 => Column::I64(PrimitiveBuilder::new()),
            DataType::UInt8 => Column::U8(PrimitiveBuilder::new()),
            DataType::UInt16 => Column::U16(PrimitiveBuilder::new()),
            DataType::UInt32 => Column::U32(PrimitiveBuilder::new()),
            DataType::UInt64 => Column::U64(PrimitiveBuilder::new()),
            DataType::Float32 => Column::F32(PrimitiveBuilder::new()),
            DataType::Float64 => Column::F64(PrimitiveBuilder::new()),
            DataType::Date32 => Column::Date32(PrimitiveBuilder::new()),
            DataType::Date64 => Column::Date64(PrimitiveBuilder::new()),
            DataType::Timestamp(unit, tz) => match unit {
                TimeUnit::Second => {
                    Column::TsS(PrimitiveBuilder::new().with_timezone_opt(tz.clone()))
                }
                TimeUnit::Millisecond => {
                    Column::TsMs(PrimitiveBuilder::new().with_timezone_opt(tz.clone()))
                }
                TimeUnit::Microsecond => {
                    Column::TsUs(PrimitiveBuilder::new().with_timezone_opt(tz.clone()))
                }
                TimeUnit::Nanosecond => {
                    Column::TsNs(PrimitiveBuilder::new().with_timezone_opt(tz.clone()))
                }
            },
            DataType::Utf8 => Column::Utf8(StringBuilder::new()),
            DataType::LargeUtf8 => Column::LargeUtf8(LargeStringBuilder::new()),
            DataType::Binary => Column::Binary(BinaryBuilder::new()),
            DataType::LargeBinary => Column::LargeBinary(LargeBinaryBuilder::new()),
            DataType::FixedSizeBinary(n) => {
                let width = usize::try_from(*n).map_err(|_| {
                    Error::InvalidArgument(format!(
                        "column '{}' has a negative width",
                        field.name()
                    ))
                })?;
                Column::FixedBinary(FixedSizeBinaryBuilder::new(*n), width)
            }
            DataType::List(_) | DataType::LargeList(_) | DataType::Struct(_) => {
                Column::Nested(field.clone(), Vec::new())
            }
            other => {
                return Err(Error::InvalidArgument(format!(
                    "column '{}' has type {other}, which cannot be written from plain values yet; \
                     write Arrow IPC instead",
                    field.name()
                )));
            }
        })
    }

    fn append(&mut self, v: Value, field: &Field) -> Result<()> {
        if matches!(v, Value::Null) {
            self.append_null();
            return Ok(());
        }
        match (self, v) {
            (Column::Nested(_, cells), v) => cells.push(v),
            (Column::I8(b), v) => append_int(b, v, field)?,
            (Column::I16(b), v) => append_int(b, v, field)?,
            (Column::I32(b), v) => append_int(b, v, field)?,
            (Column::I64(b), v) => append_int(b, v, field)?,
            (Column::U8(b), v) => append_int(b, v, field)?,
            (Column::U16(b), v) => append_int(b, v, field)?,
            (Column::U32(b), v) => append_int(b, v, field)?,
            (Column::U64(b), v) => append_int(b, v, field)?,
            (Column::Date32(b), v) => append_int(b, v, field)?,
            (Column::Date64(b), v) => append_int(b, v, field)?,
            (Column::TsS(b), v) => append_int(b, v, field)?,
            (Column::TsMs(b), v) => append_int(b, v, field)?,
            (Column::TsUs(b), v) => append_int(b, v, field)?,
            (Column::TsNs(b), v) => append_int(b, v, field)?,
            (Column::F32(b), v) => {
                b.append_value(as_f64(&v).ok_or_else(|| mismatch(field, &v))? as f32)
            }
            (Column::F64(b), v) => b.append_value(as_f64(&v).ok_or_else(|| mismatch(field, &v))?),
            (Column::Bool(b), Value::Bool(x)) => b.append_value(x),
            (Column::Utf8(b), Value::Str(s)) => b.append_value(s),
            (Column::LargeUtf8(b), Value::Str(s)) => b.append_value(s),
            (Column::Binary(b), Value::Bytes(x)) => b.append_value(x),
            (Column::LargeBinary(b), Value::Bytes(x)) => b.append_value(x),
            (Column::FixedBinary(b, width), Value::Bytes(x)) if x.len() == *width => {
                b.append_value(x)?
            }
            (_, other) => return Err(mismatch(field, &other)),
        }
        Ok(())
    }

    fn append_null(&mut self) {
        match self {
            Column::Bool(b) => b.append_null(),
            Column::I8(b) => b.append_null(),
            Column::I16(b) => b.append_null(),
            Column::I32(b) => b.append_null(),
            Column::I64(b) => b.append_null(),
            Column::U8(b) => b.append_null(),
            Column::U16(b) => b.append_null(),
            Column::U32(b) => b.append_null(),
            Column::U64(b) => b.append_null(),
            Column::F32(b) => b.append_null(),
            Column::F64(b) => b.append_null(),
            Column::Date32(b) => b.append_null(),
            Column::Date64(b) => b.append_null(),
            Column::TsS(b) => b.append_null(),
            Column::TsMs(b) => b.append_null(),
            Column::TsUs(b) => b.append_null(),
            Column::TsNs(b) => b.append_null(),
            Column::Utf8(b) => b.append_null(),
            Column::LargeUtf8(b) => b.append_null(),
            Column::Binary(b) => b.append_null(),
            Column::LargeBinary(b) => b.append_null(),
            Column::FixedBinary(b, _) => b.append_null(),
            Column::Nested(_, cells) => cells.push(Value::Null),
        }
    }

    fn finish(self) -> Result<ArrayRef> {
        Ok(match self {
            Column::Bool(mut b) => Arc::new(b.finish()),
            Column::I8(mut b) => Arc::new(b.finish()),
            Column::I16(mut b) => Arc::new(b.finish()),
            Column::I32(mut b) => Arc::new(b.finish()),
            Column::I64(mut b) => Arc::new(b.finish()),
            Column::U8(mut b) => Arc::new(b.finish()),
            Column::U16(mut b) => Arc::new(b.finish()),
            Column::U32(mut b) => Arc::new(b.finish()),
            Column::U64(mut b) => Arc::new(b.finish()),
            Column::F32(mut b) => Arc::new(b.finish()),
            Column::F64(mut b) => Arc::new(b.finish()),
            Column::Date32(mut b) => Arc::new(b.finish()),
            Column::Date64(mut b) => Arc::new(b.finish()),
            Column::TsS(mut b) => Arc::new(b.finish()),
            Column::TsMs(mut b) => Arc::new(b.finish()),
            Column::TsUs(mut b) => Arc::new(b.finish()),
            Column::TsNs(mut b) => Arc::new(b.finish()),
            Column::Utf8(mut b) => Arc::new(b.finish()),
            Column::LargeUtf8(mut b) => Arc::new(b.finish()),
            Column::Binary(mut b) => Arc::new(b.finish()),
            Column::LargeBinary(mut b) => Arc::new(b.finish()),
            Column::FixedBinary(mut b, _) => Arc::new(b.finish()),
            Column::Nested(field, cells) => return nested_array(&field, cells),
        })
    }
}

/// A list or struct column from its cells. Nulls inside are checked against each child
/// field's nullability here, so a bad cell is a `TYPE_MISMATCH` naming the column.
fn nested_array(field: &Field, cells: Vec<Value>) -> Result<ArrayRef> {
    use arrow_array::{LargeListArray, ListArray, StructArray};
    use arrow_buffer::{NullBuffer, OffsetBuffer};
    let valid: Vec<bool> = cells.iter().map(|v| !matches!(v, Value::Null)).collect();
    let nulls = valid
        .contains(&false)
        .then(|| NullBuffer::from(valid.clone()));
    // Builds a child column from values; its own nulls are allowed here and checked by the
    // caller against the child's nullability.
    let child_array = |child: &Field, path: String, values: Vec<Value>| -> Result<ArrayRef> {
        let loose = child.clone().with_nullable(true);
        // Errors name the path from the column (`tags[]`, `at.x`), not the inner field.
        let named = loose.with_name(path);
        let mut col = Column::for_field(&named)?;
        for v in values {
            col.append(v, &named)?;
        }
        col.finish()
    };
    match field.data_type() {
        DataType::List(child) | DataType::LargeList(child) => {
            let mut lengths = Vec::with_capacity(cells.len());
            let mut items = Vec::new();
            for cell in cells {
                match cell {
                    Value::Null => lengths.push(0),
                    Value::List(list) => {
                        if !child.is_nullable() && list.iter().any(|v| matches!(v, Value::Null)) {
                            return Err(Error::TypeMismatch {
                                column: field.name().clone(),
                                expected: format!("a list without nulls ({})", field.data_type()),
                                got: "a null item".into(),
                            });
                        }
                        lengths.push(list.len());
                        items.extend(list);
                    }
                    other => return Err(mismatch(field, &other)),
                }
            }
            let values = child_array(child, format!("{}[]", field.name()), items)?;
            Ok(if matches!(field.data_type(), DataType::List(_)) {
                Arc::new(ListArray::try_new(
                    child.clone(),
                    OffsetBuffer::<i32>::from_lengths(lengths),
                    values,
                    nulls,
                )?)
            } else {
                Arc::new(LargeListArray::try_new(
                    child.clone(),
                    OffsetBuffer::<i64>::from_lengths(lengths),
                    values,
                    nulls,
                )?)
            })
        }
        DataType::Struct(children) => {
            let mut columns: Vec<Vec<Value>> =
                vec![Vec::with_capacity(cells.len()); children.len()];
            for cell in cells {
                match cell {
                    Value::Null => columns.iter_mut().for_each(|c| c.push(Value::Null)),
                    Value::Struct(mut pairs) => {
                        for (i, child) in children.iter().enumerate() {
                            let at = pairs.iter().position(|(k, _)| k == child.name());
                            let v = at.map_or(Value::Null, |p| pairs.swap_remove(p).1);
                            if matches!(v, Value::Null) && !child.is_nullable() {
                                return Err(Error::TypeMismatch {
                                    column: format!("{}.{}", field.name(), child.name()),
                                    expected: format!("a non-null {}", child.data_type()),
                                    got: "null".into(),
                                });
                            }
                            if let Some(c) = columns.get_mut(i) {
                                c.push(v);
                            }
                        }
                        if let Some((k, _)) = pairs.first() {
                            return Err(Error::SchemaMismatch(format!(
                                "column '{}' has no field '{k}'",
                                field.name()
                            )));
                        }
                    }
                    other => return Err(mismatch(field, &other)),
                }
            }
            let arrays = children
                .iter()
                .zip(columns)
                .map(|(child, values)| {
                    child_array(child, format!("{}.{}", field.name(), child.name()), values)
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Arc::new(StructArray::try_new(
                children.clone(),
                arrays,
                nulls,
            )?))
        }
        other => Err(Error::Internal(format!("{other} is not a nested type"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_schema::Schema;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("n", DataType::Int32, true),
            Field::new("x", DataType::Float64, true),
            Field::new("ok", DataType::Boolean, true),
        ]))
    }

    #[test]
    fn builds_typed_columns_and_nulls() {
        let mut b = RowsBuilder::new(schema(), &[0]).unwrap();
        b.push_values(&["a".into(), 5.0f64.into(), Value::Int(2), true.into()])
            .unwrap();
        b.push_values(&["b".into(), Value::Null, Value::Null, Value::Null])
            .unwrap();
        let batch = b.finish().unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.column(1).as_primitive::<Int32Type>().value(0), 5);
        assert!(batch.column(1).is_null(1));
        assert_eq!(batch.column(2).as_primitive::<Float64Type>().value(0), 2.0);
    }

    #[test]
    fn wrong_types_and_null_keys_are_typed_errors() {
        let cases: Vec<(Vec<Value>, crate::error::ErrorCode, &str)> = vec![
            (
                vec![Value::Null, 1.into(), Value::Null, Value::Null],
                crate::error::ErrorCode::KeyNull,
                "'id'",
            ),
            (
                vec![1.into(), 1.into(), Value::Null, Value::Null],
                crate::error::ErrorCode::TypeMismatch,
                "'id'",
            ),
            (
                vec!["a".into(), 1.5f64.into(), Value::Null, Value::Null],
                crate::error::ErrorCode::TypeMismatch,
                "'n'",
            ),
            (
                vec!["a".into(), 3e9f64.into(), Value::Null, Value::Null],
                crate::error::ErrorCode::TypeMismatch,
                "'n'",
            ),
            (
                vec!["a".into(), Value::Null, "x".into(), Value::Null],
                crate::error::ErrorCode::TypeMismatch,
                "'x'",
            ),
            (
                vec!["a".into(), Value::Null, Value::Null, 1.into()],
                crate::error::ErrorCode::TypeMismatch,
                "'ok'",
            ),
            (
                vec!["a".into()],
                crate::error::ErrorCode::InvalidArgument,
                "expected 4",
            ),
        ];
        for (row, code, needle) in cases {
            let mut b = RowsBuilder::new(schema(), &[0]).unwrap();
            let err = b.push_values(&row).unwrap_err();
            assert_eq!(err.code(), code, "{row:?}: {err}");
            assert!(err.to_string().contains(needle), "{row:?}: {err}");
        }
    }

    /// Packs rows the way js/pack.js does (the test's own writer of the documented format).
    fn pack(rows: &[Vec<Value>], columns: u32) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&columns.to_le_bytes());
        out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
        for row in rows {
            for v in row {
                match v {
                    Value::Null => out.push(0),
                    Value::Bool(b) => out.push(1 + u8::from(*b)),
                    Value::Float(f) => {
                        out.push(3);
                        out.extend_from_slice(&f.to_le_bytes());
                    }
                    Value::Str(s) => {
                        out.push(4);
                        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                        out.extend_from_slice(s.as_bytes());
                    }
                    other => panic!("not packable: {other:?}"),
                }
            }
        }
        out
    }

    #[test]
    fn packed_rows_build_the_batch_the_values_build() {
        let rows = vec![
            vec!["a".into(), 5.0f64.into(), 2.5f64.into(), true.into()],
            vec![
                "b\u{e9}\u{1f600}".into(),
                Value::Null,
                Value::Null,
                false.into(),
            ],
            vec!["".into(), (-7.0f64).into(), Value::Null, Value::Null],
        ];
        let mut packed = RowsBuilder::new(schema(), &[0]).unwrap();
        packed.push_packed(&pack(&rows, 4)).unwrap();
        let mut values = RowsBuilder::new(schema(), &[0]).unwrap();
        for row in &rows {
            values.push_values(row).unwrap();
        }
        assert_eq!(packed.finish().unwrap(), values.finish().unwrap());
    }

    #[test]
    fn packed_rows_keep_the_typed_errors() {
        for (row, code) in [
            (
                vec![Value::Null, 1.0f64.into(), Value::Null, Value::Null],
                crate::error::ErrorCode::KeyNull,
            ),
            (
                vec!["a".into(), 1.5f64.into(), Value::Null, Value::Null],
                crate::error::ErrorCode::TypeMismatch,
            ),
            (
                vec!["a".into(), Value::Null, Value::Null, "yes".into()],
                crate::error::ErrorCode::TypeMismatch,
            ),
        ] {
            let mut b = RowsBuilder::new(schema(), &[0]).unwrap();
            let ok = vec!["z".into(), Value::Null, Value::Null, Value::Null];
            let err = b.push_packed(&pack(&[ok, row.clone()], 4)).unwrap_err();
            assert_eq!(err.code(), code, "{row:?}: {err}");
        }
    }

    #[test]
    fn malformed_packed_rows_are_errors_not_panics() {
        let good = pack(
            &[vec!["a".into(), 1.0f64.into(), Value::Null, true.into()]],
            4,
        );
        // Every truncation, a wrong column count, trailing bytes, a bad tag, bad UTF-8.
        let mut bad: Vec<Vec<u8>> = (0..good.len()).map(|n| good[..n].to_vec()).collect();
        bad.push(pack(&[vec!["a".into(), Value::Null, Value::Null]], 3));
        bad.push([good.clone(), vec![0]].concat());
        let mut tag = good.clone();
        tag[8] = 9;
        bad.push(tag);
        let mut utf8 = good.clone();
        utf8[13] = 0xff;
        bad.push(utf8);
        let mut huge = good.clone();
        huge[9..13].copy_from_slice(&u32::MAX.to_le_bytes());
        bad.push(huge);
        for b in bad {
            let mut builder = RowsBuilder::new(schema(), &[0]).unwrap();
            assert!(builder.push_packed(&b).is_err(), "{b:?}");
        }
        let mut builder = RowsBuilder::new(schema(), &[0]).unwrap();
        builder.push_packed(&good).unwrap();
        assert_eq!(builder.len(), 1);
    }

    #[test]
    fn unsupported_column_types_fail_at_construction() {
        let s = Arc::new(Schema::new(vec![Field::new("h", DataType::Float16, true)]));
        let err = RowsBuilder::new(s, &[]).err().unwrap();
        assert_eq!(err.code(), crate::error::ErrorCode::InvalidArgument);
    }
}
