//! Value filters, evaluated with SQL's three-valued logic: a comparison with null is unknown,
//! and a row is kept only when the whole expression is true.
//!
//! Filters run after version resolution (see `merge`): a newer version that fails the filter
//! hides an older one that would pass. Pinned by `tests/filter_after_resolution.rs`.

use std::sync::Arc;

use arrow_arith::boolean::{and_kleene, not, or_kleene};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BooleanArray, Datum, RecordBatch, Scalar};
use arrow_ord::cmp;
use arrow_schema::{DataType, Field, Schema};

use crate::error::{Error, Result};
use crate::rows::RowsBuilder;
use crate::value::Value;

/// A filter expression over named columns.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `column = value`
    Eq(String, Value),
    /// `column <> value`
    NotEq(String, Value),
    /// `column < value`
    Lt(String, Value),
    /// `column <= value`
    LtEq(String, Value),
    /// `column > value`
    Gt(String, Value),
    /// `column >= value`
    GtEq(String, Value),
    /// `low <= column <= high`
    Between(String, Value, Value),
    /// `column IN (values)`
    InList(String, Vec<Value>),
    /// The string or binary column starts with this prefix.
    StartsWith(String, Value),
    /// `column IS NULL`
    IsNull(String),
    /// `column IS NOT NULL`
    IsNotNull(String),
    /// Every sub-filter holds (true when empty).
    And(Vec<Filter>),
    /// Some sub-filter holds (false when empty).
    Or(Vec<Filter>),
    /// The sub-filter does not hold.
    Not(Box<Filter>),
}

impl Filter {
    /// The column names this filter reads, in first-use order, without repeats.
    pub fn columns(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_columns(&mut out);
        out
    }

    fn collect_columns(&self, out: &mut Vec<String>) {
        let mut add = |c: &String| {
            if !out.contains(c) {
                out.push(c.clone());
            }
        };
        match self {
            Filter::Eq(c, _)
            | Filter::NotEq(c, _)
            | Filter::Lt(c, _)
            | Filter::LtEq(c, _)
            | Filter::Gt(c, _)
            | Filter::GtEq(c, _)
            | Filter::Between(c, _, _)
            | Filter::InList(c, _)
            | Filter::StartsWith(c, _)
            | Filter::IsNull(c)
            | Filter::IsNotNull(c) => add(c),
            Filter::And(fs) | Filter::Or(fs) => {
                for f in fs {
                    f.collect_columns(out);
                }
            }
            Filter::Not(f) => f.collect_columns(out),
        }
    }

    /// Checks column names and literal types against `schema` so that a bad filter fails
    /// before any data is read.
    pub fn validate(&self, schema: &Schema) -> Result<()> {
        let empty = RecordBatch::new_empty(Arc::new(schema.clone()));
        self.evaluate(&empty).map(|_| ())
    }

    /// Evaluates the filter on `batch`, whose columns are found by name. Returns a mask where
    /// true means keep (unknown is false).
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<BooleanArray> {
        let mask = self.eval(batch)?;
        Ok(match mask.nulls() {
            Some(_) => BooleanArray::from_iter(mask.iter().map(|v| Some(v == Some(true)))),
            None => mask,
        })
    }

    fn eval(&self, batch: &RecordBatch) -> Result<BooleanArray> {
        let col = |name: &str| -> Result<&ArrayRef> {
            batch
                .column_by_name(name)
                .ok_or_else(|| Error::InvalidArgument(format!("unknown column '{name}' in filter")))
        };
        let cmp_with = |name: &str,
                        v: &Value,
                        op: fn(
            &dyn Datum,
            &dyn Datum,
        )
            -> std::result::Result<BooleanArray, arrow_schema::ArrowError>|
         -> Result<BooleanArray> {
            let c = col(name)?;
            let s = scalar(name, c.data_type(), v)?;
            Ok(op(c, &s)?)
        };
        match self {
            Filter::Eq(c, v) => cmp_with(c, v, cmp::eq),
            Filter::NotEq(c, v) => cmp_with(c, v, cmp::neq),
            Filter::Lt(c, v) => cmp_with(c, v, cmp::lt),
            Filter::LtEq(c, v) => cmp_with(c, v, cmp::lt_eq),
            Filter::Gt(c, v) => cmp_with(c, v, cmp::gt),
            Filter::GtEq(c, v) => cmp_with(c, v, cmp::gt_eq),
            Filter::Between(c, lo, hi) => Ok(and_kleene(
                &cmp_with(c, lo, cmp::gt_eq)?,
                &cmp_with(c, hi, cmp::lt_eq)?,
            )?),
            Filter::InList(c, values) => {
                let mut acc = BooleanArray::from(vec![false; batch.num_rows()]);
                if values.is_empty() {
                    col(c)?; // still reject unknown columns
                }
                for v in values {
                    acc = or_kleene(&acc, &cmp_with(c, v, cmp::eq)?)?;
                }
                Ok(acc)
            }
            Filter::StartsWith(c, prefix) => starts_with(c, col(c)?, prefix),
            Filter::IsNull(c) => {
                let a = col(c)?;
                Ok(BooleanArray::from_iter(
                    (0..a.len()).map(|i| Some(a.is_null(i))),
                ))
            }
            Filter::IsNotNull(c) => {
                let a = col(c)?;
                Ok(BooleanArray::from_iter(
                    (0..a.len()).map(|i| Some(a.is_valid(i))),
                ))
            }
            Filter::And(fs) => {
                let mut acc = BooleanArray::from(vec![true; batch.num_rows()]);
                for f in fs {
                    acc = and_kleene(&acc, &f.eval(batch)?)?;
                }
                Ok(acc)
            }
            Filter::Or(fs) => {
                let mut acc = BooleanArray::from(vec![false; batch.num_rows()]);
                for f in fs {
                    acc = or_kleene(&acc, &f.eval(batch)?)?;
                }
                Ok(acc)
            }
            Filter::Not(f) => Ok(not(&f.eval(batch)?)?),
        }
    }
}

