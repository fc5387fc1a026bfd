//! Anax on fusio file systems (feature `fusio`): the storage contract on fusio's local
//! (`TokioFs`) and in-memory (`InMemoryFs`) backends, and tables opened through the builder
//! methods tonbo's users know (`on_durable_fs`, `object_store_with_fs`, the WAL's
//! `segment_backend`), with keys longer than 64 bytes, Unicode and a megabyte value.
#![cfg(all(feature = "fusio", not(target_arch = "wasm32")))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;

use anax::storage::{FusioStorage, PutMode, Storage, conformance};
use anax::{DbBuilder, Durability, ErrorCode, ScanOptions, Value, WalConfig};
use arrow_array::cast::AsArray;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use fusio::disk::TokioFs;
use fusio::mem::fs::InMemoryFs;

fn runtime() -> tokio::runtime::Runtime {
    // TokioFs blocks in place on its files, which needs the multi-threaded runtime.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

/// A fresh directory under the system's temp dir, removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let n: u64 = rand_u64();
        let p = std::env::temp_dir().join(format!("anax-fusio-{tag}-{n:016x}"));
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }

    fn root(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).unwrap();
    u64::from_le_bytes(b)
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("body", DataType::Utf8, true),
    ]))
}

fn key(i: usize) -> String {
    format!("ключ-{}-{i:05}", "k".repeat(80))
}

fn body(i: usize) -> String {
    if i == 7 {
        "é".repeat(1 << 19) // 1 MiB of UTF-8
    } else {
        format!("value {i} ✓")
    }
}

fn rows(range: std::ops::Range<usize>) -> Vec<Vec<Value>> {
    range
        .map(|i| vec![Value::from(key(i)), Value::from(body(i))])
        .collect()
}

async fn check_rows(db: &anax::Db, n: usize) {
    let all = db.scan(&ScanOptions::default()).await.unwrap();
    assert_eq!(all.num_rows(), n);
    for i in [0, 7, n - 1] {
        let got = db.get(&[Value::from(key(i))]).await.unwrap().unwrap();
        assert_eq!(
            got.column(1).as_string::<i32>().value(0),
            body(i),
            "row {i}"
        );
    }
}

#[test]
fn the_storage_contract_holds_on_fusio_in_memory() {
    let fs = Arc::new(InMemoryFs::new());
    let a = FusioStorage::new(fs.clone(), "conf-root");
    let b = FusioStorage::new(fs, "conf-root");
    let passed = runtime().block_on(conformance::run(&a, Some(&b), "conf"));
    assert_eq!(passed, Ok(8));
}

#[test]
fn the_storage_contract_holds_on_fusio_local_disk() {
    let dir = Scratch::new("conf");
    let a = FusioStorage::new(Arc::new(TokioFs), dir.root());
    let b = FusioStorage::new(Arc::new(TokioFs), dir.root());
    let passed = runtime().block_on(conformance::run(&a, Some(&b), "conf"));
    assert_eq!(passed, Ok(8));
    // fusio's lock and temp files never show as objects, and nothing is left behind.
    assert!(runtime().block_on(a.list("")).unwrap().is_empty());
}

#[test]
fn a_table_on_durable_local_fusio_keeps_acknowledged_rows_across_a_crash_and_a_close() {
    let dir = Scratch::new("durable");
    let rt = runtime();
    rt.block_on(async {
        let open = || {
            DbBuilder::from_schema_key_name(schema(), "id")
                .on_durable_fs(Arc::new(TokioFs), &dir.0)
                .open()
        };
        {
            let db = open().await.unwrap();
            for i in 0..40 {
                db.put_rows(&rows(i..i + 1)).await.unwrap();
            }
            // Dropped without close: the rows are in the WAL only.
        }
        let db = open().await.unwrap();
        check_rows(&db, 40).await;
        db.put_rows(&rows(40..60)).await.unwrap();
        db.flush().await.unwrap();
        db.compact().await.unwrap();
        db.gc().await.unwrap();
        db.close().await.unwrap();
        let db = open().await.unwrap();
        check_rows(&db, 60).await;
        assert!(db.stats().unwrap().ssts >= 1);
        db.close().await.unwrap();
    });
    // The objects are files under the root, as a user would look for them.
    assert!(
        dir.0.join("manifest").is_dir(),
        "{:?}",
        std::fs::read_dir(&dir.0).unwrap().collect::<Vec<_>>()
    );
}

#[test]
fn tables_on_one_fusio_store_live_under_their_own_roots_and_share_commits_across_handles() {
    let fs = Arc::new(InMemoryFs::new());
    runtime().block_on(async {
        let open = |root: &'static str| {
            DbBuilder::from_schema_key_name(schema(), "id")
                .object_store_with_fs(fs.clone(), root)
                .open()
        };
        let a = open("tables/a").await.unwrap();
        let b = open("tables/b").await.unwrap();
        a.put_rows(&rows(0..10)).await.unwrap();
        b.put_rows(&rows(100..103)).await.unwrap();
        // A second handle on the same root sees every acknowledged commit (seal every batch).
        let a2 = open("tables/a").await.unwrap();
        check_rows(&a2, 10).await;
        let in_b = b.scan(&ScanOptions::default()).await.unwrap();
        assert_eq!(in_b.num_rows(), 3);
        for db in [a, a2, b] {
            db.close().await.unwrap();
        }
    });
}

#[test]
fn a_wal_on_a_fusio_segment_backend_replays_in_front_of_an_object_store() {
    let store: Arc<dyn Storage> = Arc::new(anax::storage::MemoryStorage::new());
    let dir = Scratch::new("wal");
    let rt = runtime();
    rt.block_on(async {
        let open = || {
            DbBuilder::from_schema_key_name(schema(), "id")
                .with_storage(store.clone())
                .with_durability(Durability::Wal(
                    WalConfig::default().segment_backend(Arc::new(TokioFs), &dir.root()),
                ))
                .open()
        };
        {
            let db = open().await.unwrap();
            db.put_rows(&rows(0..25)).await.unwrap();
        }
        let listed = std::fs::read_dir(dir.0.join("wal")).unwrap().count();
        assert!(
            listed >= 2,
            "segments and the log id are files in the directory: {listed}"
        );
        let db = open().await.unwrap();
        check_rows(&db, 25).await;
        db.close().await.unwrap();
    });
}

#[test]
fn a_log_backend_without_compare_and_swap_refuses_a_conditional_replace() {
    let log = FusioStorage::plain(Arc::new(InMemoryFs::new()), "log");
    runtime().block_on(async {
        let first = log
            .put("wal/LOG_ID", Bytes::from_static(b"1"), PutMode::CreateNew)
            .await
            .unwrap();
        let again = log
            .put("wal/LOG_ID", Bytes::from_static(b"2"), PutMode::CreateNew)
            .await;
        assert_eq!(again.unwrap_err().code(), ErrorCode::Conflict);
        let swap = log
            .put(
                "wal/LOG_ID",
                Bytes::from_static(b"3"),
                PutMode::IfMatch(first.etag),
            )
            .await;
        let e = swap.unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidArgument);
        assert!(e.to_string().contains("FsCas"), "{e}");
        assert_eq!(
            log.get("wal/LOG_ID").await.unwrap(),
            Bytes::from_static(b"1")
        );
    });
}
