//! Storage requests per operation on an object store, counted by the handle: a warm put, a put
//! after another writer's commit, a cold open, warm gets (hit and miss) against their targets
//! (`ANAX_RECORD=1` writes them to `docs/bench/requests.json`); and a cold open after ten
//! thousand versions is still one GET.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use anax::Value;
use anax::storage::MemoryStorage;
use common::kv::{one_row, read_all, rows_of, seal_db};
use futures::executor::block_on;

fn json_counts(c: &anax::RequestCounts) -> String {
    format!(
        "{{\"get\": {}, \"get_range\": {}, \"put\": {}, \"list\": {}, \"delete\": {}, \"head\": {}}}",
        c.get,
        c.get_range,
        c.puts(),
        c.list,
        c.delete,
        c.head
    )
}

#[test]
fn request_counts_on_an_object_store_meet_the_targets() {
    block_on(async {
        let store = MemoryStorage::new();
        // Jobs on the triggering call, so the counts are the put's alone and not whatever a
        // background job happens to do meanwhile.
        let a = seal_db(&store)
            .with_background_compaction(false)
            .open()
            .await
            .unwrap();
        // Ten SSTs with disjoint key ranges.
        for f in 0..10 {
            let rows: Vec<Vec<Value>> = (0..50)
                .map(|i| vec![Value::from(format!("f{f}-{i:03}")), Value::Int(i)])
                .collect();
            a.put_rows(&rows).await.unwrap();
        }
        let before = a.request_counts();
        a.put_rows(&one_row("f5-999", 1)).await.unwrap();
        let put_warm = a.request_counts().since(&before);

        // Another writer commits: a's next put must re-read the head.
        let b = seal_db(&store)
            .with_background_compaction(false)
            .open()
            .await
            .unwrap();
        b.put_rows(&one_row("zz", 1)).await.unwrap();
        let before = a.request_counts();
        a.put_rows(&one_row("f6-999", 1)).await.unwrap();
        let put_conflict = a.request_counts().since(&before);

        // Without the block cache: the figures are what a get costs when its block is not
        // in memory yet (f3-020 shares a block with f3-010; tests/block_cache.rs covers hits).
        let c = seal_db(&store)
            .with_background_compaction(false)
            .with_block_cache(false)
            .open()
            .await
            .unwrap();
        let open_cold = c.request_counts();
        assert!(c.get(&[Value::from("f3-010")]).await.unwrap().is_some());
        let before = c.request_counts();
        let hit = c.get(&[Value::from("f3-020")]).await.unwrap().unwrap();
        assert_eq!(rows_of(&hit)["f3-020"], Some(20));
        let get_warm = c.request_counts().since(&before);
        let before = c.request_counts();
        assert!(c.get(&[Value::from("f3-0201")]).await.unwrap().is_none());
        let get_warm_miss = c.request_counts().since(&before);

        let json = format!(
            "{{\n  \"put_warm\": {},\n  \"put_after_conflict\": {},\n  \"open_cold\": {},\n  \
             \"get_warm\": {},\n  \"get_warm_miss\": {}\n}}\n",
            json_counts(&put_warm),
            json_counts(&put_conflict),
            json_counts(&open_cold),
            json_counts(&get_warm),
            json_counts(&get_warm_miss)
        );
        println!("{json}");
        if std::env::var("ANAX_RECORD").is_ok() {
            std::fs::write(
                concat!(env!("CARGO_MANIFEST_DIR"), "/docs/bench/requests.json"),
                &json,
            )
            .unwrap();
        }
        assert_eq!(put_warm.puts(), 2, "SST + manifest: {put_warm:?}");
        assert_eq!(
            put_warm.gets() + put_warm.list + put_warm.head,
            0,
            "{put_warm:?}"
        );
        assert!(
            put_conflict.gets() <= 1 && put_conflict.puts() <= 3,
            "SST + a lost and a won manifest attempt, one re-read: {put_conflict:?}"
        );
        assert!(open_cold.total() <= 3, "{open_cold:?}");
        assert_eq!(
            get_warm.get_range, 1,
            "one ranged GET for the one SST probed: {get_warm:?}"
        );
        assert_eq!(get_warm.total(), 1, "{get_warm:?}");
        assert!(get_warm_miss.total() <= 1, "{get_warm_miss:?}");
    });
}

#[test]
fn opening_after_ten_thousand_versions_reads_one_round() {
    block_on(async {
        let store = MemoryStorage::new();
        let db = seal_db(&store).open().await.unwrap();
        let mut early_ts = 0;
        for i in 0..10_000u32 {
            let ts = db
                .put_rows(&one_row(&format!("k{:03}", i % 500), i64::from(i)))
                .await
                .unwrap();
            if i == 150 {
                early_ts = ts;
            }
            if i % 200 == 199 {
                db.compact().await.unwrap();
            }
        }
        let v = db.stats().unwrap().manifest_version;
        assert!(v > 10_000, "{v}");
        let cold = seal_db(&store).open().await.unwrap();
        let c = cold.request_counts();
        println!("cold open after {v} versions: {c:?}");
        // The head, and the tail pack fetched beside it (no waiting on the head).
        assert_eq!((c.get, c.get_range, c.total()), (1, 1, 2), "{c:?}");
        assert_eq!(read_all(&cold).await.len(), 500);
        let versions = cold.versions().await.unwrap();
        assert_eq!(versions.len() as u64, v, "every version is listed");
        assert!(
            versions
                .windows(2)
                .all(|w| w[0].version + 1 == w[1].version)
        );
        // An early version, long archived out of the head and compacted over 50 times, still
        // reads as it was.
        let then = cold.at_timestamp(early_ts).await.unwrap();
        let row = then.get(&[Value::from("k150")]).await.unwrap().unwrap();
        assert_eq!(rows_of(&row)["k150"], Some(150));
        assert!(then.get(&[Value::from("k151")]).await.unwrap().is_none());
        let now = cold.get(&[Value::from("k150")]).await.unwrap().unwrap();
        assert_eq!(rows_of(&now)["k150"], Some(9_650));
    });
}
