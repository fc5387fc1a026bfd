//! A seal-every-batch put publishes its commit while its SST uploads (one round trip, not two).
//! Readers elsewhere that find the head naming a file not there yet wait for it; a file that
//! never lands is voided by a create-if-absent marker, its put fails, and nothing is half-kept.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use anax::storage::{BoxFuture, MemoryStorage, ObjectMeta, PutMode, Storage};
use anax::{ErrorCode, Freshness, ManualClock, Value};
use bytes::Bytes;
use common::kv::{one_row, read_all, seal_db};
use futures::executor::block_on;

/// Holds every SST upload while `hold` is set (or fails it), and notes whether a manifest
/// write went out while an upload was held. With `release_on_commit`, the commit landing
/// releases a held upload (as a real store would finish it), and an upload held 2 s goes on
/// anyway (a writer that uploads before it commits gets through); without, an upload waits
/// until the test clears `hold`, even after its commit landed (a slow upload).
#[derive(Debug)]
struct Gate {
    inner: MemoryStorage,
    hold: AtomicBool,
    release_on_commit: bool,
    fail: AtomicBool,
    /// Manifest head writes started while an SST upload was waiting.
    overlapped: AtomicU32,
    uploads_waiting: AtomicU32,
}

impl Gate {
    fn new(inner: MemoryStorage, hold: bool, release_on_commit: bool) -> Arc<Self> {
        Arc::new(Self {
            inner,
            hold: AtomicBool::new(hold),
            release_on_commit,
            fail: AtomicBool::new(false),
            overlapped: AtomicU32::new(0),
            uploads_waiting: AtomicU32::new(0),
        })
    }
}

