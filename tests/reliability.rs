//! Regression tests for the durability holes of the "nothing lost, nothing wrong" review: a
//! handle stuck after one lost compare-and-swap, a lost reply on the last attempt, GC taking a
//! file a slow commit then names, writers stalled forever, a bucket that fails calls at random.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anax::storage::{BoxFuture, MemoryStorage, ObjectMeta, PutMode, Storage};
use anax::{
    CasBackoffConfig, CompactionOptions, DbBuilder, Error, ErrorCode, L0BackpressureConfig,
    ManualClock, Retention, ScanOptions, Value,
};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use futures::channel::oneshot;
use futures::executor::block_on;

use common::Rng;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("v", DataType::Int64, true),
    ]))
}

fn row(k: &str, v: i64) -> Vec<Vec<Value>> {
    vec![vec![Value::from(k), Value::Int(v)]]
}

fn once(max_attempts: u32) -> CasBackoffConfig {
    CasBackoffConfig {
        base_ms: 1,
        max_ms: 2,
        max_attempts,
    }
}

fn manual() -> CompactionOptions {
    CompactionOptions {
        automatic: false,
        ..CompactionOptions::default()
    }
}

/// Every row a fresh handle on `store` sees, as id -> v.
async fn contents(store: Arc<dyn Storage>) -> anax::Result<BTreeMap<String, i64>> {
    let db = DbBuilder::from_schema_key_name(schema(), "id")
        .with_storage(store)
        .with_compaction_options(manual())
        .open()
        .await?;
    let batch = db.scan(&ScanOptions::default()).await?;
    let ids = batch.column(0).as_string::<i32>();
    let vs = batch.column(1).as_primitive::<Int64Type>();
    Ok((0..batch.num_rows())
        .map(|i| (ids.value(i).to_owned(), vs.value(i)))
        .collect())
}

#[test]
fn a_handle_that_lost_its_only_cas_attempt_commits_on_the_next_put() {
    block_on(async {
        let store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let open = || {
            DbBuilder::from_schema_key_name(schema(), "id")
                .with_storage(store.clone())
                .cas_backoff(once(1))
                .with_compaction_options(manual())
                .open()
        };
        let a = open().await.unwrap();
        let b = open().await.unwrap();
        a.put_rows(&row("a1", 1)).await.unwrap();
        // b's head is one commit behind: its single attempt loses.
        let lost = b.put_rows(&row("b1", 1)).await.unwrap_err();
        assert_eq!(lost.code(), ErrorCode::Conflict, "{lost}");
        // The failed attempt taught b the new head: a plain retry succeeds, and keeps doing so
        // while b is the only writer.
        for i in 2..6 {
            b.put_rows(&row(&format!("b{i}"), i)).await.unwrap();
        }
        let got = contents(store).await.unwrap();
        let keys: Vec<&str> = got.keys().map(String::as_str).collect();
        assert_eq!(keys, ["a1", "b2", "b3", "b4", "b5"]);
    });
}

/// Applies the `n`-th write of `manifest/HEAD` and then reports a conflict, as a retried
/// request does when the first one landed but its reply was lost.
#[derive(Debug)]
struct LoseHeadReply {
    inner: MemoryStorage,
    head_puts: AtomicU64,
    lose_at: AtomicU64,
}

impl Storage for LoseHeadReply {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<Bytes>> {
        self.inner.get(path)
    }
    fn get_range<'a>(
        &'a self,
        path: &'a str,
        range: Range<u64>,
    ) -> BoxFuture<'a, anax::Result<Bytes>> {
        self.inner.get_range(path, range)
    }
    fn put<'a>(
        &'a self,
        path: &'a str,
        data: Bytes,
        mode: PutMode,
    ) -> BoxFuture<'a, anax::Result<ObjectMeta>> {
        Box::pin(async move {
            let out = self.inner.put(path, data, mode).await?;
            if path == "manifest/HEAD" {
                let n = self.head_puts.fetch_add(1, Ordering::SeqCst) + 1;
                if n == self.lose_at.load(Ordering::SeqCst) {
                    return Err(Error::Conflict("HTTP 412 PreconditionFailed".into()));
                }
            }
            Ok(out)
        })
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
}

