//! The read path on an object store, where every call is a round trip: strict reads see other
//! handles' commits and check the manifest while they read; a point get fetches its pages in
//! one round; overlapping files are probed together; bounded staleness skips the check.
//! Counted with `LatencyStorage`, which sees every call the store gets.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::ops::Bound;
use std::sync::Arc;

use anax::storage::{Latency, LatencyStorage, MemoryStorage};
use anax::{CompactionOptions, Db, Freshness, ManualClock, ScanOptions};
use arrow_array::cast::AsArray;
use arrow_array::{RecordBatch, StringArray};
use common::Rng;
use common::wide::{self, builder, get_v, key, schema};
use futures::executor::block_on;

/// 70-byte keys (past parquet's 64-byte statistics cut) and ~100-byte payloads.
fn rows(rng: &mut Rng, n: usize, v: i64, ids: &mut Vec<String>) -> RecordBatch {
    wide::rows(
        rng,
        &format!("tenant/émoji-🦀/{}", "0".repeat(38)),
        n,
        v,
        ids,
    )
}

fn store(rtt_ms: f64) -> Arc<LatencyStorage> {
    Arc::new(LatencyStorage::new(
        Arc::new(MemoryStorage::new()),
        Latency::rtt(rtt_ms),
    ))
}

/// Two handles on `s`, opened before the first commits 50 rows: the second one's view lacks
/// them until it checks the manifest. With the committed keys.
async fn two_handles_one_commit(s: &Arc<LatencyStorage>, seed: u64) -> (Db, Db, Vec<String>) {
    let mut rng = Rng::new(seed);
    let a = builder(s).open().await.unwrap();
    let b = builder(s).open().await.unwrap();
    let mut ids = Vec::new();
    a.put(rows(&mut rng, 50, 1, &mut ids)).await.unwrap();
    (a, b, ids)
}

#[test]
fn a_strict_get_sees_what_another_handle_committed_and_a_view_get_does_not() {
    let s = store(0.0);
    let mut rng = Rng::new(1);
    block_on(async {
        let a = builder(&s).open().await.unwrap();
        let b = builder(&s).open().await.unwrap();
        let mut ids = Vec::new();
        b.put(rows(&mut rng, 3, 1, &mut ids)).await.unwrap();
        let k = ids[1].clone();
        assert_eq!(get_v(&a, &k, Freshness::View).await, None);
        assert_eq!(get_v(&a, &k, Freshness::Strict).await, Some(1));
        // An overwrite and a delete elsewhere are seen the same way.
        let mut again = rows(&mut rng, 1, 2, &mut Vec::new());
        again = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from(vec![k.clone()])),
                again.column(1).clone(),
                again.column(2).clone(),
            ],
        )
        .unwrap();
        b.put(again).await.unwrap();
        assert_eq!(get_v(&a, &k, Freshness::View).await, Some(1));
        assert_eq!(get_v(&a, &k, Freshness::Strict).await, Some(2));
        b.delete(&key(&k)).await.unwrap();
        assert_eq!(get_v(&a, &k, Freshness::Strict).await, None);
    });
}

#[test]
fn a_strict_get_reads_the_manifest_and_the_data_at_the_same_time() {
    let s = store(5.0);
    let mut rng = Rng::new(2);
    block_on(async {
        let db = builder(&s).open().await.unwrap();
        let mut ids = Vec::new();
        db.put(rows(&mut rng, 200, 7, &mut ids)).await.unwrap();
        let reader = builder(&s).open().await.unwrap();
        // Warm: the SST's footer is cached by the first read.
        assert_eq!(get_v(&reader, &ids[0], Freshness::Strict).await, Some(7));
        let before = s.counts();
        s.reset_peak();
        assert_eq!(get_v(&reader, &ids[9], Freshness::Strict).await, Some(7));
        let used = s.counts().since(&before);
        // One manifest read plus one ranged read of the small SST, in flight together.
        assert_eq!((used.total(), used.get_range), (2, 1), "{used:?}");
        assert_eq!(s.peak_in_flight(), 2);
    });
}

/// One fully compacted SST of 80,000 rows (long Unicode keys) and its ids, read once (footer
/// cached), the store then at 5 ms per call.
async fn large_sst(s: &Arc<LatencyStorage>, blocks: bool) -> (Db, Vec<String>) {
    let mut rng = Rng::new(3);
    let db = builder(s)
        .with_point_read_blocks(blocks)
        .open()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..4 {
        db.put(rows(&mut rng, 20_000, 3, &mut ids)).await.unwrap();
    }
    db.compact().await.unwrap();
    assert_eq!(db.stats().unwrap().ssts, 1);
    db.get(&key(&ids[0])).await.unwrap().unwrap();
    s.set_latency(Latency::rtt(5.0));
    (db, ids)
}