async fn pause(ms: u64) {
    futures_timer::Delay::new(Duration::from_millis(ms)).await;
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
            if path.starts_with("sst/") && data.starts_with(b"PAR1") {
                self.uploads_waiting.fetch_add(1, Ordering::SeqCst);
                let mut waited = 0;
                while self.hold.load(Ordering::SeqCst)
                    && !(self.release_on_commit && waited >= 2000)
                {
                    pause(1).await;
                    waited += 1;
                }
                self.uploads_waiting.fetch_sub(1, Ordering::SeqCst);
                if self.fail.load(Ordering::SeqCst) {
                    return Err(anax::Error::transient("upload dropped", Some(503)));
                }
            } else if path.starts_with("manifest/HEAD")
                && self.uploads_waiting.load(Ordering::SeqCst) > 0
            {
                self.overlapped.fetch_add(1, Ordering::SeqCst);
                let r = self.inner.put(path, data, mode).await;
                if self.release_on_commit {
                    self.hold.store(false, Ordering::SeqCst);
                }
                return r;
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

/// `f`, or a panic after 20 s: without uploads that overlap their commit, a reader waiting
/// for the commit before it lets the upload go would wait forever.
async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    let f = std::pin::pin!(f);
    let limit = std::pin::pin!(pause(20_000));
    match futures::future::select(f, limit).await {
        futures::future::Either::Left((v, _)) => v,
        futures::future::Either::Right(_) => panic!("timed out: the commit waited for its upload"),
    }
}

fn key(i: u32) -> String {
    format!("k{i:03}-{}", "ß".repeat(40))
}

#[test]
fn a_put_publishes_its_commit_while_its_file_uploads() {
    block_on(async {
        let store = MemoryStorage::new();
        let gate = Gate::new(store.clone(), true, true);
        let db = seal_db(&store)
            .with_storage(gate.clone())
            .with_background_compaction(false)
            .open()
            .await
            .unwrap();
        for i in 0..5 {
            gate.hold.store(true, Ordering::SeqCst);
            db.put_rows(&one_row(&key(i), i64::from(i))).await.unwrap();
        }
        assert_eq!(
            gate.overlapped.load(Ordering::SeqCst),
            5,
            "every commit went out while its upload was still in flight"
        );
        let other = seal_db(&store).open().await.unwrap();
        assert_eq!(read_all(&other).await.len(), 5);
    });
}

#[test]
fn a_reader_waits_for_a_file_named_before_it_landed() {
    block_on(async {
        let store = MemoryStorage::new();
        let writer_store = Gate::new(store.clone(), false, true);
        let writer = seal_db(&store)
            .with_storage(writer_store.clone())
            .with_background_compaction(false)
            .open()
            .await
            .unwrap();
        let reader = seal_db(&store).open().await.unwrap();
        writer.put_rows(&one_row(&key(0), 0)).await.unwrap();
        assert_eq!(read_all(&reader).await.len(), 0);
        // The next upload waits while held, even after its commit landed.
        let slow = Gate::new(store.clone(), true, false);
        let writer = seal_db(&store)
            .with_storage(slow.clone())
            .with_background_compaction(false)
            .open()
            .await
            .unwrap();
        let v0 = writer.stats().unwrap().manifest_version;
        let k = Value::from(key(1));
        let rows = one_row(&key(1), 1);
        let put = writer.put_rows(&rows);
        let read = async {
            // Once the head names the file, a strict get must wait for it, not fail.
            while {
                reader.refresh().await.unwrap();
                reader.stats().unwrap().manifest_version <= v0
            } {
                pause(1).await;
            }
            let release = async {
                pause(60).await;
                slow.hold.store(false, Ordering::SeqCst);
            };
            let (got, ()) = futures::future::join(
                reader.get_fresh(std::slice::from_ref(&k), Freshness::Strict),
                release,
            )
            .await;
            got
        };
        let (put, got) = within(futures::future::join(put, read)).await;
        put.unwrap();
        assert!(got.unwrap().is_some(), "the row arrived once its file did");
        assert_eq!(read_all(&reader).await.len(), 2);
    });
}

#[test]
fn a_file_that_never_lands_is_voided_and_its_put_fails() {
    block_on(async {
        let store = MemoryStorage::new();
        let slow = Gate::new(store.clone(), true, false);
        let writer = seal_db(&store)
            .with_storage(slow.clone())
            .with_background_compaction(false)
            .open()
            .await
            .unwrap();
        // The reader's clock makes its waits instant: it gives up on the file at once.
        let reader = seal_db(&store)
            .with_clock(Arc::new(ManualClock::new(1_000_000)))
            .open()
            .await
            .unwrap();
        let v0 = writer.stats().unwrap().manifest_version;
        let k = Value::from(key(7));
        let rows = one_row(&key(7), 7);
        let put = writer.put_rows(&rows);
        let read = async {
            while {
                reader.refresh().await.unwrap();
                reader.stats().unwrap().manifest_version <= v0
            } {
                pause(1).await;
            }
            let got = reader
                .get_fresh(std::slice::from_ref(&k), Freshness::Strict)
                .await;
            // Only now does the upload go on: it finds the marker in its place.
            slow.hold.store(false, Ordering::SeqCst);
            got
        };
        let (put, got) = within(futures::future::join(put, read)).await;
        assert_eq!(got.unwrap(), None, "a voided file reads as empty");
        let err = put.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
        // Nobody sees the row, and the table stays usable: a retry lands, and compaction
        // drops the void file.
        let fresh = seal_db(&store).open().await.unwrap();
        assert_eq!(read_all(&fresh).await.len(), 0);
        writer.put_rows(&one_row(&key(7), 8)).await.unwrap();
        fresh.refresh().await.unwrap();
        let all = read_all(&fresh).await;
        assert_eq!(all[&key(7)], Some(8));
        fresh.compact().await.unwrap();
        let after = seal_db(&store).open().await.unwrap();
        assert_eq!(read_all(&after).await.len(), 1);
        let ssts = after.stats().unwrap().ssts;
        assert_eq!(ssts, 1, "the void file left the head with the compaction");
    });
}

#[test]
fn a_writer_that_loses_its_upload_voids_its_own_file() {
    block_on(async {
        let store = MemoryStorage::new();
        let gate = Gate::new(store.clone(), false, true);
        let writer = seal_db(&store)
            .with_storage(gate.clone())
            .with_background_compaction(false)
            .open()
            .await
            .unwrap();
        writer.put_rows(&one_row(&key(1), 1)).await.unwrap();
        gate.fail.store(true, Ordering::SeqCst);
        let err = writer.put_rows(&one_row(&key(2), 2)).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        gate.fail.store(false, Ordering::SeqCst);
        // A reader on another handle neither waits nor errs: the file is void at once.
        let reader = seal_db(&store).open().await.unwrap();
        let all = read_all(&reader).await;
        assert_eq!(all.len(), 1);
        assert_eq!(all[&key(1)], Some(1));
        let mut markers = 0;
        for o in store.list("sst/").await.unwrap() {
            if store.get(&o.path).await.unwrap().starts_with(b"ANXVOID1") {
                markers += 1;
            }
        }
        assert_eq!(markers, 1, "the failed put's path holds a void marker");
    });
}

#[test]
fn a_missing_file_that_was_not_in_flight_is_an_error_not_an_empty_read() {
    block_on(async {
        let store = MemoryStorage::new();
        let db = seal_db(&store)
            .with_background_compaction(false)
            .open()
            .await
            .unwrap();
        for i in 0..3 {
            db.put_rows(&one_row(&key(i), i64::from(i))).await.unwrap();
        }
        db.compact().await.unwrap();
        // The compacted file (uploaded before its commit, so never in flight) goes missing.
        let ssts = store.list("sst/").await.unwrap();
        let live: Vec<_> = ssts
            .iter()
            .filter(|o| !o.path.ends_with("-f.parquet"))
            .collect();
        assert_eq!(live.len(), 1, "{ssts:?}");
        store.delete(&live[0].path).await.unwrap();
        let reader = seal_db(&store)
            .with_clock(Arc::new(ManualClock::new(1_000_000)))
            .open()
            .await
            .unwrap();
        let err = reader
            .get_fresh(&[Value::from(key(1))], Freshness::Strict)
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
        assert!(
            store.head(&live[0].path).await.unwrap().is_none(),
            "no marker stands in for a lost file"
        );
    });
}