#[test]
fn a_compaction_whose_last_cas_reply_was_lost_keeps_its_outputs() {
    block_on(async {
        let store = Arc::new(LoseHeadReply {
            inner: MemoryStorage::new(),
            head_puts: AtomicU64::new(0),
            lose_at: AtomicU64::new(u64::MAX),
        });
        let db = DbBuilder::from_schema_key_name(schema(), "id")
            .with_storage(store.clone())
            .cas_backoff(once(1))
            .with_compaction_options(manual())
            .open()
            .await
            .unwrap();
        for i in 0..4 {
            db.put_rows(&row(&format!("k{i}"), i)).await.unwrap();
        }
        let next = store.head_puts.load(Ordering::SeqCst) + 1;
        store.lose_at.store(next, Ordering::SeqCst);
        // The commit landed: the read-back finds it, so the job succeeds and keeps its files.
        let report = db.compact().await.unwrap();
        assert!(report.outputs >= 1, "{report:?}");
        let got = contents(store.clone()).await.unwrap();
        assert_eq!(got.len(), 4, "rows after compaction: {got:?}");
        db.put_rows(&row("k9", 9)).await.unwrap();
        assert_eq!(contents(store).await.unwrap().len(), 5);
    });
}

/// Holds the first compare-and-swap of `manifest/HEAD` until released, after telling the test
/// it arrived: the window between a writer's SST upload and its commit, made as long as a
/// frozen tab or a slow merge makes it.
#[derive(Debug)]
struct Gate {
    inner: Arc<dyn Storage>,
    armed: AtomicBool,
    arrived: Mutex<Option<oneshot::Sender<()>>>,
    release: Mutex<Option<oneshot::Receiver<()>>>,
}

impl Storage for Gate {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<Bytes>> {
        self.inner.get(path)
    }
    fn get_range<'a>(
        &'a self,
        path: &'a str,
        range: Range<u64>,
    ) -> BoxFuture<'a, anax::Result<Bytes>> {
        self.inner.get_range(path, range)
    }
    fn put<'a>(
        &'a self,
        path: &'a str,
        data: Bytes,
        mode: PutMode,
    ) -> BoxFuture<'a, anax::Result<ObjectMeta>> {
        Box::pin(async move {
            let cas = path == "manifest/HEAD" && matches!(mode, PutMode::IfMatch(_));
            if cas && self.armed.swap(false, Ordering::SeqCst) {
                if let Some(tx) = self.arrived.lock().unwrap().take() {
                    let _ = tx.send(());
                }
                let rx = self.release.lock().unwrap().take();
                if let Some(rx) = rx {
                    let _ = rx.await;
                }
            }
            self.inner.put(path, data, mode).await
        })
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
}

