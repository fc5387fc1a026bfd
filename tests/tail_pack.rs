//! The tail pack (`anax::sst::pack`): a compaction leaves the tails of the large SSTs it made
//! in one object that a fresh handle fetches beside the manifest head, so its first point read
//! costs one round trip of data reads (no tail read first); a stale or damaged pack costs
//! that round trip back and never changes an answer.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use anax::manifest::HEAD_PATH;
use anax::sst::pack::{PACK_PATH, PackEntry, decode, encode};
use anax::storage::{Latency, LatencyStorage, MemoryStorage, PutMode, Storage};
use anax::{Db, DbBuilder};
use arrow_array::{RecordBatch, StringArray};
use bytes::Bytes;
use common::Rng;
use common::wide::{self, builder, key, schema, v_of};
use futures::executor::block_on;

/// `n` rows under 80-byte Unicode keys sharing a 65-byte prefix.
fn rows(rng: &mut Rng, n: usize, v: i64, ids: &mut Vec<String>) -> RecordBatch {
    wide::rows(
        rng,
        &format!("tenant/ünïcode-🦀/{}", "0".repeat(44)),
        n,
        v,
        ids,
    )
}

async fn v_of_get(db: &Db, k: &str) -> Option<i64> {
    db.get(&key(k)).await.unwrap().map(|b| v_of(&b))
}

/// A table compacted into SSTs well past the whole-read size, by a handle with the pack on.
async fn table(store: &Arc<LatencyStorage>, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let db = builder(store).open().await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        db.put(rows(&mut rng, 10_000, 1, &mut ids)).await.unwrap();
    }
    db.compact().await.unwrap();
    db.close().await.unwrap();
    ids
}

/// Backend calls of a fresh handle's open, then of its first get of `k` (which must find
/// `want`), and how many of the open's calls were in flight at once.
async fn cold_get(store: &Arc<LatencyStorage>, k: &str, want: i64) -> (u64, u64, u64) {
    let before = store.counts();
    store.reset_peak();
    let db = builder(store).open().await.unwrap();
    let opened = store.counts();
    let peak = store.peak_in_flight();
    assert_eq!(v_of_get(&db, k).await, Some(want));
    let got = store.counts().since(&opened);
    (opened.since(&before).total(), got.total(), peak)
}

#[test]
fn a_fresh_handle_fetches_the_tails_with_the_head_and_then_reads_only_data() {
    let store = Arc::new(LatencyStorage::new(
        Arc::new(MemoryStorage::new()),
        Latency::rtt(1.0),
    ));
    block_on(async {
        let ids = table(&store, 1).await;
        let pack = decode(&store.get(PACK_PATH).await.unwrap()).expect("a pack");
        assert!(!pack.is_empty(), "the compacted SSTs are in the pack");
        for k in [&ids[0], &ids[12_345], &ids[29_999]] {
            let (open_calls, get_calls, peak) = cold_get(&store, k, 1).await;
            // The head and the pack, in flight together; then one data read, no tail read.
            assert_eq!((open_calls, peak), (2, 2));
            assert_eq!(get_calls, 1, "a cold get of {k} fetched a tail");
        }
        // Without the pack the same read fetches the tail first.
        let s: Arc<dyn Storage> = store.clone();
        let db = DbBuilder::from_schema_key_name(schema(), "id")
            .with_storage(s)
            .with_tail_pack(false)
            .open()
            .await
            .unwrap();
        let opened = store.counts();
        assert_eq!(v_of_get(&db, &ids[7]).await, Some(1));
        assert_eq!(store.counts().since(&opened).total(), 2);
    });
}

#[test]
fn a_stale_or_damaged_pack_costs_a_round_trip_and_never_an_answer() {
    let store = Arc::new(LatencyStorage::new(
        Arc::new(MemoryStorage::new()),
        Latency::rtt(0.0),
    ));
    block_on(async {
        let mut ids = table(&store, 2).await;
        let stale = store.get(PACK_PATH).await.unwrap();

        // The table is rewritten (new values, new files): the pack then names other files.
        let mut rng = Rng::new(3);
        let writer = builder(&store).open().await.unwrap();
        let keys = ids.clone();
        let again = rows(&mut rng, keys.len(), 2, &mut ids);
        let again = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from(keys.clone())),
                again.column(1).clone(),
                again.column(2).clone(),
            ],
        )
        .unwrap();
        writer.put(again).await.unwrap();
        writer.compact().await.unwrap();
        writer.close().await.unwrap();
        let current = store.get(PACK_PATH).await.unwrap();
        assert_ne!(current, stale, "the compaction rewrote the pack");
        let (_, calls, _) = cold_get(&store, &keys[5], 2).await;
        assert_eq!(calls, 1, "the rewritten pack serves the new files");

        // Damaged tails: the right paths and sizes with a flipped bit each (the pack's own
        // checksum matches; the manifest's checksum of each tail does not).
        let damaged: Vec<PackEntry> = decode(&current)
            .unwrap()
            .into_iter()
            .map(|e| {
                let mut t = e.tail.to_vec();
                let mid = t.len() / 2;
                t[mid] ^= 1;
                PackEntry {
                    tail: Bytes::from(t),
                    ..e
                }
            })
            .collect();
        assert!(!damaged.is_empty());
        for bytes in [
            encode(&damaged),
            Bytes::from_static(b"not a pack at all"),
            stale,
            Bytes::new(),
        ] {
            store
                .put(PACK_PATH, bytes, PutMode::Overwrite)
                .await
                .unwrap();
            for k in [&keys[0], &keys[29_999]] {
                let (_, calls, _) = cold_get(&store, k, 2).await;
                assert_eq!(calls, 2);
            }
        }
        // And a pack that is missing altogether.
        store.delete(PACK_PATH).await.unwrap();
        let (open_calls, calls, _) = cold_get(&store, &keys[1], 2).await;
        assert_eq!((open_calls, calls), (2, 2));
    });
}

