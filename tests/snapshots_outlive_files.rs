//! An explicit snapshot whose files another handle compacted away and collected reads on: the
//! newest head's files answer at the snapshot's timestamp as long as that is not below the
//! head's history floor. Below it, the answers are gone and the read fails `NOT_FOUND`.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use anax::storage::{MemoryStorage, Storage};
use anax::{Db, ErrorCode, ManualClock, Retention, ScanOptions, Value};
use common::kv::{one_row, rows_of, seal_db};
use common::paths;
use futures::executor::block_on;

/// A collector's retention that keeps one version: the history floor rises to the head.
const KEEP_ONE: Retention = Retention {
    min_versions: 1,
    max_age_ms: 0,
    grace_ms: 1_000,
};

fn key(i: u32) -> String {
    format!("ключ-{i:02}-{}", "x".repeat(70))
}

/// A handle on `store` that has put ten rows (value 1).
async fn ten_rows(store: &MemoryStorage) -> Db {
    let writer = seal_db(store)
        .with_background_compaction(false)
        .open()
        .await
        .unwrap();
    for i in 0..10 {
        writer.put_rows(&one_row(&key(i), 1)).await.unwrap();
    }
    writer
}

/// Another handle on `store` whose clock runs far ahead of the writer's, keeping `retention`.
async fn collector(store: &MemoryStorage, retention: Retention) -> (Db, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(4_000_000_000_000));
    let db = seal_db(store)
        .with_clock(clock.clone())
        .with_retention(retention)
        .with_background_compaction(false)
        .open()
        .await
        .unwrap();
    (db, clock)
}

/// Compacts everything on `db` and collects the old files once its grace period has passed.
async fn compact_and_collect(db: &Db, clock: &ManualClock, retention: Retention) {
    db.gc().await.unwrap();
    db.compact().await.unwrap();
    clock.advance(retention.grace_ms + 1);
    db.gc().await.unwrap();
}

/// Puts ten rows (value 1), takes a snapshot, overwrites key 0 (value 2); then another handle,
/// whose clock runs ahead of the writer's, compacts everything and collects the old files.
async fn snapshot_then_collect(
    store: &MemoryStorage,
    retention: Retention,
) -> (anax::Snapshot, Db) {
    let writer = ten_rows(store).await;
    let snap = writer.snapshot().unwrap();
    writer.put_rows(&one_row(&key(0), 2)).await.unwrap();
    let (other, clock) = collector(store, retention).await;
    let before = paths(store, "sst/").await;
    compact_and_collect(&other, &clock, retention).await;
    for p in &before {
        assert!(
            store.head(p).await.unwrap().is_none(),
            "{p} should have been collected"
        );
    }
    (snap, writer)
}

#[test]
fn a_snapshot_reads_on_after_its_files_are_collected() {
    block_on(async {
        let store = MemoryStorage::new();
        let (snap, writer) = snapshot_then_collect(&store, Retention::default()).await;
        let got = snap.get(&[Value::from(key(0))]).await.unwrap().unwrap();
        assert_eq!(
            rows_of(&got)[&key(0)],
            Some(1),
            "the snapshot's version, not the newer one"
        );
        let all = rows_of(&snap.scan(&ScanOptions::default()).await.unwrap());
        assert_eq!(all.len(), 10);
        assert!(all.values().all(|v| *v == Some(1)));
        // The live view sees the overwrite.
        writer.refresh().await.unwrap();
        let now = writer.get(&[Value::from(key(0))]).await.unwrap().unwrap();
        assert_eq!(rows_of(&now)[&key(0)], Some(2));
    });
}

#[test]
fn a_snapshot_older_than_the_history_floor_fails_not_found() {
    block_on(async {
        let store = MemoryStorage::new();
        // The collector keeps one version: the floor rises past the snapshot.
        let (snap, _writer) = snapshot_then_collect(&store, KEEP_ONE).await;
        let err = snap.get(&[Value::from(key(0))]).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
        let err = snap.scan(&ScanOptions::default()).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    });
}

#[test]
fn a_live_read_below_a_risen_history_floor_moves_to_the_new_view() {
    block_on(async {
        let store = MemoryStorage::new();
        let writer = ten_rows(&store).await;
        // Another handle keeps one version, commits past the writer's view, compacts and
        // collects: the writer's live view is below the floor and its files are gone.
        let (other, clock) = collector(&store, KEEP_ONE).await;
        other.put_rows(&one_row(&key(0), 3)).await.unwrap();
        compact_and_collect(&other, &clock, KEEP_ONE).await;
        // The snapshot cannot read around (below the floor); the live read takes the new view.
        let got = writer.get(&[Value::from(key(0))]).await.unwrap().unwrap();
        assert_eq!(rows_of(&got)[&key(0)], Some(3));
        let got = writer.get(&[Value::from(key(5))]).await.unwrap().unwrap();
        assert_eq!(rows_of(&got)[&key(5)], Some(1));
    });
}

#[test]
fn a_transaction_whose_snapshot_fell_below_the_floor_fails_conflict_saying_so() {
    block_on(async {
        let store = MemoryStorage::new();
        let writer = ten_rows(&store).await;
        let tx = writer.transaction().unwrap();
        tx.put_rows(&one_row(&key(7), 9)).unwrap();
        // Another handle commits a key the transaction never wrote and keeps one version.
        let (other, clock) = collector(&store, KEEP_ONE).await;
        other.put_rows(&one_row(&key(0), 3)).await.unwrap();
        compact_and_collect(&other, &clock, KEEP_ONE).await;
        let err = tx.commit().await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
        assert!(err.to_string().contains("history floor"), "{err}");
    });
}