#[test]
fn gc_never_deletes_a_file_that_a_slow_commit_then_names() {
    block_on(async {
        let shared: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let (arrived_tx, arrived_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        let gate = Arc::new(Gate {
            inner: shared.clone(),
            armed: AtomicBool::new(false),
            arrived: Mutex::new(Some(arrived_tx)),
            release: Mutex::new(Some(release_rx)),
        });
        let retention = Retention {
            grace_ms: 60_000,
            ..Retention::default()
        };
        // The writer's clock is an hour behind GC's: its file's name looks long orphaned.
        let writer = DbBuilder::from_schema_key_name(schema(), "id")
            .with_storage(gate.clone())
            .with_clock(Arc::new(ManualClock::new(1_000_000_000)))
            .with_retention(retention)
            .with_compaction_options(manual())
            .open()
            .await
            .unwrap();
        let collector = DbBuilder::from_schema_key_name(schema(), "id")
            .with_storage(shared.clone())
            .with_clock(Arc::new(ManualClock::new(1_000_000_000 + 3_600_000)))
            .with_retention(retention)
            .with_compaction_options(manual())
            .open()
            .await
            .unwrap();
        writer.put_rows(&row("before", 1)).await.unwrap();
        gate.armed.store(true, Ordering::SeqCst);
        let slow = row("slow", 2);
        let put = writer.put_rows(&slow);
        let gc = async {
            arrived_rx.await.unwrap();
            let report = collector.gc().await.unwrap();
            release_tx.send(()).unwrap();
            report
        };
        let (put, report) = futures::future::join(put, gc).await;
        match &put {
            // The file was condemned before the commit: the put must not claim success.
            Err(e) => assert_eq!(e.code(), ErrorCode::Conflict, "{e}"),
            Ok(_) => assert_eq!(report.orphans_deleted, 0),
        }
        let acked_slow = put.is_ok();
        // Whatever happened, every acknowledged row reads back, from a fresh handle too.
        let got = contents(shared.clone()).await.unwrap();
        assert_eq!(got.get("before"), Some(&1));
        assert_eq!(got.contains_key("slow"), acked_slow, "{got:?}");
        // The writer goes on (a retry of the lost put lands).
        writer.put_rows(&row("slow", 2)).await.unwrap();
        let got = contents(shared.clone()).await.unwrap();
        assert_eq!(got.get("slow"), Some(&2));
        // And GC after it deletes nothing anyone names.
        collector.gc().await.unwrap();
        collector.gc().await.unwrap();
        assert_eq!(contents(shared).await.unwrap().len(), 2);
    });
}

#[test]
fn a_stalled_put_with_no_compactor_fails_busy_instead_of_waiting_forever() {
    block_on(async {
        let db = DbBuilder::from_schema_key_name(schema(), "id")
            .with_storage(Arc::new(MemoryStorage::new()))
            .with_clock(Arc::new(ManualClock::new(1_000)))
            .with_compaction_options(CompactionOptions {
                automatic: false,
                l0_backpressure: Some(L0BackpressureConfig {
                    slowdown_files: 2,
                    slowdown_delay_ms: 1,
                    stop_files: 3,
                    stop_recheck_ms: 100,
                    stop_timeout_ms: 5_000,
                    ..L0BackpressureConfig::default()
                }),
                ..CompactionOptions::default()
            })
            .open()
            .await
            .unwrap();
        for i in 0..3 {
            db.put_rows(&row(&format!("k{i}"), i)).await.unwrap();
        }
        let err = db.put_rows(&row("k3", 3)).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Busy, "{err}");
        assert!(err.is_retryable());
        // Nothing was written; a compaction makes room and the same put then lands.
        db.compact().await.unwrap();
        db.put_rows(&row("k3", 3)).await.unwrap();
        assert_eq!(
            db.scan(&ScanOptions::default()).await.unwrap().num_rows(),
            4
        );
    });
}

/// A bucket that fails a share of calls at random, before or after doing them (a 5xx, or a
/// lost reply), as a retryable error.
#[derive(Debug)]
struct Flaky {
    inner: MemoryStorage,
    rng: Mutex<Rng>,
    percent: u64,
    calls: AtomicU64,
    faults: AtomicU64,
}

impl Flaky {
    fn new(seed: u64, percent: u64) -> Self {
        Self {
            inner: MemoryStorage::new(),
            rng: Mutex::new(Rng::new(seed)),
            percent,
            calls: AtomicU64::new(0),
            faults: AtomicU64::new(0),
        }
    }