#[test]
fn a_point_get_through_point_read_blocks_is_one_ranged_read_of_a_few_kib() {
    let s = store(0.0);
    block_on(async {
        let (db, ids) = large_sst(&s, true).await;
        for i in [1usize, 20_000, 41_234, 79_999] {
            let before = s.counts();
            let got = db.get(&key(&ids[i])).await.unwrap().unwrap();
            assert_eq!(got.column(0).as_string::<i32>().value(0), ids[i]);
            assert_eq!(got.num_columns(), 3);
            let used = s.counts().since(&before);
            // 70-byte keys: the page index's truncated bounds may name two blocks, no more.
            assert!((1..=2).contains(&used.get_range), "{used:?}");
            assert_eq!(used.total(), used.get_range, "{used:?}");
            assert!(used.bytes_read < 64 * 1024, "{used:?}");
        }
        // Deleted and overwritten keys resolve through blocks the same way.
        db.delete(&key(&ids[5])).await.unwrap();
        db.compact().await.unwrap();
        assert!(db.get(&key(&ids[5])).await.unwrap().is_none());
        assert!(db.get(&key(&ids[6])).await.unwrap().is_some());
    });
}

#[test]
fn keys_sharing_a_prefix_longer_than_64_bytes_still_narrow_a_get_to_a_block() {
    // Parquet cuts page minima and maxima at 64 bytes unless told otherwise: every page then
    // spans every key of this shape, and a point read fetched whole column chunks (~700 KiB
    // in 5 reads for 30,000 rows).
    let s = store(0.0);
    let prefix = format!("https://example.com/ünïcode/{}/", "päth-🦀".repeat(9));
    assert!(prefix.len() > 100);
    block_on(async {
        let db = builder(&s).open().await.unwrap();
        let mut rng = Rng::new(11);
        let mut ids = Vec::new();
        for _ in 0..3 {
            db.put(wide::rows(&mut rng, &prefix, 10_000, 4, &mut ids))
                .await
                .unwrap();
        }
        db.compact().await.unwrap();
        assert_eq!(db.stats().unwrap().ssts, 1);
        db.get(&key(&ids[0])).await.unwrap().unwrap();
        for i in [1usize, 12_345, 29_999] {
            let before = s.counts();
            assert_eq!(get_v(&db, &ids[i], Freshness::View).await, Some(4));
            let used = s.counts().since(&before);
            assert!((1..=2).contains(&used.get_range), "{used:?}");
            assert!(used.bytes_read < 64 * 1024, "{used:?}");
        }
    });
}

#[test]
fn a_point_get_in_a_large_sst_fetches_all_its_pages_in_one_round() {
    let s = store(0.0);
    block_on(async {
        let (db, ids) = large_sst(&s, false).await;
        for i in [1usize, 20_000, 41_234, 79_999] {
            let before = s.counts();
            s.reset_peak();
            let got = db.get(&key(&ids[i])).await.unwrap().unwrap();
            assert_eq!(got.column(0).as_string::<i32>().value(0), ids[i]);
            let used = s.counts().since(&before);
            // Several column chunks far apart: several reads, but all issued together.
            assert!(used.get_range >= 2, "{used:?}");
            assert_eq!(s.peak_in_flight(), used.total(), "{used:?}");
            // A few hundred rows of each column, not whole column chunks.
            assert!(used.bytes_read < 128 * 1024, "{used:?}");
        }
    });
}

#[test]
fn overlapping_files_are_probed_together_and_the_newest_version_wins() {
    let s = store(0.0);
    let mut rng = Rng::new(4);
    block_on(async {
        let w = builder(&s)
            .with_compaction_options(CompactionOptions {
                automatic: false,
                l0_backpressure: None,
                ..CompactionOptions::default()
            })
            .open()
            .await
            .unwrap();
        let mut ids = Vec::new();
        for v in 0..10 {
            let mut batch_ids = Vec::new();
            let mut b = rows(&mut rng, 50, v, &mut batch_ids);
            // Every file also holds the same key, at its own version.
            let mut keys: Vec<String> = batch_ids.clone();
            keys[0] = "shared-key".into();
            b = RecordBatch::try_new(
                schema(),
                vec![
                    Arc::new(StringArray::from(keys)),
                    b.column(1).clone(),
                    b.column(2).clone(),
                ],
            )
            .unwrap();
            w.put(b).await.unwrap();
            ids.extend(batch_ids.into_iter().skip(1));
        }
        let r = builder(&s).open().await.unwrap();
        assert_eq!(r.stats().unwrap().ssts, 10);
        s.set_latency(Latency::rtt(5.0));
        s.reset_peak();
        let before = s.counts();
        // Cold: ten footers, fetched together.
        assert_eq!(get_v(&r, "shared-key", Freshness::View).await, Some(9));
        assert_eq!(s.peak_in_flight(), 10);
        // Warm: the ten holders of the key are read together too.
        s.reset_peak();
        assert_eq!(get_v(&r, "shared-key", Freshness::View).await, Some(9));
        assert_eq!(s.peak_in_flight(), 10);
        // A key in one file only: the others' bloom filters rule it out without a read
        // (a false positive, 1% per file, may add one).
        let mid = s.counts();
        assert_eq!(get_v(&r, &ids[77], Freshness::View).await, Some(1));
        assert!(s.counts().since(&mid).total() <= 2);
        assert!(s.counts().since(&before).total() >= 20);
    });
}

