//! List and struct columns (not keys) through every layer: rows of values in, memtable, SST,
//! compaction, and back out of get and scan.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;

use anax::{DbBuilder, ErrorCode, Value};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Fields, Schema};
use futures::executor::block_on;

fn schema() -> Arc<Schema> {
    let point = Fields::from(vec![
        Field::new("x", DataType::Float64, false),
        Field::new("y", DataType::Float64, true),
    ]);
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("tags", DataType::new_list(DataType::Int64, true), true),
        Field::new("at", DataType::Struct(point), true),
    ]))
}

fn row(id: &str, tags: Option<Vec<Value>>, at: Option<(f64, Option<f64>)>) -> Vec<Value> {
    vec![
        Value::from(id),
        tags.map_or(Value::Null, Value::List),
        at.map_or(Value::Null, |(x, y)| {
            Value::Struct(vec![
                ("x".into(), Value::Float(x)),
                ("y".into(), y.map_or(Value::Null, Value::Float)),
            ])
        }),
    ]
}

fn tags_of(b: &RecordBatch, r: usize) -> Option<Vec<Option<i64>>> {
    let col = b.column_by_name("tags").unwrap().as_list::<i32>();
    (!col.is_null(r)).then(|| {
        col.value(r)
            .as_primitive::<Int64Type>()
            .iter()
            .collect::<Vec<_>>()
    })
}

fn x_of(b: &RecordBatch, r: usize) -> Option<f64> {
    let s = b.column_by_name("at").unwrap().as_struct();
    (!s.is_null(r)).then(|| s.column(0).as_primitive::<Float64Type>().value(r))
}

#[test]
fn lists_and_structs_survive_flush_compaction_and_reads() {
    block_on(async {
        let db = DbBuilder::from_schema_key_name(schema(), "id")
            .in_memory("nested")
            .open()
            .await
            .unwrap();
        db.put_rows(&[
            row(
                "a",
                Some(vec![1.into(), Value::Null, 3.into()]),
                Some((1.5, None)),
            ),
            row("b", None, Some((2.0, Some(4.0)))),
            row("c", Some(vec![]), None),
        ])
        .await
        .unwrap();
        db.flush().await.unwrap();
        db.put_rows(&[row("b", Some(vec![7.into()]), None)])
            .await
            .unwrap();
        db.flush().await.unwrap();
        db.compact().await.unwrap();

        let a = db.get(&["a".into()]).await.unwrap().unwrap();
        assert_eq!(tags_of(&a, 0), Some(vec![Some(1), None, Some(3)]));
        assert_eq!(x_of(&a, 0), Some(1.5));
        let all = db.scan(&Default::default()).await.unwrap();
        assert_eq!(all.num_rows(), 3);
        assert_eq!(
            tags_of(&all, 1),
            Some(vec![Some(7)]),
            "b's newer version wins"
        );
        assert_eq!(x_of(&all, 1), None);
        assert_eq!(tags_of(&all, 2), Some(vec![]));
    });
}

#[test]
fn bad_nested_cells_are_typed_errors_and_write_nothing() {
    block_on(async {
        let db = DbBuilder::from_schema_key_name(schema(), "id")
            .in_memory("nested-bad")
            .open()
            .await
            .unwrap();
        let cases: Vec<(Vec<Value>, ErrorCode)> = vec![
            // A scalar where a list belongs.
            (
                vec!["a".into(), Value::Int(1), Value::Null],
                ErrorCode::TypeMismatch,
            ),
            // A list item of the wrong type.
            (
                vec!["a".into(), Value::List(vec!["x".into()]), Value::Null],
                ErrorCode::TypeMismatch,
            ),
            // A struct without its non-null field.
            (
                vec![
                    "a".into(),
                    Value::Null,
                    Value::Struct(vec![("y".into(), Value::Float(1.0))]),
                ],
                ErrorCode::TypeMismatch,
            ),
            // A struct with a field the type does not have.
            (
                vec![
                    "a".into(),
                    Value::Null,
                    Value::Struct(vec![
                        ("x".into(), Value::Float(1.0)),
                        ("z".into(), Value::Float(1.0)),
                    ]),
                ],
                ErrorCode::SchemaMismatch,
            ),
        ];
        for (r, code) in cases {
            let err = db.put_rows(std::slice::from_ref(&r)).await.unwrap_err();
            assert_eq!(err.code(), code, "{r:?}: {err}");
            assert!(
                ["'tags", "'at"].iter().any(|c| err.to_string().contains(c)),
                "the error names the column: {err}"
            );
        }
        assert_eq!(db.scan(&Default::default()).await.unwrap().num_rows(), 0);
        let filter = anax::Filter::Eq("tags".into(), Value::Int(1));
        let opts = anax::ScanOptions {
            filter: Some(filter),
            ..Default::default()
        };
        let err = db.scan(&opts).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    });
}