    /// `None`: no fault; `Some(true)`: fail after doing it; `Some(false)`: before.
    fn roll(&self) -> Option<bool> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut rng = self.rng.lock().unwrap();
        if !rng.chance(self.percent) {
            return None;
        }
        self.faults.fetch_add(1, Ordering::SeqCst);
        Some(rng.chance(50))
    }

    async fn call<'a, T: 'a>(&'a self, f: BoxFuture<'a, anax::Result<T>>) -> anax::Result<T> {
        let fault = || Error::transient("HTTP 503 SlowDown (injected)", Some(503));
        match self.roll() {
            None => f.await,
            Some(false) => Err(fault()),
            Some(true) => {
                f.await?;
                Err(fault())
            }
        }
    }
}

impl Storage for Flaky {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<Bytes>> {
        Box::pin(self.call(self.inner.get(path)))
    }
    fn get_range<'a>(
        &'a self,
        path: &'a str,
        range: Range<u64>,
    ) -> BoxFuture<'a, anax::Result<Bytes>> {
        Box::pin(self.call(self.inner.get_range(path, range)))
    }
    fn put<'a>(
        &'a self,
        path: &'a str,
        data: Bytes,
        mode: PutMode,
    ) -> BoxFuture<'a, anax::Result<ObjectMeta>> {
        Box::pin(self.call(self.inner.put(path, data, mode)))
    }
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, anax::Result<Vec<ObjectMeta>>> {
        Box::pin(self.call(self.inner.list(prefix)))
    }
    fn delete<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<()>> {
        Box::pin(self.call(self.inner.delete(path)))
    }
    fn head<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<Option<ObjectMeta>>> {
        Box::pin(self.call(self.inner.head(path)))
    }
}

/// Puts `n` single rows through a bucket failing 10% of calls, with default options; returns
/// the share acknowledged. Every acknowledged row must read back from a fresh handle.
fn availability_under_faults(seed: u64, n: usize) -> f64 {
    block_on(async {
        let store = Arc::new(Flaky::new(seed, 10));
        let db = loop {
            // Opening may itself hit a fault that outlives the retries; try again as a user
            // would.
            match DbBuilder::from_schema_key_name(schema(), "id")
                .with_storage(store.clone())
                .with_clock(Arc::new(ManualClock::new(1_000)))
                .open()
                .await
            {
                Ok(db) => break db,
                Err(e) => assert!(e.is_retryable() || e.code() == ErrorCode::Conflict, "{e}"),
            }
        };
        let mut acked = BTreeMap::new();
        for i in 0..n {
            let k = format!("k{i:05}");
            match db.put_rows(&row(&k, i as i64)).await {
                Ok(_) => {
                    acked.insert(k, i as i64);
                }
                Err(e) => assert!(
                    e.is_retryable() || e.code() == ErrorCode::Conflict,
                    "put {i}: {e}"
                ),
            }
        }
        let faults = store.faults.load(Ordering::SeqCst);
        assert!(faults > 0);
        // Read back through a clean view of the same objects.
        let clean: Arc<dyn Storage> = Arc::new(store.inner.fork().unwrap());
        let got = contents(clean).await.unwrap();
        for (k, v) in &acked {
            assert_eq!(got.get(k), Some(v), "acknowledged row {k} lost");
        }
        acked.len() as f64 / n as f64
    })
}

#[test]
fn a_single_writer_keeps_writing_on_a_bucket_that_fails_one_call_in_ten() {
    // The figure `faults_put_availability` in docs/bench/reliability.json.
    let share = availability_under_faults(20, 1_000);
    println!("faults_put_availability: {share:.4} of 1,000 puts");
    assert!(share >= 0.9, "only {share:.3} of puts succeeded");
}

/// Appends a torn frame (a length that runs past the end) to the newest WAL segment: what a
/// crash in the middle of a write leaves.
async fn tear_last_segment(store: &MemoryStorage) -> String {
    let segments = store.list("wal/").await.unwrap();
    let last = segments.last().expect("a WAL segment").path.clone();
    store
        .append(
            &last,
            Bytes::from_static(&[0xFF, 0x00, 0x00, 0x10, 1, 2, 3]),
        )
        .await
        .unwrap();
    last
}

