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
    drop_grace_ms: 1_000,
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

/// Puts two SSTs of 40,000 rows each over the same keys (value 1), takes a snapshot,
/// overwrites one key (value 2), opens a stream of `opts` on the snapshot and reads its first
/// batch; then another handle with default retention compacts both files into one and its GC
/// deletes them at once (no drop grace). Returns the keys the stream gave, in order, and the
/// values it gave for them.
async fn stream_across_a_collection(opts: ScanOptions) -> Vec<(String, Option<i64>)> {
    use anax::read::merge::BATCH_ROWS;
    let store = MemoryStorage::new();
    let writer = seal_db(&store)
        .with_background_compaction(false)
        .open()
        .await
        .unwrap();
    for half in 0..2 {
        let rows: Vec<Vec<Value>> = (0..40_000)
            .map(|i| vec![Value::from(long_key(2 * i + half)), Value::Int(1)])
            .collect();
        writer.put_rows(&rows).await.unwrap();
    }
    let snap = writer.snapshot().unwrap();
    writer.put_rows(&one_row(&long_key(7), 2)).await.unwrap();
    let mut stream = snap.scan_stream(&opts).await.unwrap();
    let mut got = Vec::new();
    let take = |got: &mut Vec<(String, Option<i64>)>, b: &arrow_array::RecordBatch| {
        use arrow_array::Array;
        use arrow_array::cast::AsArray;
        let ids = b.column(0).as_string::<i32>();
        let vs = b.column(1).as_primitive::<arrow_array::types::Int64Type>();
        for i in 0..b.num_rows() {
            got.push((ids.value(i).to_owned(), vs.is_valid(i).then(|| vs.value(i))));
        }
    };
    take(&mut got, &stream.next().await.unwrap().unwrap());
    assert_eq!(
        got.len(),
        BATCH_ROWS,
        "one batch read before the collection"
    );

    let before = paths(&store, "sst/").await;
    let (other, _clock) = collector(&store, Retention::default()).await;
    other.compact().await.unwrap();
    other.gc().await.unwrap();
    for p in &before {
        assert!(
            store.head(p).await.unwrap().is_none(),
            "{p} should have been collected without a grace period"
        );
    }
    while let Some(b) = stream.next().await.unwrap() {
        take(&mut got, &b);
    }
    got
}

fn long_key(i: u32) -> String {
    // Sorts by number: keys longer than 64 bytes, Unicode first.
    format!("ключ-{i:06}-{}", "x".repeat(70))
}

#[test]
fn a_stream_read_while_its_files_are_collected_goes_on_where_it_was() {
    block_on(async {
        let got = stream_across_a_collection(ScanOptions::default()).await;
        let want: Vec<(String, Option<i64>)> =
            (0..80_000).map(|i| (long_key(i), Some(1))).collect();
        assert_eq!(got.len(), want.len());
        assert!(
            got == want,
            "every row once, in order, at the snapshot's version"
        );
    });
}

#[test]
fn a_reverse_limited_stream_resumes_with_what_its_limit_has_left() {
    block_on(async {
        let opts = ScanOptions {
            reverse: true,
            limit: Some(50_000),
            end: std::ops::Bound::Excluded(vec![Value::from(long_key(79_990))]),
            ..ScanOptions::default()
        };
        let got = stream_across_a_collection(opts).await;
        let want: Vec<(String, Option<i64>)> = (0..79_990)
            .rev()
            .take(50_000)
            .map(|i| (long_key(i), Some(1)))
            .collect();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "the limit counts rows across the resumption");
    });
}
