//! Each write-ahead-log knob does what it says: group commit, sync policies, rotation by size
//! and age, queue size, directory, a separate segment store, recovery mode, retention bytes;
//! and GC of orphans.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anax::storage::{BoxFuture, MemoryStorage, ObjectMeta, PutMode, Storage};
use anax::{
    Db, DbBuilder, Durability, ErrorCode, ManualClock, Retention, ScanOptions, Value, WalConfig,
    WalRecoveryMode, WalSyncPolicy,
};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use futures::executor::block_on;
use futures::future::join_all;

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("v", DataType::Int64, true),
    ]))
}

/// Yields once before every append, as a real device does, so concurrent commits can queue
/// behind the one being written. Optionally refuses to append (an object store).
#[derive(Debug)]
struct Device {
    inner: MemoryStorage,
    can_append: bool,
}

struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

impl Storage for Device {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<Bytes>> {
        self.inner.get(path)
    }
    fn get_range<'a>(&'a self, path: &'a str, r: Range<u64>) -> BoxFuture<'a, anax::Result<Bytes>> {
        self.inner.get_range(path, r)
    }
    fn put<'a>(
        &'a self,
        path: &'a str,
        data: Bytes,
        mode: PutMode,
    ) -> BoxFuture<'a, anax::Result<ObjectMeta>> {
        self.inner.put(path, data, mode)
    }
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, anax::Result<Vec<ObjectMeta>>> {
        self.inner.list(prefix)
    }
    fn delete<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<()>> {
        self.inner.delete(path)
    }
    fn head<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<Option<ObjectMeta>>> {
        self.inner.head(path)
    }
    fn supports_append(&self) -> bool {
        self.can_append
    }
    fn append<'a>(&'a self, path: &'a str, data: Bytes) -> BoxFuture<'a, anax::Result<u64>> {
        Box::pin(async move {
            YieldOnce(false).await;
            self.inner.append(path, data).await
        })
    }
    fn sync<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<()>> {
        self.inner.sync(path)
    }
}

fn device(store: &MemoryStorage) -> Arc<dyn Storage> {
    Arc::new(Device {
        inner: store.clone(),
        can_append: true,
    })
}

fn wal_db(storage: Arc<dyn Storage>, config: WalConfig, clock: Arc<ManualClock>) -> DbBuilder {
    DbBuilder::from_schema_key_name(schema(), "id")
        .with_storage(storage)
        .with_wal_config(config)
        .with_clock(clock)
        .disable_minor_compaction()
}

fn row(k: &str, v: i64) -> Vec<Vec<Value>> {
    vec![vec![Value::from(k), Value::Int(v)]]
}

async fn count(db: &Db) -> usize {
    db.scan(&ScanOptions::default()).await.unwrap().num_rows()
}

#[test]
fn concurrent_puts_share_one_log_write_up_to_the_queue_size() {
    block_on(async {
        let store = MemoryStorage::new();
        let clock = Arc::new(ManualClock::new(0));
        let db = wal_db(device(&store), WalConfig::default(), clock.clone())
            .open()
            .await
            .unwrap();
        let before = db.request_counts();
        let puts = (0..50).map(|i| db.put_rows_owned(row(&format!("k{i}"), i)));
        let ts: Vec<u64> = join_all(puts)
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        let used = db.request_counts().since(&before);
        assert_eq!(
            used.append, 2,
            "the first put, then the 49 queued behind it: {used:?}"
        );
        assert_eq!(used.sync, 2);
        let mut sorted = ts.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 50, "every put has its own timestamp");
        assert_eq!(count(&db).await, 50);

        let capped = WalConfig {
            queue_size: 4,
            dir: "capped".into(),
            ..WalConfig::default()
        };
        let store = MemoryStorage::new();
        let db = wal_db(device(&store), capped, clock).open().await.unwrap();
        let before = db.request_counts();
        let puts = (0..21).map(|i| db.put_rows_owned(row(&format!("k{i}"), i)));
        for r in join_all(puts).await {
            r.unwrap();
        }
        let used = db.request_counts().since(&before);
        assert_eq!(
            used.append,
            1 + 5,
            "groups of at most 4 after the first: {used:?}"
        );
        assert!(
            !store.list("capped/").await.unwrap().is_empty(),
            "the dir knob moves the log"
        );
    });
}