fn wal_db(store: &Arc<MemoryStorage>, recovery: anax::WalRecoveryMode) -> DbBuilder {
    DbBuilder::from_schema_key_name(schema(), "id")
        .with_storage(store.clone())
        .with_durability(anax::Durability::Wal(anax::WalConfig {
            recovery,
            ..anax::WalConfig::default()
        }))
        .with_clock(Arc::new(ManualClock::new(1_000)))
}

#[test]
fn strict_recovery_opens_after_two_crashes_without_a_flush_between() {
    block_on(async {
        let store = Arc::new(MemoryStorage::new());
        let strict = anax::WalRecoveryMode::Strict;
        let db = wal_db(&store, strict).open().await.unwrap();
        db.put_rows(&row("a", 1)).await.unwrap();
        drop(db); // crash 1: no close, no flush, a torn tail
        let first = tear_last_segment(&store).await;
        let db = wal_db(&store, strict).open().await.unwrap();
        let stats = db.stats().unwrap();
        assert_eq!(stats.wal_cut_bytes, 7, "{stats:?}");
        db.put_rows(&row("b", 2)).await.unwrap();
        drop(db); // crash 2
        let second = tear_last_segment(&store).await;
        assert_ne!(first, second, "the second run wrote a new segment");
        let db = wal_db(&store, strict).open().await.unwrap();
        let got = db.scan(&ScanOptions::default()).await.unwrap();
        assert_eq!(got.num_rows(), 2);
        assert_eq!(db.stats().unwrap().wal_cut_segments.len(), 2);
    });
}

#[test]
fn truncate_tail_reports_damage_in_the_middle_of_the_log() {
    block_on(async {
        let store = Arc::new(MemoryStorage::new());
        let truncate = anax::WalRecoveryMode::TruncateTail;
        let db = wal_db(&store, truncate).open().await.unwrap();
        db.put_rows(&row("a", 1)).await.unwrap();
        drop(db);
        // Damage (not a torn tail of the newest segment): bytes after it are not replayed.
        let damaged = tear_last_segment(&store).await;
        let db = wal_db(&store, truncate).open().await.unwrap();
        db.put_rows(&row("b", 2)).await.unwrap();
        drop(db);
        let db = wal_db(&store, truncate).open().await.unwrap();
        let stats = db.stats().unwrap();
        let seq: u64 = damaged
            .trim_start_matches("wal/")
            .trim_end_matches(".wal")
            .parse()
            .unwrap();
        assert!(stats.wal_cut_segments.contains(&seq), "{stats:?}");
        assert!(stats.wal_cut_bytes >= 7, "{stats:?}");
    });
}

#[test]
fn a_root_with_data_but_no_manifest_head_is_refused_not_recreated_empty() {
    block_on(async {
        let store = Arc::new(MemoryStorage::new());
        let open = || {
            DbBuilder::from_schema_key_name(schema(), "id")
                .with_storage(store.clone())
                .with_compaction_options(manual())
                .open()
        };
        let db = open().await.unwrap();
        for i in 0..3 {
            db.put_rows(&row(&format!("k{i}"), i)).await.unwrap();
        }
        drop(db);
        store.delete("manifest/HEAD").await.unwrap();
        let err = open().await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Corrupt, "{err}");
        // Nothing was created or deleted: the data files are all still there.
        assert_eq!(store.list("sst/").await.unwrap().len(), 3);
        assert!(store.head("manifest/HEAD").await.unwrap().is_none());
    });
}

