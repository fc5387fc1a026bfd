//! Reads through the native API: point gets, ranges (full and partial composite bounds),
//! prefixes, projection, limits and both orders, over upserts and deletes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::ops::Bound;
use std::sync::Arc;

use anax::{DbBuilder, ErrorCode, ScanOptions, Value};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::executor::block_on;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("user", DataType::Utf8, false),
        Field::new("seq", DataType::Int64, false),
        Field::new("v", DataType::Int64, true),
    ]))
}

fn batch(rows: &[(&str, i64, Option<i64>)]) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.2))),
        ],
    )
    .unwrap()
}

fn keys(b: &RecordBatch) -> Vec<(String, i64)> {
    let u = b.column_by_name("user").unwrap().as_string::<i32>();
    let s = b.column_by_name("seq").unwrap().as_primitive::<Int64Type>();
    (0..b.num_rows())
        .map(|i| (u.value(i).to_owned(), s.value(i)))
        .collect()
}

fn k(u: &str, s: i64) -> Vec<Value> {
    vec![u.into(), s.into()]
}

async fn seeded() -> anax::Db {
    let db = DbBuilder::from_schema_key_names(schema(), &["user", "seq"])
        .in_memory("t")
        .open()
        .await
        .unwrap();
    db.put(batch(&[
        ("bob", 2, Some(20)),
        ("al", -1, Some(1)),
        ("bob", 10, None),
        ("al", 5, Some(5)),
        ("cy", 0, Some(0)),
    ]))
    .await
    .unwrap();
    db
}

