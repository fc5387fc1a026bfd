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
    CasBackoffConfig, Clock, CompactionOptions, DbBuilder, Error, ErrorCode, L0BackpressureConfig,
    ManualClock, Retention, ScanOptions, SystemClock, Value,
};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use futures::channel::oneshot;
use futures::executor::block_on;

use common::{Rng, StopOnPanic};

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
            drop_grace_ms: 60_000,
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
    /// Clones of a `MemoryStorage` share its objects: several `Flaky` clients over one
    /// bucket are separate machines on one prefix.
    inner: MemoryStorage,
    rng: Mutex<Rng>,
    percent: u64,
    /// Blocks this client's thread for so long on every SST upload: a slow merge.
    slow_sst_ms: u64,
    calls: AtomicU64,
    faults: AtomicU64,
}

impl Flaky {
    fn new(seed: u64, percent: u64) -> Self {
        Self::over(MemoryStorage::new(), seed, percent)
    }

    fn over(inner: MemoryStorage, seed: u64, percent: u64) -> Self {
        Self {
            inner,
            rng: Mutex::new(Rng::new(seed)),
            percent,
            slow_sst_ms: 0,
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
        if self.slow_sst_ms > 0 && path.starts_with("sst/") {
            std::thread::sleep(std::time::Duration::from_millis(self.slow_sst_ms));
        }
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

/// A machine whose clock is `offset_ms` off the true time (either way).
#[derive(Debug)]
struct Skewed(i64);

impl Clock for Skewed {
    fn now_millis(&self) -> u64 {
        (SystemClock.now_millis() as i64 + self.0).max(0) as u64
    }
    fn sleep(&self, ms: u64) -> BoxFuture<'static, ()> {
        SystemClock.sleep(ms)
    }
}

/// Options for every handle of the fault matrix: a grace period far shorter than a slow
/// merge and than the clock skew between the machines.
fn matrix_builder(storage: Arc<dyn Storage>, skew_ms: i64, automatic: bool) -> DbBuilder {
    DbBuilder::from_schema_key_name(schema(), "id")
        .with_storage(storage)
        .with_clock(Arc::new(Skewed(skew_ms)))
        .cas_backoff(CasBackoffConfig {
            base_ms: 1,
            max_ms: 10,
            max_attempts: 50,
        })
        .with_retention(Retention {
            min_versions: 4,
            max_age_ms: 0,
            grace_ms: 200,
            drop_grace_ms: 200,
        })
        .with_compaction_options(CompactionOptions {
            automatic,
            l0_backpressure: Some(L0BackpressureConfig {
                stop_timeout_ms: 60_000,
                ..L0BackpressureConfig::default()
            }),
            ..CompactionOptions::default()
        })
}

/// Opens a handle as a user would on a failing store: again while the failure is transient.
async fn open_retrying(builder: impl Fn() -> DbBuilder) -> anax::Db {
    loop {
        match builder().open().await {
            Ok(db) => return db,
            Err(e) => assert!(
                e.is_retryable() || e.code() == ErrorCode::Conflict,
                "open: {e}"
            ),
        }
    }
}

/// One write as its writer issued it: `None` deletes; `acked` when the call returned `Ok`.
#[derive(Debug, Clone)]
struct Issued {
    value: Option<i64>,
    acked: bool,
}

/// What one writer of the fault matrix did, per key it owns, in the order it issued them.
#[derive(Debug, Default)]
struct WriterLog {
    keys: BTreeMap<String, Vec<Issued>>,
    calls: usize,
    acked: usize,
    checked_reads: usize,
}

/// Writes, overwrites, deletes and reads back its own keys through a failing store; every
/// read of a key whose last write was acknowledged must return exactly that write.
fn matrix_writer(
    bucket: MemoryStorage,
    w: u64,
    skew_ms: i64,
    ops: usize,
    stop: &AtomicBool,
) -> WriterLog {
    block_on(async {
        let store = Arc::new(Flaky::over(bucket, 100 + w, 5));
        let dyn_store: Arc<dyn Storage> = store.clone();
        let db = open_retrying(|| matrix_builder(dyn_store.clone(), skew_ms, false)).await;
        let mut rng = Rng::new(w * 31 + 7);
        let mut log = WriterLog::default();
        for i in 0..ops {
            if stop.load(Ordering::SeqCst) {
                // Another thread failed: end so the scope reports its panic.
                break;
            }
            let own: Vec<String> = log.keys.keys().cloned().collect();
            let value = (w * 1_000_000 + i as u64) as i64;
            let (key, write) = match rng.below(100) {
                0..=14 if !own.is_empty() => (rng.pick(&own).clone(), Some(value)),
                15..=24 if !own.is_empty() => (rng.pick(&own).clone(), None),
                _ => (format!("w{w}-{i:05}"), Some(value)),
            };
            let result = match write {
                Some(v) => db.put_rows(&row(&key, v)).await,
                None => db.delete(&[Value::from(key.as_str())]).await,
            };
            log.calls += 1;
            let acked = match result {
                Ok(_) => true,
                Err(e) => {
                    // A failed call may or may not have landed (a lost reply); it must say
                    // which kind of failure it was.
                    assert!(
                        e.is_retryable() || e.code() == ErrorCode::Conflict,
                        "writer {w} op {i}: {e}"
                    );
                    false
                }
            };
            log.acked += usize::from(acked);
            log.keys.entry(key).or_default().push(Issued {
                value: write,
                acked,
            });
            if rng.chance(20) {
                let settled: Vec<(&String, Option<i64>)> = log
                    .keys
                    .iter()
                    .filter_map(|(k, v)| v.last().filter(|l| l.acked).map(|l| (k, l.value)))
                    .collect();
                if settled.is_empty() {
                    continue;
                }
                let (k, want) = *rng.pick(&settled);
                match db.get(&[Value::from(k.as_str())]).await {
                    Ok(got) => {
                        let got = got.map(|b| b.column(1).as_primitive::<Int64Type>().value(0));
                        assert_eq!(got, want, "writer {w} read {k} wrong");
                        log.checked_reads += 1;
                    }
                    Err(e) => assert!(e.is_retryable(), "writer {w} get {k}: {e}"),
                }
            }
        }
        assert!(store.faults.load(Ordering::SeqCst) > 0);
        // Closing may meet a fault too; the test reads through a clean client afterwards.
        let _ = db.close().await;
        log
    })
}

/// The values a key may hold after the run: its last acknowledged write, or any write issued
/// after it whose outcome is unknown (or absent when nothing acknowledged wrote it).
fn allowed(issued: &[Issued]) -> Vec<Option<i64>> {
    let last = issued.iter().rposition(|x| x.acked);
    let mut out = vec![last.and_then(|j| issued[j].value)];
    let after = last.map_or(0, |j| j + 1);
    out.extend(issued[after..].iter().map(|x| x.value));
    out
}

#[test]
fn two_writers_a_compactor_and_gc_on_a_failing_bucket_lose_nothing_with_skewed_clocks() {
    // Faults in 5% of every client's calls (before or after the call), compaction uploads
    // slower than the grace period, and clocks minutes apart: writer 1 five minutes behind,
    // writer 2 three ahead, the compactor seven ahead, GC twenty ahead.
    let ops = common::ops(300);
    let bucket = MemoryStorage::new();
    let clean: Arc<dyn Storage> = Arc::new(bucket.clone());
    block_on(matrix_builder(clean.clone(), 0, false).open()).unwrap();
    let done = AtomicBool::new(false);
    let (logs, compactions, gc_runs) = std::thread::scope(|s| {
        let compactor = s.spawn(|| {
            let _stop = StopOnPanic(&done);
            block_on(async {
                let mut flaky = Flaky::over(bucket.clone(), 7, 5);
                flaky.slow_sst_ms = 300;
                let store: Arc<dyn Storage> = Arc::new(flaky);
                let db = open_retrying(|| matrix_builder(store.clone(), 420_000, true)).await;
                let mut rounds = 0u64;
                while !done.load(Ordering::SeqCst) {
                    rounds += 1;
                    let r = if rounds.is_multiple_of(4) {
                        db.compact().await.map(|_| ())
                    } else {
                        db.compact_pending(4).await.map(|_| ())
                    };
                    if let Err(e) = r {
                        assert!(
                            e.is_retryable() || e.code() == ErrorCode::Conflict,
                            "compactor: {e}"
                        );
                    }
                    SystemClock.sleep(2).await;
                }
                db.stats().unwrap().compaction.jobs
            })
        });
        let collector = s.spawn(|| {
            let _stop = StopOnPanic(&done);
            block_on(async {
                let store: Arc<dyn Storage> = Arc::new(Flaky::over(bucket.clone(), 9, 5));
                let db = open_retrying(|| matrix_builder(store.clone(), 1_200_000, false)).await;
                let mut ok = 0u64;
                while !done.load(Ordering::SeqCst) {
                    match db.gc().await {
                        Ok(_) => ok += 1,
                        Err(e) => assert!(
                            e.is_retryable() || e.code() == ErrorCode::Conflict,
                            "gc: {e}"
                        ),
                    }
                    SystemClock.sleep(5).await;
                }
                ok
            })
        });
        let done = &done;
        let writers: Vec<_> = [(1u64, -300_000i64), (2, 180_000)]
            .into_iter()
            .map(|(w, skew)| {
                let bucket = bucket.clone();
                s.spawn(move || {
                    let _stop = StopOnPanic(done);
                    matrix_writer(bucket, w, skew, ops, done)
                })
            })
            .collect();
        let logs: Vec<WriterLog> = writers.into_iter().map(|h| h.join().unwrap()).collect();
        done.store(true, Ordering::SeqCst);
        (logs, compactor.join().unwrap(), collector.join().unwrap())
    });
    let calls: usize = logs.iter().map(|l| l.calls).sum();
    let acked: usize = logs.iter().map(|l| l.acked).sum();
    let reads: usize = logs.iter().map(|l| l.checked_reads).sum();
    println!(
        "fault matrix: {acked} of {calls} writes acknowledged, {reads} reads checked, \
         {compactions} compactions, {gc_runs} GC runs"
    );
    assert!(compactions > 0 && gc_runs > 0);
    // Liveness, not a rate: GC runs every few milliseconds with a clock 20 minutes ahead, so
    // it condemns nearly every file in flight and those puts fail CONFLICT (to be retried).
    assert!(
        acked as f64 >= 0.6 * calls as f64,
        "writers starved: {acked}/{calls}"
    );
    let check = |got: &BTreeMap<String, i64>| {
        let mut lost = 0;
        for log in &logs {
            for (k, issued) in &log.keys {
                let have = got.get(k).copied();
                if !allowed(issued).contains(&have) {
                    lost += 1;
                    eprintln!("{k}: read {have:?}, history {issued:?}");
                }
            }
        }
        assert_eq!(lost, 0, "keys with a value no write left them");
        let written = logs.iter().map(|l| l.keys.len()).sum::<usize>();
        assert!(got.len() <= written);
        for k in got.keys() {
            assert!(
                logs.iter().any(|l| l.keys.contains_key(k)),
                "{k} never written"
            );
        }
    };
    let got = block_on(contents(clean.clone())).unwrap();
    check(&got);
    // A clean machine a day ahead compacts and collects everything it may: nothing changes.
    block_on(async {
        let db = matrix_builder(clean.clone(), 86_400_000, false)
            .open()
            .await
            .unwrap();
        db.compact().await.unwrap();
        db.gc().await.unwrap();
        db.gc().await.unwrap();
    });
    assert_eq!(block_on(contents(clean)).unwrap(), got);
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
fn a_new_table_on_a_store_whose_conditional_writes_are_anaxs_own_skips_the_probe() {
    // The probe is for servers; in-process stores (memory here, disk, Node's dir, OPFS) keep
    // their own locks. Their first open costs the head's create only, not four more calls.
    block_on(async {
        let db = DbBuilder::from_schema_key_name(schema(), "id")
            .with_storage(Arc::new(MemoryStorage::new()))
            .open()
            .await
            .unwrap();
        let r = db.request_counts();
        assert_eq!((r.put_conditional, r.put, r.delete), (1, 0, 0), "{r:?}");
        // The table works as before: a write and its read.
        db.put_rows(&row("a", 1)).await.unwrap();
        assert_eq!(
            db.scan(&ScanOptions::default()).await.unwrap().num_rows(),
            1
        );
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

/// Flips one bit of the object at `path`, `from_end` bytes before its end.
async fn flip(store: &MemoryStorage, path: &str, from_end: usize) {
    let mut bytes = store.get(path).await.unwrap().to_vec();
    let at = bytes.len() - from_end;
    bytes[at] ^= 0x10;
    store
        .put(path, Bytes::from(bytes), PutMode::Overwrite)
        .await
        .unwrap();
}

/// A table of `n` rows with 200-byte values in one SST (several row groups when large),
/// written through a seal-every-batch handle; returns the SST's path.
async fn one_sst(store: &MemoryStorage, n: usize) -> String {
    let db = DbBuilder::from_schema_key_name(schema(), "id")
        .with_storage(Arc::new(store.clone()))
        .with_compaction_options(manual())
        .open()
        .await
        .unwrap();
    let rows: Vec<Vec<Value>> = (0..n)
        .map(|i| {
            vec![
                Value::from(format!("key-{i:06}-{}", "x".repeat(190)).as_str()),
                Value::Int(i as i64),
            ]
        })
        .collect();
    db.put_rows(&rows).await.unwrap();
    let ssts = store.list("sst/").await.unwrap();
    assert_eq!(ssts.len(), 1);
    ssts[0].path.clone()
}

async fn fresh(store: &MemoryStorage) -> anax::Result<anax::Db> {
    DbBuilder::from_schema_key_name(schema(), "id")
        .with_storage(Arc::new(store.clone()))
        .with_compaction_options(manual())
        .open()
        .await
}

#[test]
fn a_flipped_bit_in_an_sst_footer_is_corrupt_not_a_wrong_answer() {
    block_on(async {
        for n in [50, 20_000] {
            // A small file (read whole) and one past the whole-read limit (tail read).
            let store = MemoryStorage::new();
            let path = one_sst(&store, n).await;
            // 20 bytes before the end: inside the footer's metadata, before its length.
            flip(&store, &path, 20).await;
            let db = fresh(&store).await.unwrap();
            let err = db
                .get(&[Value::from(
                    format!("key-{:06}-{}", 1, "x".repeat(190)).as_str(),
                )])
                .await
                .unwrap_err();
            assert_eq!(err.code(), ErrorCode::Corrupt, "{n} rows: {err}");
            assert!(err.to_string().contains("checksum"), "{err}");
        }
    });
}

#[test]
fn a_flipped_bit_in_a_point_read_block_is_corrupt_and_compaction_rebuilds_the_block() {
    block_on(async {
        let store = MemoryStorage::new();
        let path = one_sst(&store, 20_000).await;
        let bytes = store.get(&path).await.unwrap();
        let md = parquet::file::metadata::ParquetMetaDataReader::new()
            .parse_and_finish(&bytes)
            .unwrap();
        let rg = md.row_group(0);
        let block = rg.columns().last().unwrap();
        assert_eq!(block.column_path().string(), "_anax_block");
        let (start, len) = block.byte_range();
        flip(&store, &path, bytes.len() - (start + len / 2) as usize).await;
        let db = fresh(&store).await.unwrap();
        let id = |i: usize| format!("key-{i:06}-{}", "x".repeat(190));
        let v = |b: &arrow_array::RecordBatch| b.column(1).as_primitive::<Int64Type>().value(0);
        let (mut damaged, mut right) = (0, 0);
        for i in (0..rg.num_rows() as usize).step_by(31) {
            match db.get(&[Value::from(id(i).as_str())]).await {
                Ok(Some(b)) => {
                    assert_eq!(v(&b), i as i64, "key {i}");
                    right += 1;
                }
                Err(e) => {
                    assert_eq!(e.code(), ErrorCode::Corrupt, "{e}");
                    assert!(e.to_string().contains("checksum"), "{e}");
                    damaged += 1;
                }
                Ok(None) => panic!("key {i} vanished"),
            }
        }
        assert!(
            damaged > 0 && right > damaged,
            "{damaged} damaged, {right} right"
        );
        // Compaction reads the checked columns, never the blocks, and writes new blocks.
        db.put_rows(&row("zz", 1)).await.unwrap();
        db.compact().await.unwrap();
        for i in (0..20_000).step_by(31) {
            let b = db
                .get(&[Value::from(id(i).as_str())])
                .await
                .unwrap()
                .unwrap();
            assert_eq!(v(&b), i as i64, "key {i} after compaction");
        }
    });
}

#[test]
fn a_flipped_bit_in_a_data_page_stops_compaction_before_it_spreads() {
    block_on(async {
        let store = MemoryStorage::new();
        let path = one_sst(&store, 20_000).await;
        let size = store.head(&path).await.unwrap().unwrap().size as usize;
        // A quarter into the file: a data page of a table column (the point-read blocks take
        // the second half), which the tail checksum does not cover.
        flip(&store, &path, size - size / 4).await;
        let db = fresh(&store).await.unwrap();
        // A second SST, so that compaction has something to merge the damaged one with.
        db.put_rows(&row("zz", 1)).await.unwrap();
        let before = db.stats().unwrap().manifest_version;
        let err = db.compact().await.map(drop).unwrap_err();
        assert_eq!(err.code(), ErrorCode::Corrupt, "{err}");
        assert!(err.to_string().contains("row group"), "{err}");
        // Nothing was committed from the damaged input, and a full scan says the same.
        db.refresh().await.unwrap();
        assert_eq!(db.stats().unwrap().manifest_version, before);
        let err = db
            .scan(&ScanOptions::default())
            .await
            .map(drop)
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Corrupt, "{err}");
    });
}

#[test]
fn another_valid_parquet_file_at_an_sst_path_is_corrupt() {
    block_on(async {
        let store = MemoryStorage::new();
        let path = one_sst(&store, 50).await;
        // An SST of another table of the same schema, valid in itself, put at this path.
        let other = MemoryStorage::new();
        let foreign = one_sst(&other, 60).await;
        let bytes = other.get(&foreign).await.unwrap();
        store.put(&path, bytes, PutMode::Overwrite).await.unwrap();
        let db = fresh(&store).await.unwrap();
        let err = db
            .scan(&ScanOptions::default())
            .await
            .map(drop)
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Corrupt, "{err}");
    });
}

fn logged(table: &MemoryStorage, log: &MemoryStorage, take_over: bool) -> DbBuilder {
    DbBuilder::from_schema_key_name(schema(), "id")
        .with_storage(Arc::new(table.clone()))
        .with_compaction_options(manual())
        .with_durability(anax::Durability::Wal(anax::WalConfig {
            segment_storage: Some(Arc::new(log.clone())),
            take_over,
            ..anax::WalConfig::default()
        }))
}

#[test]
fn a_log_outside_the_table_holds_it_against_other_writers_until_closed() {
    block_on(async {
        let table = MemoryStorage::new();
        let (log1, log2) = (MemoryStorage::new(), MemoryStorage::new());
        let w1 = logged(&table, &log1, false).open().await.unwrap();
        w1.put_rows(&row("a", 1)).await.unwrap();
        // A second local log on the same prefix would move the same replay floor.
        let err = logged(&table, &log2, false)
            .open()
            .await
            .map(drop)
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
        assert!(err.to_string().contains("take_over"), "{err}");
        // So would a writer that commits straight to the table.
        let direct = fresh(&table).await.unwrap();
        let err = direct.put_rows(&row("d", 4)).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
        // Closing flushes and lets the others in.
        w1.close().await.unwrap();
        let w2 = logged(&table, &log2, false).open().await.unwrap();
        assert_eq!(contents(Arc::new(table.clone())).await.unwrap().len(), 1);
        w2.put_rows(&row("b", 2)).await.unwrap();
        // w2's machine crashes: its write is only in its own log, and it still holds the table.
        drop(w2);
        let err = logged(&table, &log1, false)
            .open()
            .await
            .map(drop)
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
        // Reopened on the same log, it replays what it acknowledged.
        let w2 = logged(&table, &log2, false).open().await.unwrap();
        assert_eq!(
            w2.get(&[Value::from("b")])
                .await
                .unwrap()
                .map(|b| b.num_rows()),
            Some(1)
        );
        w2.close().await.unwrap();
        let got = contents(Arc::new(table.clone())).await.unwrap();
        assert_eq!(got, BTreeMap::from([("a".into(), 1), ("b".into(), 2)]));
    });
}

#[test]
fn taking_over_from_a_lost_log_never_resurrects_its_old_writes() {
    block_on(async {
        let table = MemoryStorage::new();
        let (log1, log2) = (MemoryStorage::new(), MemoryStorage::new());
        let w1 = logged(&table, &log1, false).open().await.unwrap();
        w1.put_rows(&row("a", 1)).await.unwrap();
        w1.flush().await.unwrap();
        // Acknowledged into log 1 only, then its machine is gone.
        w1.put_rows(&row("a", 10)).await.unwrap();
        drop(w1);
        let w2 = logged(&table, &log2, true).open().await.unwrap();
        assert_eq!(
            contents(Arc::new(table.clone())).await.unwrap()["a"],
            1,
            "the lost log's unflushed write is abandoned, as take_over documents"
        );
        w2.put_rows(&row("a", 20)).await.unwrap();
        w2.close().await.unwrap();
        // Log 1's machine comes back: it must not replay `a = 10` over the newer table.
        let w1 = logged(&table, &log1, false).open().await.unwrap();
        let got = w1.get(&[Value::from("a")]).await.unwrap().unwrap();
        assert_eq!(got.column(1).as_primitive::<Int64Type>().value(0), 20);
        w1.put_rows(&row("c", 3)).await.unwrap();
        w1.close().await.unwrap();
        let got = contents(Arc::new(table)).await.unwrap();
        assert_eq!(got, BTreeMap::from([("a".into(), 20), ("c".into(), 3)]));
    });
}

/// Once armed, answers the next read of an SST with NOT_FOUND (as after a GC elsewhere) and
/// from then on fails every read of the manifest with a retryable 503.
#[derive(Debug)]
struct InputGoneThenHeadUnreadable {
    inner: MemoryStorage,
    armed: AtomicBool,
    sst_gone: AtomicBool,
}

impl InputGoneThenHeadUnreadable {
    fn check(&self, path: &str) -> anax::Result<()> {
        if path.starts_with("sst/") && self.armed.swap(false, Ordering::SeqCst) {
            self.sst_gone.store(true, Ordering::SeqCst);
            return Err(Error::NotFound(path.to_owned()));
        }
        if path.starts_with("manifest/") && self.sst_gone.load(Ordering::SeqCst) {
            return Err(Error::transient("HTTP 503 SlowDown (injected)", Some(503)));
        }
        Ok(())
    }
}

impl Storage for InputGoneThenHeadUnreadable {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<Bytes>> {
        Box::pin(async move {
            self.check(path)?;
            self.inner.get(path).await
        })
    }
    fn get_range<'a>(
        &'a self,
        path: &'a str,
        range: Range<u64>,
    ) -> BoxFuture<'a, anax::Result<Bytes>> {
        Box::pin(async move {
            self.check(path)?;
            self.inner.get_range(path, range).await
        })
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
        Box::pin(async move {
            self.check(path)?;
            self.inner.head(path).await
        })
    }
}

#[test]
fn a_missing_compaction_input_with_an_unreadable_manifest_is_retryable_not_not_found() {
    // Found by the fault matrix's compactor: when a compaction input could not be read, the job
    // asks the manifest whether another handle compacted it away. A failed ask proved nothing,
    // yet the job reported NOT_FOUND, which callers take as lost data and do not retry.
    block_on(async {
        let store = Arc::new(InputGoneThenHeadUnreadable {
            inner: MemoryStorage::new(),
            armed: AtomicBool::new(false),
            sst_gone: AtomicBool::new(false),
        });
        let db = DbBuilder::from_schema_key_name(schema(), "id")
            .with_storage(store.clone())
            .with_compaction_options(manual())
            .open()
            .await
            .unwrap();
        for i in 0..4 {
            db.put_rows(&row(&format!("k{i}"), i)).await.unwrap();
        }
        store.armed.store(true, Ordering::SeqCst);
        let e = db.compact().await.unwrap_err();
        assert!(
            store.sst_gone.load(Ordering::SeqCst),
            "no SST was read: {e}"
        );
        assert!(e.is_retryable(), "{e} ({:?})", e.code());
        // Once the manifest answers again, the same job runs (the input was there all along).
        store.sst_gone.store(false, Ordering::SeqCst);
        let report = db.compact().await.unwrap();
        assert!(report.outputs >= 1, "{report:?}");
        assert_eq!(contents(store).await.unwrap().len(), 4);
    });
}