#[test]
fn a_second_writer_on_one_disk_directory_is_refused_until_the_first_closes() {
    block_on(async {
        let dir = std::env::temp_dir().join(format!(
            "anax-lock-{}-{}",
            std::process::id(),
            common::Rng::new(7).next_u64()
        ));
        let open = || {
            DbBuilder::from_schema_key_name(schema(), "id")
                .on_disk(dir.clone())
                .open()
        };
        let first = open().await.unwrap();
        first.put_rows(&row("a", 1)).await.unwrap();
        let err = open().await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
        first.close().await.unwrap();
        let second = open().await.unwrap();
        assert_eq!(
            second
                .get(&[Value::from("a")])
                .await
                .unwrap()
                .unwrap()
                .num_rows(),
            1
        );
        second.close().await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// A store that ignores write conditions, as some S3-compatible servers do.
#[derive(Debug)]
struct IgnoresConditions(MemoryStorage);

impl Storage for IgnoresConditions {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<Bytes>> {
        self.0.get(path)
    }
    fn get_range<'a>(
        &'a self,
        path: &'a str,
        range: Range<u64>,
    ) -> BoxFuture<'a, anax::Result<Bytes>> {
        self.0.get_range(path, range)
    }
    fn put<'a>(
        &'a self,
        path: &'a str,
        data: Bytes,
        _mode: PutMode,
    ) -> BoxFuture<'a, anax::Result<ObjectMeta>> {
        self.0.put(path, data, PutMode::Overwrite)
    }
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, anax::Result<Vec<ObjectMeta>>> {
        self.0.list(prefix)
    }
    fn delete<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<()>> {
        self.0.delete(path)
    }
    fn head<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<Option<ObjectMeta>>> {
        self.0.head(path)
    }
}

#[test]
fn a_store_that_ignores_conditional_writes_is_refused_when_the_table_is_created() {
    block_on(async {
        let err = DbBuilder::from_schema_key_name(schema(), "id")
            .with_storage(Arc::new(IgnoresConditions(MemoryStorage::new())))
            .open()
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Storage, "{err}");
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("ignores"), "{err}");
    });
}

#[test]
fn gets_of_keys_longer_than_parquet_statistics_find_every_row_after_compaction() {
    // 70,000 rows whose 98-byte keys share a 90-byte prefix: past parquet's 64-byte statistics,
    // every row group's bounds look alike. The figure `long_key_get_misses`.
    block_on(async {
        let db = DbBuilder::from_schema_key_name(schema(), "id")
            .in_memory("long-keys")
            .with_compaction_options(manual())
            .open()
            .await
            .unwrap();
        let prefix = "p".repeat(90);
        let key = |i: u64| format!("{prefix}{i:08}");
        for chunk in 0..7u64 {
            let rows: Vec<Vec<Value>> = (chunk * 10_000..(chunk + 1) * 10_000)
                .map(|i| vec![Value::from(key(i)), Value::Int(i as i64)])
                .collect();
            db.put_rows(&rows).await.unwrap();
            db.flush().await.unwrap();
        }
        db.compact().await.unwrap();
        let mut rng = Rng::new(98);
        let mut misses = 0;
        for _ in 0..10_000 {
            let i = rng.below(70_000);
            match db.get(&[Value::from(key(i))]).await.unwrap() {
                Some(b) if b.column(1).as_primitive::<Int64Type>().value(0) == i as i64 => {}
                _ => misses += 1,
            }
        }
        println!("long_key_get_misses: {misses} of 10,000 gets");
        assert_eq!(misses, 0);
        // The transaction conflict check uses the same lookup: a write after the snapshot to a
        // key in a later row group of a compacted SST is a conflict.
        let tx = db.transaction().unwrap();
        db.put_rows(&row(&key(69_999), -1)).await.unwrap();
        db.flush().await.unwrap();
        db.compact().await.unwrap();
        tx.put_rows(&row(&key(69_999), -2)).unwrap();
        let err = tx.commit().await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
    });
}

#[test]
fn ipc_inputs_the_fuzzer_found_are_refused_without_a_panic() {
    // Each file once made arrow-ipc panic (a trap in wasm): a buffer outside the message body,
    // an Int column of bit width -64, a validity bitmap shorter than its column, an offsets
    // buffer whose length is not a multiple of 4.
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz/ipc_stream");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let err = anax::ipc::decode_stream(&bytes).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
        n += 1;
    }
    assert!(n >= 4);
}