#[test]
fn composite_keys_order_by_columns_then_numbers() {
    block_on(async {
        let db = seeded().await;
        let all = db.scan(&ScanOptions::default()).await.unwrap();
        let want = vec![
            ("al".to_owned(), -1),
            ("al".to_owned(), 5),
            ("bob".to_owned(), 2),
            ("bob".to_owned(), 10),
            ("cy".to_owned(), 0),
        ];
        assert_eq!(keys(&all), want);
        let rev = db
            .scan(&ScanOptions {
                reverse: true,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut back = keys(&rev);
        back.reverse();
        assert_eq!(back, want);
    });
}

#[test]
fn prefix_and_partial_bounds_select_whole_groups() {
    block_on(async {
        let db = seeded().await;
        let scan = |o: ScanOptions| {
            let db = db.clone();
            async move { keys(&db.scan(&o).await.unwrap()) }
        };
        let bob = scan(ScanOptions {
            prefix: Some(vec!["bob".into()]),
            ..Default::default()
        })
        .await;
        assert_eq!(bob, vec![("bob".into(), 2), ("bob".into(), 10)]);
        // "b" is not a prefix of the user column's value "bob": prefixes are whole columns.
        let none = scan(ScanOptions {
            prefix: Some(vec!["b".into()]),
            ..Default::default()
        })
        .await;
        assert!(none.is_empty());
        let after_al = scan(ScanOptions {
            start: Bound::Excluded(vec!["al".into()]),
            end: Bound::Included(vec!["bob".into()]),
            ..Default::default()
        })
        .await;
        assert_eq!(after_al, vec![("bob".into(), 2), ("bob".into(), 10)]);
        let full_bounds = scan(ScanOptions {
            start: Bound::Included(k("al", 5)),
            end: Bound::Excluded(k("bob", 10)),
            ..Default::default()
        })
        .await;
        assert_eq!(full_bounds, vec![("al".into(), 5), ("bob".into(), 2)]);
        let limited = scan(ScanOptions {
            start: Bound::Included(vec!["bob".into()]),
            limit: Some(2),
            reverse: true,
            ..Default::default()
        })
        .await;
        assert_eq!(limited, vec![("cy".into(), 0), ("bob".into(), 10)]);
        let inverted = scan(ScanOptions {
            start: Bound::Included(k("cy", 0)),
            end: Bound::Included(k("al", 0)),
            ..Default::default()
        })
        .await;
        assert!(inverted.is_empty());
    });
}

#[test]
fn upserts_replace_deletes_hide_and_get_sees_the_newest() {
    block_on(async {
        let db = seeded().await;
        db.put(batch(&[("al", 5, Some(55)), ("al", 5, Some(56))]))
            .await
            .unwrap();
        let got = db.get(&k("al", 5)).await.unwrap().unwrap();
        let v = got.column_by_name("v").unwrap().as_primitive::<Int64Type>();
        assert_eq!(v.value(0), 56, "the last row of a batch wins");
        db.delete(&k("bob", 2)).await.unwrap();
        assert!(db.get(&k("bob", 2)).await.unwrap().is_none());
        assert!(db.get(&k("bob", 3)).await.unwrap().is_none());
        db.put(batch(&[("bob", 2, Some(7))])).await.unwrap();
        assert!(
            db.get(&k("bob", 2)).await.unwrap().is_some(),
            "a put after a delete revives"
        );
        let all = db.scan(&ScanOptions::default()).await.unwrap();
        assert_eq!(all.num_rows(), 5);
    });
}

#[test]
fn projection_returns_named_columns_in_order() {
    block_on(async {
        let db = seeded().await;
        let out = db
            .scan(&ScanOptions {
                projection: Some(vec!["v".into(), "user".into()]),
                limit: Some(1),
                ..Default::default()
            })
            .await
            .unwrap();
        let names: Vec<_> = out
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, vec!["v", "user"]);
        assert_eq!(out.num_rows(), 1);
        let err = db
            .scan(&ScanOptions {
                projection: Some(vec!["nope".into()]),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
    });
}

#[test]
fn bad_writes_and_keys_are_typed_errors_that_change_nothing() {
    block_on(async {
        let db = seeded().await;
        let wrong = Arc::new(Schema::new(vec![
            Field::new("user", DataType::Utf8, false),
            Field::new("seq", DataType::Int32, false),
            Field::new("v", DataType::Int64, true),
        ]));
        let b = RecordBatch::try_new(
            wrong,
            vec![
                Arc::new(StringArray::from(vec!["x"])),
                Arc::new(arrow_array::Int32Array::from(vec![1])),
                Arc::new(Int64Array::from(vec![1])),
            ],
        )
        .unwrap();
        assert_eq!(
            db.put(b).await.unwrap_err().code(),
            ErrorCode::SchemaMismatch
        );
        let nullable = Arc::new(Schema::new(vec![
            Field::new("user", DataType::Utf8, true),
            Field::new("seq", DataType::Int64, false),
            Field::new("v", DataType::Int64, true),
        ]));
        let b = RecordBatch::try_new(
            nullable,
            vec![
                Arc::new(StringArray::from(vec![Some("x"), None])),
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(Int64Array::from(vec![1, 2])),
            ],
        )
        .unwrap();
        assert_eq!(db.put(b).await.unwrap_err().code(), ErrorCode::KeyNull);
        assert_eq!(
            db.get(&["al".into()]).await.unwrap_err().code(),
            ErrorCode::InvalidArgument,
            "a get needs the whole key"
        );
        assert_eq!(
            db.get(
                &k("al", 0)[..1]
                    .iter()
                    .cloned()
                    .chain([Value::Str("x".into())])
                    .collect::<Vec<_>>()
            )
            .await
            .unwrap_err()
            .code(),
            ErrorCode::TypeMismatch
        );
        assert_eq!(
            db.put_ipc(b"not ipc").await.unwrap_err().code(),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            db.scan(&ScanOptions::default()).await.unwrap().num_rows(),
            5
        );
        db.close().await.unwrap();
        assert_eq!(
            db.get(&k("al", 5)).await.unwrap_err().code(),
            ErrorCode::Closed
        );
    });
}

#[test]
fn open_without_storage_is_an_error() {
    block_on(async {
        let err = DbBuilder::from_schema_key_name(schema(), "user")
            .open()
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
        assert!(err.to_string().contains("storage backend not selected"));
    });
}

#[test]
fn empty_projection_and_empty_filters_select_rows_without_columns() {
    futures::executor::block_on(async {
        let db = anax::DbBuilder::from_schema_key_name(
            std::sync::Arc::new(arrow_schema::Schema::new(vec![
                arrow_schema::Field::new("id", arrow_schema::DataType::Utf8, false),
                arrow_schema::Field::new("v", arrow_schema::DataType::Int64, true),
            ])),
            "id",
        )
        .in_memory("empty")
        .open()
        .await
        .unwrap();
        for i in 0..5i64 {
            db.put_rows(&[vec![
                anax::Value::from(format!("k{i}")),
                anax::Value::Int(i),
            ]])
            .await
            .unwrap();
        }
        let scan = |projection: Option<Vec<String>>, filter: Option<anax::Filter>| {
            let opts = anax::ScanOptions {
                projection,
                filter,
                ..anax::ScanOptions::default()
            };
            let db = &db;
            async move { db.scan(&opts).await }
        };
        // No columns asked for: as many rows, none of the columns.
        let b = scan(Some(vec![]), None).await.unwrap();
        assert_eq!((b.num_rows(), b.num_columns()), (5, 0));
        // An empty AND is true, an empty OR false, with or without columns.
        let b = scan(None, Some(anax::Filter::And(vec![]))).await.unwrap();
        assert_eq!((b.num_rows(), b.num_columns()), (5, 2));
        let b = scan(Some(vec![]), Some(anax::Filter::And(vec![])))
            .await
            .unwrap();
        assert_eq!((b.num_rows(), b.num_columns()), (5, 0));
        let b = scan(Some(vec![]), Some(anax::Filter::Or(vec![])))
            .await
            .unwrap();
        assert_eq!(b.num_rows(), 0);
        let b = scan(
            Some(vec![]),
            Some(anax::Filter::Gt("v".into(), anax::Value::Int(2))),
        )
        .await
        .unwrap();
        assert_eq!((b.num_rows(), b.num_columns()), (2, 0));
    });
}
