//! The process's cache of decoded point-read blocks: a get whose block was read before reads
//! no storage, a strict get still sees a newer commit (the cache holds immutable files, never a
//! row's latest value), the budget bounds what it holds, and a handle can opt out. One test:
//! the cache is process-wide, and tests of one file share a process.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use anax::sst::block_cache;
use anax::storage::{Latency, LatencyStorage, MemoryStorage};
use anax::{Freshness, RequestCounts};
use common::Rng;
use common::wide::{builder, get_v, key, rows, rows_of};
use futures::executor::block_on;

fn calls(s: &LatencyStorage, before: &RequestCounts) -> u64 {
    s.counts().since(before).total()
}

#[test]
fn cached_blocks_answer_gets_without_storage_and_never_hide_a_newer_commit() {
    let s = Arc::new(LatencyStorage::new(
        Arc::new(MemoryStorage::new()),
        Latency::rtt(0.0),
    ));
    let mut rng = Rng::new(11);
    block_on(async {
        let w = builder(&s).with_block_cache(true).open().await.unwrap();
        let mut ids = Vec::new();
        // 80-byte Unicode keys, past parquet's 64-byte statistics cut.
        let prefix = format!("tenant/ключ-🦀/{}", "z".repeat(48));
        w.put(rows(&mut rng, &prefix, 3_000, 1, &mut ids))
            .await
            .unwrap();
        w.compact().await.unwrap();
        // The handle that wrote the file (its compaction's output) caches what it reads too.
        assert_eq!(get_v(&w, &ids[2000], Freshness::View).await, Some(1));
        let before = s.counts();
        assert_eq!(get_v(&w, &ids[2000], Freshness::View).await, Some(1));
        assert_eq!(calls(&s, &before), 0, "{:?}", s.counts().since(&before));

        let r = builder(&s).with_block_cache(true).open().await.unwrap();
        let k = ids[10].clone();
        assert_eq!(get_v(&r, &k, Freshness::View).await, Some(1));
        let (_, _, hits0, _) = block_cache::stats();

        // Warm: no call at all, for the key and for its neighbours in the block.
        let before = s.counts();
        assert_eq!(get_v(&r, &k, Freshness::View).await, Some(1));
        let mut sorted = ids.clone();
        sorted.sort();
        let at = sorted.iter().position(|x| *x == k).unwrap();
        let neighbour = sorted[at ^ 1].clone();
        assert_eq!(get_v(&r, &neighbour, Freshness::View).await, Some(1));
        assert_eq!(calls(&s, &before), 0, "{:?}", s.counts().since(&before));
        assert!(block_cache::stats().2 >= hits0 + 2);

        // Another handle overwrites the key: a strict get checks the manifest and finds the
        // new file; the cached block of the old one answers nothing wrong.
        w.put(rows_of(vec![k.clone()], 2)).await.unwrap();
        let before = s.counts();
        assert_eq!(get_v(&r, &k, Freshness::Strict).await, Some(2));
        assert!(calls(&s, &before) >= 1);
        assert_eq!(get_v(&r, &neighbour, Freshness::View).await, Some(1));
        w.delete(&key(&neighbour)).await.unwrap();
        assert_eq!(get_v(&r, &neighbour, Freshness::Strict).await, None);

        // A handle that opts out reads its block every time.
        let plain = builder(&s).with_block_cache(false).open().await.unwrap();
        for _ in 0..2 {
            let before = s.counts();
            assert_eq!(get_v(&plain, &ids[100], Freshness::View).await, Some(1));
            assert!(s.counts().since(&before).get_range >= 1);
        }

        // The budget bounds the bytes held; 0 empties the cache and turns it off.
        block_cache::set_budget(64 * 1024);
        for id in ids.iter().step_by(50) {
            assert_eq!(get_v(&r, id, Freshness::View).await, Some(1));
            assert!(block_cache::stats().0 <= 64 * 1024);
        }
        block_cache::set_budget(0);
        assert_eq!(block_cache::stats().0, 0);
        let before = s.counts();
        assert_eq!(get_v(&r, &ids[100], Freshness::View).await, Some(1));
        assert!(calls(&s, &before) >= 1, "a cache of 0 bytes keeps nothing");
        block_cache::set_budget(block_cache::DEFAULT_BUDGET);
    });
}