#[test]
fn sync_policies_sync_when_they_say() {
    block_on(async {
        let clock = Arc::new(ManualClock::new(0));
        let syncs = |policy: WalSyncPolicy, step_ms: u64| {
            let clock = clock.clone();
            async move {
                let store = MemoryStorage::new();
                let config = WalConfig {
                    sync: policy,
                    ..WalConfig::default()
                };
                let db = wal_db(Arc::new(store), config, clock.clone())
                    .open()
                    .await
                    .unwrap();
                let before = db.request_counts();
                for i in 0..10 {
                    db.put_rows(&row(&format!("k{i}"), i)).await.unwrap();
                    clock.advance(step_ms);
                }
                db.request_counts().since(&before).sync
            }
        };
        assert_eq!(syncs(WalSyncPolicy::Always, 0).await, 10);
        assert_eq!(syncs(WalSyncPolicy::Disabled, 0).await, 0);
        assert_eq!(syncs(WalSyncPolicy::IntervalBytes(u64::MAX), 0).await, 0);
        // Every put's frames are a few hundred bytes: one byte forces a sync each time.
        assert_eq!(syncs(WalSyncPolicy::IntervalBytes(1), 0).await, 10);
        // 40 ms per put against a 100 ms interval: a sync every third put.
        let n = syncs(WalSyncPolicy::IntervalTime(100), 40).await;
        assert!((3..=4).contains(&n), "{n}");
    });
}

#[test]
fn segments_rotate_by_size_and_age_and_gc_keeps_retained_bytes() {
    block_on(async {
        let clock = Arc::new(ManualClock::new(0));
        let store = MemoryStorage::new();
        let config = WalConfig {
            segment_max_bytes: 1,
            ..WalConfig::default()
        };
        let db = wal_db(Arc::new(store.clone()), config, clock.clone())
            .open()
            .await
            .unwrap();
        for i in 0..5 {
            db.put_rows(&row(&format!("k{i}"), i)).await.unwrap();
        }
        assert_eq!(
            store.list("wal/").await.unwrap().len(),
            5,
            "one segment per write"
        );

        let store = MemoryStorage::new();
        let config = WalConfig {
            segment_max_age_ms: Some(100),
            ..WalConfig::default()
        };
        let db = wal_db(Arc::new(store.clone()), config, clock.clone())
            .open()
            .await
            .unwrap();
        for i in 0..6 {
            db.put_rows(&row(&format!("k{i}"), i)).await.unwrap();
            clock.advance(50);
        }
        assert_eq!(
            store.list("wal/").await.unwrap().len(),
            3,
            "a new segment every 100 ms"
        );
        db.flush().await.unwrap();
        for i in 0..3 {
            db.put_rows(&row(&format!("n{i}"), i)).await.unwrap();
        }
        let total: u64 = store
            .list("wal/")
            .await
            .unwrap()
            .iter()
            .map(|m| m.size)
            .sum();
        // Keep everything: retention bytes cover all flushed segments.
        let keep = wal_db(
            Arc::new(store.clone()),
            WalConfig {
                retention_bytes: total,
                ..WalConfig::default()
            },
            clock.clone(),
        );
        drop(db);
        let db = keep.open().await.unwrap();
        assert_eq!(db.gc().await.unwrap().wal_segments_deleted, 0);
        drop(db);
        let db = wal_db(Arc::new(store.clone()), WalConfig::default(), clock)
            .open()
            .await
            .unwrap();
        assert_eq!(db.gc().await.unwrap().wal_segments_deleted, 3);
        assert_eq!(count(&db).await, 9, "nothing unflushed was collected");
    });
}

