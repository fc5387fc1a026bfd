//! Filters apply after version resolution: a newer version of a key that fails the filter hides
//! an older version that passes it. Pinned on memtable-only, SST-only and mixed data, in both
//! scan orders.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;

use anax::{Db, DbBuilder, Filter, ScanOptions};
use arrow_array::cast::AsArray;
use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::executor::block_on;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("v", DataType::Int64, true),
    ]))
}

fn rows(ids: &[&str], v: &[i64]) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(ids.to_vec())),
            Arc::new(Int64Array::from(v.to_vec())),
        ],
    )
    .unwrap()
}

async fn open() -> Db {
    DbBuilder::from_schema_key_name(schema(), "id")
        .in_memory("f")
        .disable_minor_compaction()
        .open()
        .await
        .unwrap()
}

/// "a" and "b" first pass the filter (v > 10), then "a" is updated to fail it and "b" deleted;
/// "c" passes throughout.
async fn check(db: &Db, flush_old: bool, flush_new: bool) {
    db.put(rows(&["a", "b", "c"], &[50, 60, 70])).await.unwrap();
    if flush_old {
        db.flush().await.unwrap();
    }
    db.put(rows(&["a"], &[1])).await.unwrap();
    db.delete(&["b".into()]).await.unwrap();
    if flush_new {
        db.flush().await.unwrap();
    }
    let where_big = Some(Filter::Gt("v".into(), 10.into()));
    for reverse in [false, true] {
        let out = db
            .scan(&ScanOptions {
                filter: where_big.clone(),
                reverse,
                ..Default::default()
            })
            .await
            .unwrap();
        let ids: Vec<&str> = out
            .column(0)
            .as_string::<i32>()
            .iter()
            .map(|s| s.unwrap())
            .collect();
        assert_eq!(
            ids,
            vec!["c"],
            "flush_old={flush_old} flush_new={flush_new} reverse={reverse}: an older matching \
             version leaked through a newer non-matching one"
        );
    }
    // Without the filter the newest versions are what is read.
    let all = db.scan(&ScanOptions::default()).await.unwrap();
    let v: Vec<i64> = all
        .column(1)
        .as_primitive::<arrow_array::types::Int64Type>()
        .values()
        .to_vec();
    assert_eq!(v, vec![1, 70]);
}

#[test]
fn memtable_only() {
    block_on(async { check(&open().await, false, false).await });
}

#[test]
fn sst_only() {
    block_on(async {
        let db = open().await;
        check(&db, true, true).await;
        let stats = db.stats().unwrap();
        assert_eq!(
            (stats.ssts, stats.mutable_rows, stats.immutable_memtables),
            (2, 0, 0)
        );
    });
}

#[test]
fn old_in_sst_new_in_memtable() {
    block_on(async {
        let db = open().await;
        check(&db, true, false).await;
        assert_eq!(db.stats().unwrap().ssts, 1);
    });
}

#[test]
fn both_in_one_sst() {
    block_on(async {
        let db = open().await;
        check(&db, false, true).await;
        assert_eq!(db.stats().unwrap().ssts, 1);
    });
}
