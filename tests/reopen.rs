//! What a reopen finds: the table's declaration checked against its catalog (another schema,
//! key or table name is a typed error), and the WAL on a real disk replayed after a handle was
//! dropped without a close, with GC trimming its segments.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use anax::storage::MemoryStorage;
use anax::{DbBuilder, Durability, ErrorCode, Value};
use arrow_schema::{DataType, Field, Schema};
use common::kv::{one_row, read_all, schema, seal_db};
use futures::executor::block_on;

#[test]
fn reopening_with_another_schema_key_or_table_is_a_typed_error() {
    block_on(async {
        let store = MemoryStorage::new();
        let db = seal_db(&store).open().await.unwrap();
        db.put_rows(&one_row("a", 1)).await.unwrap();
        let other = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("v", DataType::Int32, true),
        ]));
        let open = |b: DbBuilder| async move { b.open().await.map(drop).unwrap_err() };
        let e = open(
            DbBuilder::from_schema_key_name(other, "id").with_storage(Arc::new(store.clone())),
        )
        .await;
        assert_eq!(e.code(), ErrorCode::SchemaMismatch, "{e}");
        assert!(e.to_string().contains("v: Int64"), "{e}");
        let keyed_by_v = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("v", DataType::Int64, false),
        ]));
        let e = open(
            DbBuilder::from_schema_key_name(keyed_by_v, "v").with_storage(Arc::new(store.clone())),
        )
        .await;
        assert!(e.to_string().contains("keyed by (id)"), "{e}");
        assert_eq!(e.code(), ErrorCode::SchemaMismatch, "{e}");
        let e = open(seal_db(&store).table_name("other")).await;
        assert_eq!(e.code(), ErrorCode::SchemaMismatch, "{e}");
        // The same declaration opens and sees the data.
        let again = seal_db(&store).open().await.unwrap();
        assert_eq!(read_all(&again).await.len(), 1);
    });
}

#[test]
fn wal_on_disk_survives_a_dropped_handle_and_gc_trims_segments() {
    let dir = std::env::temp_dir().join(format!("anax-wal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    block_on(async {
        let open = || {
            DbBuilder::from_schema_key_name(schema(), "id")
                .on_disk(&dir)
                .with_seal_policy(anax::SealPolicy::BatchesThreshold { batches: 4 })
                .disable_minor_compaction()
                .open()
        };
        let db = open().await.unwrap();
        assert!(matches!(db.durability(), Durability::Wal(_)));
        for i in 0..10 {
            db.put_rows(&one_row(&format!("k{i}"), i)).await.unwrap();
        }
        db.delete(&[Value::from("k3")]).await.unwrap();
        drop(db); // no close: the rows live only in the WAL
        let db = open().await.unwrap();
        let all = read_all(&db).await;
        assert_eq!(all.len(), 9);
        assert!(!all.contains_key("k3"));
        let ts = db.put_rows(&one_row("k3", 33)).await.unwrap();
        assert!(
            ts > 11,
            "the clock resumed above the replayed commits: {ts}"
        );
        db.close().await.unwrap();
        assert_eq!(
            db.get(&[Value::from("k1")]).await.unwrap_err().code(),
            ErrorCode::Closed
        );
        let db = open().await.unwrap();
        let before = db.request_counts();
        assert_eq!(read_all(&db).await.len(), 10);
        let gc = db.gc().await.unwrap();
        assert!(gc.wal_segments_deleted >= 1, "{gc:?} {before:?}");
        // One writer per directory: the next handle opens once this one is closed.
        db.close().await.unwrap();
        let db2 = open().await.unwrap();
        assert_eq!(read_all(&db2).await["k3"], Some(33));
    });
    let _ = std::fs::remove_dir_all(&dir);
}