/// A one-value array of `dt` holding `v` (type-checked like a written value).
fn scalar(column: &str, dt: &DataType, v: &Value) -> Result<Scalar<ArrayRef>> {
    if dt.is_nested() {
        return Err(Error::InvalidArgument(format!(
            "column '{column}' has type {dt}, which filters cannot compare (isNull and \
             isNotNull work on it)"
        )));
    }
    let schema = Arc::new(Schema::new(vec![Field::new(column, dt.clone(), true)]));
    let mut b = RowsBuilder::new(schema, &[]).map_err(|_| {
        Error::InvalidArgument(format!(
            "column '{column}' has type {dt}, which filters cannot compare"
        ))
    })?;
    b.push_values(std::slice::from_ref(v))?;
    let batch = b.finish()?;
    let arr = batch
        .columns()
        .first()
        .cloned()
        .ok_or_else(|| Error::Internal("empty scalar".into()))?;
    Ok(Scalar::new(arr))
}

fn starts_with(name: &str, a: &ArrayRef, prefix: &Value) -> Result<BooleanArray> {
    let mismatch = |expected: &str| Error::TypeMismatch {
        column: name.to_owned(),
        expected: expected.to_owned(),
        got: prefix.describe(),
    };
    match (a.data_type(), prefix) {
        (DataType::Utf8, Value::Str(p)) => Ok(a
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(|s| s.starts_with(p.as_str())))
            .collect()),
        (DataType::LargeUtf8, Value::Str(p)) => Ok(a
            .as_string::<i64>()
            .iter()
            .map(|v| v.map(|s| s.starts_with(p.as_str())))
            .collect()),
        (DataType::Binary, Value::Bytes(p)) => Ok(a
            .as_binary::<i32>()
            .iter()
            .map(|v| v.map(|s| s.starts_with(p)))
            .collect()),
        (DataType::LargeBinary, Value::Bytes(p)) => Ok(a
            .as_binary::<i64>()
            .iter()
            .map(|v| v.map(|s| s.starts_with(p)))
            .collect()),
        (DataType::Utf8 | DataType::LargeUtf8, _) => Err(mismatch("a string prefix")),
        (DataType::Binary | DataType::LargeBinary, _) => Err(mismatch("a bytes prefix")),
        (dt, _) => Err(Error::InvalidArgument(format!(
            "starts_with needs a string or binary column; '{name}' is {dt}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None, Some(5), Some(9)])),
                Arc::new(StringArray::from(vec![
                    Some("apple"),
                    Some("avocado"),
                    None,
                    Some("kiwi"),
                ])),
            ],
        )
        .unwrap()
    }

    fn keep(f: Filter) -> Vec<bool> {
        f.evaluate(&batch())
            .unwrap()
            .iter()
            .map(|v| v.unwrap())
            .collect()
    }

    #[test]
    fn comparisons_treat_null_as_unknown() {
        assert_eq!(
            keep(Filter::Gt("n".into(), 1.into())),
            vec![false, false, true, true]
        );
        assert_eq!(
            keep(Filter::NotEq("n".into(), 5.into())),
            vec![true, false, false, true]
        );
        // NOT(unknown) is still unknown, so the null row stays out.
        assert_eq!(
            keep(Filter::Not(Box::new(Filter::Lt("n".into(), 5.into())))),
            vec![false, false, true, true]
        );
        assert_eq!(
            keep(Filter::Between("n".into(), 2.into(), 9.into())),
            vec![false, false, true, true]
        );
        assert_eq!(
            keep(Filter::InList("n".into(), vec![1.into(), 9.into()])),
            vec![true, false, false, true]
        );
    }

    #[test]
    fn boolean_logic_strings_and_null_tests() {
        assert_eq!(
            keep(Filter::StartsWith("s".into(), "a".into())),
            vec![true, true, false, false]
        );
        assert_eq!(
            keep(Filter::IsNull("s".into())),
            vec![false, false, true, false]
        );
        assert_eq!(
            keep(Filter::Or(vec![
                Filter::IsNull("n".into()),
                Filter::Eq("s".into(), "kiwi".into())
            ])),
            vec![false, true, false, true]
        );
        assert_eq!(
            keep(Filter::And(vec![
                Filter::IsNotNull("n".into()),
                Filter::LtEq("n".into(), 5.into())
            ])),
            vec![true, false, true, false]
        );
    }

    #[test]
    fn bad_filters_are_typed_errors() {
        let s = batch().schema();
        let e = Filter::Eq("nope".into(), 1.into())
            .validate(&s)
            .unwrap_err();
        assert_eq!(e.code(), crate::error::ErrorCode::InvalidArgument);
        let e = Filter::Eq("n".into(), "x".into()).validate(&s).unwrap_err();
        assert_eq!(e.code(), crate::error::ErrorCode::TypeMismatch);
        let e = Filter::StartsWith("n".into(), "x".into())
            .validate(&s)
            .unwrap_err();
        assert_eq!(e.code(), crate::error::ErrorCode::InvalidArgument);
        let e = Filter::StartsWith("s".into(), 1.into())
            .validate(&s)
            .unwrap_err();
        assert_eq!(e.code(), crate::error::ErrorCode::TypeMismatch);
    }
}