#[test]
fn a_separate_segment_store_puts_the_log_where_appends_work() {
    block_on(async {
        let objects = MemoryStorage::new();
        let object_store: Arc<dyn Storage> = Arc::new(Device {
            inner: objects.clone(),
            can_append: false,
        });
        let clock = Arc::new(ManualClock::new(0));
        let err = wal_db(object_store.clone(), WalConfig::default(), clock.clone())
            .open()
            .await
            .map(drop)
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
        let log = MemoryStorage::new();
        let config = WalConfig {
            segment_storage: Some(Arc::new(log.clone())),
            ..WalConfig::default()
        };
        let db = wal_db(object_store.clone(), config.clone(), clock.clone())
            .open()
            .await
            .unwrap();
        db.put_rows(&row("a", 1)).await.unwrap();
        assert!(objects.list("wal/").await.unwrap().is_empty());
        let in_log: Vec<String> = log
            .list("wal/")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.path)
            .collect();
        // One segment, and the log's id (which the manifest's hold and floor name).
        assert_eq!(in_log.iter().filter(|p| p.ends_with(".wal")).count(), 1);
        assert!(in_log.contains(&"wal/LOG_ID".to_string()), "{in_log:?}");
        drop(db);
        let db = wal_db(object_store, config, clock).open().await.unwrap();
        assert_eq!(count(&db).await, 1, "replayed from the separate log");
    });
}

#[test]
fn strict_recovery_refuses_a_damaged_older_segment() {
    block_on(async {
        let clock = Arc::new(ManualClock::new(0));
        let store = MemoryStorage::new();
        let config = WalConfig {
            segment_max_bytes: 1,
            ..WalConfig::default()
        };
        let db = wal_db(Arc::new(store.clone()), config.clone(), clock.clone())
            .open()
            .await
            .unwrap();
        for i in 0..3 {
            db.put_rows(&row(&format!("k{i}"), i)).await.unwrap();
        }
        drop(db);
        let first = store.list("wal/").await.unwrap()[0].clone();
        let mut bytes = store.get(&first.path).await.unwrap().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xFF;
        store
            .put(&first.path, Bytes::from(bytes), PutMode::Overwrite)
            .await
            .unwrap();
        let strict = WalConfig {
            recovery: WalRecoveryMode::Strict,
            ..config.clone()
        };
        let err = wal_db(Arc::new(store.clone()), strict, clock.clone())
            .open()
            .await
            .map(drop)
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Corrupt, "{err}");
        let db = wal_db(Arc::new(store), config, clock).open().await.unwrap();
        assert_eq!(
            count(&db).await,
            2,
            "the damaged commit is cut, the rest replays"
        );
    });
}

#[test]
fn gc_deletes_old_orphans_and_keeps_young_ones() {
    block_on(async {
        let store = MemoryStorage::new();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let db = DbBuilder::from_schema_key_name(schema(), "id")
            .with_storage(Arc::new(store.clone()))
            .with_durability(Durability::SealEveryBatch)
            .with_clock(clock.clone())
            .with_retention(Retention {
                grace_ms: 1_000,
                drop_grace_ms: 1_000,
                ..Retention::default()
            })
            .open()
            .await
            .unwrap();
        db.put_rows(&row("a", 1)).await.unwrap();
        let junk = Bytes::from_static(b"left behind by a failed commit");
        let old = "sst/L0/0000000500000-00000000000000aa.parquet";
        let young = "sst/L0/0000000999999-00000000000000bb.parquet";
        store
            .put(old, junk.clone(), PutMode::CreateNew)
            .await
            .unwrap();
        store.put(young, junk, PutMode::CreateNew).await.unwrap();
        let report = db.gc().await.unwrap();
        assert_eq!(report.orphans_deleted, 1, "{report:?}");
        assert!(store.head(old).await.unwrap().is_none());
        assert!(store.head(young).await.unwrap().is_some());
        assert_eq!(count(&db).await, 1, "live files are never orphans");
        clock.advance(10_000);
        assert_eq!(db.gc().await.unwrap().orphans_deleted, 1);
        assert_eq!(count(&db).await, 1);
    });
}

#[test]
fn the_flush_interval_gathers_a_bigger_group() {
    block_on(async {
        let store = MemoryStorage::new();
        let config = WalConfig {
            flush_interval_ms: 20,
            ..WalConfig::default()
        };
        // The system clock: the leader really waits 20 ms, and every other put queues.
        let db = DbBuilder::from_schema_key_name(schema(), "id")
            .with_storage(Arc::new(store))
            .with_wal_config(config)
            .open()
            .await
            .unwrap();
        let before = db.request_counts();
        let puts = (0..30).map(|i| db.put_rows_owned(row(&format!("k{i}"), i)));
        for r in join_all(puts).await {
            r.unwrap();
        }
        let used = db.request_counts().since(&before);
        assert_eq!(used.append, 1, "one write for all 30 puts: {used:?}");
        assert_eq!(count(&db).await, 30);
    });
}
