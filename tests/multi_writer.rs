//! Several writers on one store: interleaved commits from two handles all land, the same key
//! from both resolves in manifest order, a compaction whose inputs another writer took is a
//! CONFLICT; two writers on two threads; two writers and a compactor on one prefix in memory
//! (the same run as `s3_moto.rs` does on S3).
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use anax::ErrorCode;
use anax::storage::{MemoryStorage, Storage};
use common::kv::{one_row, read_all, seal_db};
use futures::executor::block_on;

#[test]
fn two_writers_interleaved_lose_nothing_and_conflicting_edits_fail() {
    block_on(async {
        let store = MemoryStorage::new();
        // Jobs inline: the end of the test has both handles compact the same files, which
        // needs the files where the puts left them.
        let inline = || seal_db(&store).with_background_compaction(false);
        let a = inline().open().await.unwrap();
        let b = inline().open().await.unwrap();
        for i in 0..100 {
            a.put_rows(&one_row(&format!("a{i:03}"), i)).await.unwrap();
            // b's cached head is now stale: its commit must rebase, with fresh timestamps.
            b.put_rows(&one_row(&format!("b{i:03}"), i)).await.unwrap();
        }
        let c = seal_db(&store).open().await.unwrap();
        let all = read_all(&c).await;
        assert_eq!(all.len(), 200);
        for i in 0..100 {
            assert_eq!(all[&format!("a{i:03}")], Some(i));
            assert_eq!(all[&format!("b{i:03}")], Some(i));
        }
        // The same key from both: the later commit wins, in manifest order.
        a.put_rows(&one_row("same", 1)).await.unwrap();
        b.put_rows(&one_row("same", 2)).await.unwrap();
        c.refresh().await.unwrap();
        assert_eq!(read_all(&c).await["same"], Some(2));
        // Both compact the same files: the second finds its inputs gone.
        a.refresh().await.unwrap();
        b.refresh().await.unwrap();
        a.compact().await.unwrap();
        let err = b.compact().await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
        assert_eq!(read_all(&c).await.len(), 201);
        c.refresh().await.unwrap();
        let after = read_all(&c).await;
        assert_eq!(after.len(), 201);
        assert_eq!(
            after["same"],
            Some(2),
            "re-stamped rows keep their order through compaction"
        );
    });
}

#[test]
fn two_writers_on_two_threads_lose_nothing() {
    let store = MemoryStorage::new();
    block_on(seal_db(&store).open()).unwrap();
    std::thread::scope(|s| {
        for w in ["x", "y"] {
            let store = store.clone();
            s.spawn(move || {
                block_on(async {
                    let db = seal_db(&store).open().await.unwrap();
                    for i in 0..100 {
                        db.put_rows(&one_row(&format!("{w}{i:03}"), i))
                            .await
                            .unwrap();
                    }
                })
            });
        }
    });
    block_on(async {
        let db = seal_db(&store).open().await.unwrap();
        let all = read_all(&db).await;
        assert_eq!(
            all.len(),
            200,
            "every acknowledged put is present exactly once"
        );
        assert!(
            all.iter()
                .all(|(k, v)| v == &Some(k[1..].parse::<i64>().unwrap()))
        );
        let versions = db.versions().await.unwrap();
        let puts = versions.iter().filter(|h| h.kind.as_str() == "put").count();
        assert_eq!(puts, 200, "one manifest version per put");
    });
}

#[test]
fn two_writers_and_a_compactor_share_one_prefix_in_memory() {
    let store = MemoryStorage::new();
    let open = move || -> Arc<dyn Storage> { Arc::new(store.clone()) };
    let out = common::shared_prefix::run(&open, common::ops(600));
    eprintln!("in memory: {out:?}");
    assert!(out.commits >= 1_000, "{out:?}");
    assert!(out.compactions > 0, "{out:?}");
}
