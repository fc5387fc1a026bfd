//! A table's schema: the Arrow schema of its rows plus the ordered list of primary-key columns.
//!
//! Keys are validated once, here, so that every later layer can rely on them: key columns exist,
//! are non-nullable and have a type the key encoding orders correctly (see [`crate::key`]).

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::error::{Error, Result};

/// Field metadata naming a key column: `"true"` for a single key, or the ordinal (`"0"`, `"1"`,
/// ...) of the column within a composite key.
pub const KEY_METADATA: &str = "tonbo.key";

/// How the primary key is declared when a table is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySpec {
    /// Key columns by name, in key order.
    Names(Vec<String>),
    /// Key columns by index into the schema, in key order.
    Indices(Vec<usize>),
    /// Key columns marked with [`KEY_METADATA`] in their field metadata.
    Metadata,
}

/// An Arrow schema with a validated primary key.
#[derive(Debug, Clone)]
pub struct TableSchema {
    arrow: SchemaRef,
    key: Vec<usize>,
}

impl TableSchema {
    /// Validates `spec` against `schema`. Errors name the offending column.
    pub fn new(schema: SchemaRef, spec: &KeySpec) -> Result<Self> {
        let key = match spec {
            KeySpec::Names(names) => names
                .iter()
                .map(|name| {
                    schema.index_of(name).map_err(|_| {
                        Error::InvalidArgument(format!(
                            "key column '{name}' is not in the schema (columns: {})",
                            column_list(&schema)
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()?,
            KeySpec::Indices(indices) => {
                for &i in indices {
                    if i >= schema.fields().len() {
                        return Err(Error::InvalidArgument(format!(
                            "key column index {i} is out of range: the schema has {} columns",
                            schema.fields().len()
                        )));
                    }
                }
                indices.clone()
            }
            KeySpec::Metadata => key_from_metadata(&schema)?,
        };
        if key.is_empty() {
            return Err(Error::InvalidArgument(
                "a table needs at least one primary-key column".into(),
            ));
        }
        for (pos, &i) in key.iter().enumerate() {
            if key.iter().take(pos).any(|&k| k == i) {
                return Err(Error::InvalidArgument(format!(
                    "key column '{}' is listed twice",
                    schema.field(i).name()
                )));
            }
            let field = schema.field(i);
            if field.is_nullable() {
                return Err(Error::InvalidArgument(format!(
                    "key column '{}' must be declared non-nullable",
                    field.name()
                )));
            }
            if !is_key_type(field.data_type()) {
                return Err(Error::InvalidArgument(format!(
                    "key column '{}' has type {} which cannot be a key; use an integer, float, \
                     bool, string, binary, date or timestamp column",
                    field.name(),
                    field.data_type()
                )));
            }
        }
        Ok(Self { arrow: schema, key })
    }

    /// Convenience: a single key column by name.
    pub fn with_key_name(schema: SchemaRef, name: &str) -> Result<Self> {
        Self::new(schema, &KeySpec::Names(vec![name.to_owned()]))
    }

    /// The Arrow schema of the rows.
    pub fn arrow(&self) -> &SchemaRef {
        &self.arrow
    }

    /// Indices of the key columns, in key order.
    pub fn key_indices(&self) -> &[usize] {
        &self.key
    }

    /// The key columns' fields, in key order.
    pub fn key_fields(&self) -> impl Iterator<Item = &Field> {
        self.key.iter().map(|&i| self.arrow.field(i))
    }

    /// A schema of only the key columns, in key order (used to build key rows from user values).
    pub fn key_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.key_fields().cloned().collect::<Vec<Field>>(),
        ))
    }

    /// Checks that `other` can be written into this table: same column names, types and order;
    /// a column this table declares non-nullable must not be nullable-with-nulls (checked per
    /// batch by the writer).
    pub fn check_compatible(&self, other: &Schema) -> Result<()> {
        let ours = self.arrow.fields();
        let theirs = other.fields();
        if ours.len() != theirs.len() {
            return Err(Error::SchemaMismatch(format!(
                "expected {} columns ({}), got {} ({})",
                ours.len(),
                column_list(&self.arrow),
                theirs.len(),
                column_list(other)
            )));
        }
        for (a, b) in ours.iter().zip(theirs.iter()) {
            if a.name() != b.name() {
                return Err(Error::SchemaMismatch(format!(
                    "expected column '{}' where the data has '{}'",
                    a.name(),
                    b.name()
                )));
            }
            if a.data_type() != b.data_type() {
                return Err(Error::SchemaMismatch(format!(
                    "column '{}' has type {} in the table but {} in the data",
                    a.name(),
                    a.data_type(),
                    b.data_type()
                )));
            }
        }
        Ok(())
    }
}

fn key_from_metadata(schema: &Schema) -> Result<Vec<usize>> {
    let mut marked: Vec<(usize, usize)> = Vec::new();
    let mut single = Vec::new();
    for (i, field) in schema.fields().iter().enumerate() {
        let Some(value) = field.metadata().get(KEY_METADATA) else {
            continue;
        };
        if value == "true" {
            single.push(i);
        } else if let Ok(ordinal) = value.parse::<usize>() {
            marked.push((ordinal, i));
        } else {
            return Err(Error::InvalidArgument(format!(
                "column '{}' has {KEY_METADATA} = '{value}'; use \"true\" or an ordinal such as \"0\"",
                field.name()
            )));
        }
    }
    match (single.len(), marked.is_empty()) {
        (0, true) => Err(Error::InvalidArgument(format!(
            "no column carries the {KEY_METADATA} metadata"
        ))),
        (1, true) => Ok(single),
        (0, false) => {
            marked.sort_unstable();
            for (expected, (ordinal, i)) in marked.iter().enumerate() {
                if *ordinal != expected {
                    return Err(Error::InvalidArgument(format!(
                        "{KEY_METADATA} ordinals must be 0, 1, 2, ... without gaps or repeats; \
                         column '{}' has {ordinal}",
                        schema.field(*i).name()
                    )));
                }
            }
            Ok(marked.into_iter().map(|(_, i)| i).collect())
        }
        _ => Err(Error::InvalidArgument(format!(
            "{KEY_METADATA} = \"true\" may mark only one column; mark a composite key with \
             ordinals \"0\", \"1\", ..."
        ))),
    }
}

/// Whether the key encoding supports `dt`.
pub fn is_key_type(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float32
            | DataType::Float64
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::FixedSizeBinary(_)
            | DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(_, _)
    )
}

/// Parses a column type as JS callers write it: `"bool"`, `"int8"`..`"int64"`,
/// `"uint8"`..`"uint64"`, `"float32"`, `"float64"`, `"utf8"` (or `"string"`), `"large_utf8"`,
/// `"binary"`, `"large_binary"`, `"fixed_size_binary[N]"`, `"date32"`, `"date64"`,
/// `"timestamp[s|ms|us|ns]"` and `"timestamp[unit, TZ]"`.
pub fn parse_type_name(name: &str) -> Result<DataType> {
    use arrow_schema::TimeUnit;
    let n = name.trim();
    let simple = match n {
        "bool" | "boolean" => Some(DataType::Boolean),
        "int8" => Some(DataType::Int8),
        "int16" => Some(DataType::Int16),
        "int32" => Some(DataType::Int32),
        "int64" => Some(DataType::Int64),
        "uint8" => Some(DataType::UInt8),
        "uint16" => Some(DataType::UInt16),
        "uint32" => Some(DataType::UInt32),
        "uint64" => Some(DataType::UInt64),
        "float32" => Some(DataType::Float32),
        "float64" | "double" => Some(DataType::Float64),
        "utf8" | "string" => Some(DataType::Utf8),
        "large_utf8" => Some(DataType::LargeUtf8),
        "binary" => Some(DataType::Binary),
        "large_binary" => Some(DataType::LargeBinary),
        "date32" => Some(DataType::Date32),
        "date64" => Some(DataType::Date64),
        _ => None,
    };
    if let Some(dt) = simple {
        return Ok(dt);
    }
    let bad = || {
        Error::InvalidArgument(format!(
            "unknown column type '{name}'; use bool, int8..int64, uint8..uint64, float32, \
             float64, utf8, large_utf8, binary, large_binary, fixed_size_binary[N], date32, \
             date64 or timestamp[s|ms|us|ns]"
        ))
    };
    let inner = |prefix: &str| {
        n.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('['))
            .and_then(|r| r.strip_suffix(']'))
    };
    if let Some(width) = inner("fixed_size_binary") {
        let w: i32 = width.trim().parse().map_err(|_| bad())?;
        if w <= 0 {
            return Err(bad());
        }
        return Ok(DataType::FixedSizeBinary(w));
    }
    if let Some(args) = inner("timestamp") {
        let mut parts = args.splitn(2, ',');
        let unit = match parts.next().map(str::trim) {
            Some("s") => TimeUnit::Second,
            Some("ms") => TimeUnit::Millisecond,
            Some("us") => TimeUnit::Microsecond,
            Some("ns") => TimeUnit::Nanosecond,
            _ => return Err(bad()),
        };
        let tz = parts.next().map(|t| Arc::<str>::from(t.trim()));
        return Ok(DataType::Timestamp(unit, tz));
    }
    Err(bad())
}

fn column_list(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
            Field::new("v", DataType::Float64, true),
            Field::new("l", DataType::new_list(DataType::Int32, true), false),
        ]))
    }

    #[test]
    fn key_by_name_and_indices_agree() {
        let a = TableSchema::new(schema(), &KeySpec::Names(vec!["n".into(), "id".into()])).unwrap();
        let b = TableSchema::new(schema(), &KeySpec::Indices(vec![1, 0])).unwrap();
        assert_eq!(a.key_indices(), &[1, 0]);
        assert_eq!(a.key_indices(), b.key_indices());
    }

    #[test]
    fn bad_key_declarations_are_typed_errors_naming_the_column() {
        let cases: Vec<(KeySpec, &str)> = vec![
            (KeySpec::Names(vec!["nope".into()]), "nope"),
            (KeySpec::Names(vec!["v".into()]), "non-nullable"),
            (KeySpec::Names(vec!["l".into()]), "cannot be a key"),
            (KeySpec::Indices(vec![9]), "out of range"),
            (KeySpec::Names(vec![]), "at least one"),
            (KeySpec::Names(vec!["id".into(), "id".into()]), "twice"),
            (KeySpec::Metadata, "no column"),
        ];
        for (spec, needle) in cases {
            let err = TableSchema::new(schema(), &spec).unwrap_err();
            assert_eq!(
                err.code(),
                crate::error::ErrorCode::InvalidArgument,
                "{spec:?}"
            );
            assert!(err.to_string().contains(needle), "{spec:?}: {err}");
        }
    }

    #[test]
    fn key_from_metadata_orders_composite_keys_by_ordinal() {
        let meta = |v: &str| HashMap::from([(KEY_METADATA.to_string(), v.to_string())]);
        let s = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Utf8, false).with_metadata(meta("1")),
            Field::new("b", DataType::Int32, false).with_metadata(meta("0")),
            Field::new("c", DataType::Int32, true),
        ]));
        let t = TableSchema::new(s, &KeySpec::Metadata).unwrap();
        assert_eq!(t.key_indices(), &[1, 0]);

        let gap = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Utf8, false).with_metadata(meta("0")),
            Field::new("b", DataType::Int32, false).with_metadata(meta("2")),
        ]));
        assert!(TableSchema::new(gap, &KeySpec::Metadata).is_err());

        let single = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("b", DataType::Int32, false).with_metadata(meta("true")),
        ]));
        assert_eq!(
            TableSchema::new(single, &KeySpec::Metadata)
                .unwrap()
                .key_indices(),
            &[1]
        );
    }

    #[test]
    fn type_names_parse_and_unknown_ones_are_rejected() {
        use arrow_schema::TimeUnit;
        assert_eq!(parse_type_name("utf8").unwrap(), DataType::Utf8);
        assert_eq!(parse_type_name("uint16").unwrap(), DataType::UInt16);
        assert_eq!(
            parse_type_name("timestamp[us, UTC]").unwrap(),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(
            parse_type_name("fixed_size_binary[16]").unwrap(),
            DataType::FixedSizeBinary(16)
        );
        for bad in [
            "int128",
            "timestamp[m]",
            "fixed_size_binary[0]",
            "fixed_size_binary[x]",
            "",
        ] {
            let err = parse_type_name(bad).unwrap_err();
            assert_eq!(
                err.code(),
                crate::error::ErrorCode::InvalidArgument,
                "{bad}"
            );
        }
    }

    #[test]
    fn compatibility_names_the_first_difference() {
        let t = TableSchema::with_key_name(schema(), "id").unwrap();
        let other = Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("n", DataType::Int32, false),
            Field::new("v", DataType::Float64, true),
            Field::new("l", DataType::new_list(DataType::Int32, true), false),
        ]);
        let err = t.check_compatible(&other).unwrap_err();
        assert_eq!(err.code(), crate::error::ErrorCode::SchemaMismatch);
        assert!(err.to_string().contains("'n'"), "{err}");
        t.check_compatible(&schema()).unwrap();
    }
}
