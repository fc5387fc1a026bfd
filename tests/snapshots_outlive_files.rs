//! An explicit snapshot whose files another handle compacted away and collected reads on: the
//! newest head's files answer at the snapshot's timestamp as long as that is not below the
//! head's history floor. Below it, the answers are gone and the read fails `NOT_FOUND`.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use anax::storage::{MemoryStorage, Storage};
use anax::{ErrorCode, ManualClock, Retention, ScanOptions, Value};
use common::kv::{one_row, rows_of, seal_db};
use futures::executor::block_on;

fn key(i: u32) -> String {
    format!("ключ-{i:02}-{}", "x".repeat(70))
}

/// Puts ten rows (value 1), takes a snapshot, overwrites key 0 (value 2); then another handle,
/// whose clock runs `ahead` of the writer's, compacts everything and collects the old files.
async fn snapshot_then_collect(
    store: &MemoryStorage,
    collector: Retention,
) -> (anax::Snapshot, anax::Db) {
    let writer = seal_db(store)
        .with_background_compaction(false)
        .open()
        .await
        .unwrap();
    for i in 0..10 {
        writer.put_rows(&one_row(&key(i), 1)).await.unwrap();
    }
    let snap = writer.snapshot().unwrap();
    writer.put_rows(&one_row(&key(0), 2)).await.unwrap();
    let clock = Arc::new(ManualClock::new(4_000_000_000_000));
    let other = seal_db(store)
        .with_clock(clock.clone())
        .with_retention(collector)
        .with_background_compaction(false)
        .open()
        .await
        .unwrap();
    let before: Vec<String> = store
        .list("sst/")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.path)
        .collect();
    other.gc().await.unwrap();
    other.compact().await.unwrap();
    clock.advance(collector.grace_ms + 1);
    other.gc().await.unwrap();
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
        let keep_one = Retention {
            min_versions: 1,
            max_age_ms: 0,
            grace_ms: 1_000,
        };
        let (snap, _writer) = snapshot_then_collect(&store, keep_one).await;
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
        let writer = seal_db(&store)
            .with_background_compaction(false)
            .open()
            .await
            .unwrap();
        for i in 0..10 {
            writer.put_rows(&one_row(&key(i), 1)).await.unwrap();
        }
        // Another handle keeps one version, commits past the writer's view, compacts and
        // collects: the writer's live view is below the floor and its files are gone.
        let clock = Arc::new(ManualClock::new(4_000_000_000_000));
        let keep_one = Retention {
            min_versions: 1,
            max_age_ms: 0,
            grace_ms: 1_000,
        };
        let other = seal_db(&store)
            .with_clock(clock.clone())
            .with_retention(keep_one)
            .with_background_compaction(false)
            .open()
            .await
            .unwrap();
        other.put_rows(&one_row(&key(0), 3)).await.unwrap();
        other.gc().await.unwrap();
        other.compact().await.unwrap();
        clock.advance(keep_one.grace_ms + 1);
        other.gc().await.unwrap();
        // The snapshot cannot read around (below the floor); the live read takes the new view.
        let got = writer.get(&[Value::from(key(0))]).await.unwrap().unwrap();
        assert_eq!(rows_of(&got)[&key(0)], Some(3));
        let got = writer.get(&[Value::from(key(5))]).await.unwrap().unwrap();
        assert_eq!(rows_of(&got)[&key(5)], Some(1));
    });
}