#[test]
fn background_compactions_leave_a_pack_that_serves_the_files_they_made() {
    let store = Arc::new(LatencyStorage::new(
        Arc::new(MemoryStorage::new()),
        Latency::rtt(0.0),
    ));
    block_on(async {
        let mut rng = Rng::new(4);
        // Natively on an object store, triggered jobs run on a thread of their own; the pack
        // is rewritten after them (or at close when a rewrite was put off).
        let db = builder(&store).open().await.unwrap();
        let mut ids = Vec::new();
        for _ in 0..6 {
            db.put(rows(&mut rng, 10_000, 5, &mut ids)).await.unwrap();
        }
        db.idle().await.unwrap();
        assert!(db.stats().unwrap().compaction.jobs > 0);
        db.close().await.unwrap();
        // Every large file compaction made (level 1 and below) is in the pack. (A put's own L0
        // file that lands after the last round of jobs need not be: puts never rewrite it.)
        let head = anax::manifest::decode_state(&store.get(HEAD_PATH).await.unwrap()).unwrap();
        let pack = decode(&store.get(PACK_PATH).await.unwrap()).unwrap();
        let made: Vec<_> = head
            .ssts
            .iter()
            .filter(|m| m.level >= 1 && m.bytes > 256 * 1024)
            .collect();
        assert!(!made.is_empty());
        for m in made {
            assert!(
                pack.iter().any(|e| e.path == m.path
                    && e.size == m.bytes
                    && e.tail.len() as u64 == m.tail_bytes),
                "{} is not in the pack",
                m.path
            );
        }
        for k in [&ids[0], &ids[33_333], &ids[59_999]] {
            cold_get(&store, k, 5).await;
        }
    });
}

#[test]
fn while_jobs_keep_coming_the_pack_is_rewritten_at_most_once_per_interval() {
    // A bulk load triggers a merge every few puts; rewriting the pack after each (or on every
    // trigger after a put-off rewrite, as a first version did) multiplied the bytes written.
    let store = Arc::new(LatencyStorage::new(
        Arc::new(MemoryStorage::new()),
        Latency::rtt(0.0),
    ));
    block_on(async {
        let clock = Arc::new(anax::ManualClock::new(1_800_000_000_000));
        let db = builder(&store)
            .with_clock(clock.clone())
            .with_background_compaction(false)
            .open()
            .await
            .unwrap();
        let mut rng = Rng::new(5);
        let mut ids = Vec::new();
        let mut etags = Vec::new();
        for _ in 0..12 {
            db.put(rows(&mut rng, 5_000, 6, &mut ids)).await.unwrap();
            if let Some(m) = store.head(PACK_PATH).await.unwrap()
                && etags.last() != Some(&m.etag)
            {
                etags.push(m.etag);
            }
        }
        let jobs = db.stats().unwrap().compaction.jobs;
        assert!(jobs >= 2, "{jobs} jobs");
        assert_eq!(
            etags.len(),
            1,
            "the clock stood still: one pack, not one per round"
        );
        // Once the interval has passed, the next trigger writes the put-off rewrite.
        clock.advance(5_000);
        db.put(rows(&mut rng, 5_000, 6, &mut ids)).await.unwrap();
        let after = store.head(PACK_PATH).await.unwrap().unwrap().etag;
        assert_ne!(Some(&after), etags.last());
        db.close().await.unwrap();
        for k in [&ids[0], &ids[30_000], &ids[64_999]] {
            let (_, calls, _) = cold_get(&store, k, 6).await;
            assert_eq!(calls, 1, "a cold get of {k} fetched a tail");
        }
    });
}
