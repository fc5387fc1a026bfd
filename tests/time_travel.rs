//! Time travel with retention and GC: every version reads as it was, before and after a
//! compaction; a live snapshot pins the files it reads through GC; expired versions are gone
//! (NOT_FOUND) and the retained ones still read the same.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use anax::storage::{MemoryStorage, Storage};
use anax::{Db, ErrorCode, ManualClock, Retention, ScanOptions};
use common::kv::{Op, State, apply, read_all, rows_of, run, seal_db};
use futures::executor::block_on;

#[test]
fn time_travel_reads_each_version_and_gc_collects_expired_history() {
    block_on(async {
        let store = MemoryStorage::new();
        let clock = Arc::new(ManualClock::new(10_000));
        // Automatic compaction off: this test compacts by hand, at a known point.
        let db = seal_db(&store)
            .with_compaction_options(anax::CompactionOptions {
                automatic: false,
                ..Default::default()
            })
            .with_clock(clock.clone())
            .with_retention(Retention {
                min_versions: 4,
                max_age_ms: 1_000,
                grace_ms: 500,
                drop_grace_ms: 500,
            })
            .open()
            .await
            .unwrap();
        let mut expected: Vec<(u64, State)> = Vec::new();
        let mut state = State::new();
        let steps: Vec<Op> = vec![
            Op::Put(vec![("a".into(), Some(1)), ("b".into(), Some(2))]),
            Op::Put(vec![("a".into(), Some(10))]),
            Op::Delete(vec!["b".into()]),
            Op::Put(vec![("c".into(), Some(3)), ("b".into(), None)]),
            Op::Delete(vec!["a".into()]),
        ];
        for op in &steps {
            run(&db, op).await.unwrap();
            apply(&mut state, op);
            clock.advance(10);
            expected.push((db.stats().unwrap().manifest_version, state.clone()));
        }
        let check = |db: Db, expected: Vec<(u64, State)>| async move {
            for (v, want) in &expected {
                let snap = db.at_version(*v).await.unwrap();
                let got = rows_of(&snap.scan(&ScanOptions::default()).await.unwrap());
                assert_eq!(&got, want, "version {v}");
            }
        };
        check(db.clone(), expected.clone()).await;
        // A snapshot taken before compaction keeps its files alive through GC.
        let pinned = db.snapshot().unwrap();
        let report = db.compact().await.unwrap();
        assert_eq!(report.inputs, 5);
        check(db.clone(), expected.clone()).await;
        clock.advance(5_000);
        let gc = db.gc().await.unwrap();
        assert_eq!(
            gc.ssts_deleted, 0,
            "every dropped file is pinned by the snapshot"
        );
        assert_eq!(
            rows_of(&pinned.scan(&ScanOptions::default()).await.unwrap()),
            state
        );
        drop(pinned);
        let gc = db.gc().await.unwrap();
        assert_eq!(gc.ssts_deleted, 5);
        let files = store.list("sst/").await.unwrap();
        assert_eq!(files.len(), 1, "only the compacted SST is left: {files:?}");
        let versions = db.versions().await.unwrap();
        let oldest = versions.first().unwrap().version;
        assert!(
            oldest > expected[2].0,
            "expired versions are gone: {versions:?}"
        );
        for (v, _) in expected.iter().filter(|(v, _)| *v < oldest) {
            let err = db.at_version(*v).await.unwrap_err();
            assert_eq!(err.code(), ErrorCode::NotFound);
        }
        let retained: Vec<_> = expected
            .iter()
            .filter(|(v, _)| *v >= oldest)
            .cloned()
            .collect();
        assert!(!retained.is_empty());
        check(db.clone(), retained.clone()).await;
        // Compacting again may now drop what only collected versions could see.
        let again = db.compact().await;
        assert!(again.is_ok());
        check(db.clone(), retained).await;
        assert_eq!(read_all(&db).await, state);
    });
}