#[test]
fn bounded_staleness_checks_the_manifest_only_when_the_last_check_is_too_old() {
    let s = store(0.0);
    let clock = Arc::new(ManualClock::new(1_000_000));
    let mut rng = Rng::new(5);
    block_on(async {
        let a = builder(&s).with_clock(clock.clone()).open().await.unwrap();
        let b = builder(&s).open().await.unwrap();
        let mut ids = Vec::new();
        b.put(rows(&mut rng, 2, 5, &mut ids)).await.unwrap();
        let bounded = Freshness::MaxStalenessMs(1000);
        let before = s.counts();
        // Opened (and so checked) just now: no request, the commit is not seen yet.
        assert_eq!(get_v(&a, &ids[0], bounded).await, None);
        assert_eq!(s.counts().since(&before).total(), 0);
        clock.advance(1001);
        assert_eq!(get_v(&a, &ids[0], bounded).await, Some(5));
        // Checked again just now: the next read makes no manifest request.
        let mid = s.counts();
        assert_eq!(get_v(&a, &ids[1], bounded).await, Some(5));
        assert_eq!(s.counts().since(&mid).get, 0);
    });
}

#[test]
fn a_short_scan_reads_a_few_pages_of_its_row_group_not_the_rest_of_it() {
    let s = store(0.0);
    block_on(async {
        let (db, mut ids) = large_sst(&s, true).await;
        ids.sort();
        let scan = |limit| ScanOptions {
            start: Bound::Included(key(&ids[1000])),
            limit,
            ..ScanOptions::default()
        };
        let mut used = Vec::new();
        for limit in [Some(100), None] {
            let before = s.counts();
            let got = db.scan(&scan(limit)).await.unwrap();
            let first = got.column(0).as_string::<i32>().value(0).to_owned();
            assert_eq!(first, ids[1000]);
            if limit.is_some() {
                assert_eq!(got.num_rows(), 100);
                let ids_got: Vec<&str> =
                    got.column(0).as_string::<i32>().iter().flatten().collect();
                assert_eq!(
                    ids_got,
                    ids[1000..1100]
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                );
            }
            used.push(s.counts().since(&before).bytes_read);
        }
        assert!(used[0] < 256 * 1024, "{used:?}");
        assert!(used[1] > 4 * used[0], "{used:?}");
    });
}

#[test]
fn a_strict_scan_sees_another_handles_commit_and_reads_the_manifest_alongside() {
    let s = store(0.0);
    block_on(async {
        let (a, b, ids) = two_handles_one_commit(&s, 6).await;
        let all = ScanOptions::default();
        assert_eq!(
            b.scan_fresh(&all, Freshness::View)
                .await
                .unwrap()
                .num_rows(),
            0
        );
        assert_eq!(
            b.scan_fresh(&all, Freshness::Strict)
                .await
                .unwrap()
                .num_rows(),
            50
        );
        // Nothing changed since: the manifest read and the SST read go out together.
        s.set_latency(Latency::rtt(5.0));
        s.reset_peak();
        let before = s.counts();
        let limited = ScanOptions {
            limit: Some(10),
            ..ScanOptions::default()
        };
        assert_eq!(
            b.scan_fresh(&limited, Freshness::Strict)
                .await
                .unwrap()
                .num_rows(),
            10
        );
        let used = s.counts().since(&before);
        assert_eq!(used.total(), 2, "{used:?}");
        assert_eq!(s.peak_in_flight(), 2);
        // A commit made meanwhile: the scan runs again on the new view.
        a.delete(&key(&ids[0])).await.unwrap();
        assert_eq!(
            b.scan_fresh(&all, Freshness::Strict)
                .await
                .unwrap()
                .num_rows(),
            49
        );
    });
}

#[test]
fn a_strict_scan_stream_sees_another_handles_commit() {
    let s = store(0.0);
    block_on(async {
        let (a, b, ids) = two_handles_one_commit(&s, 7).await;
        let all = ScanOptions::default();
        let streamed = |freshness| {
            let b = &b;
            let all = &all;
            async move {
                let stream = b.scan_stream_fresh(all, freshness).await.unwrap();
                stream.collect().await.unwrap().num_rows()
            }
        };
        assert_eq!(streamed(Freshness::View).await, 0);
        assert_eq!(streamed(Freshness::Strict).await, 50);
        a.delete(&key(&ids[0])).await.unwrap();
        // Checked a moment ago: an hour of staleness allowed, so no check and no new commit.
        assert_eq!(streamed(Freshness::MaxStalenessMs(3_600_000)).await, 50);
        assert_eq!(streamed(Freshness::Strict).await, 49);
    });
}
