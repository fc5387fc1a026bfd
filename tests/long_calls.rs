//! Stopping and watching the long calls (open with WAL replay, compaction, GC) through a
//! `Control`: a stopped call fails with `ABORTED`, leaves every acknowledged row readable, and
//! the same call run again afterwards finishes; progress arrives in order up to its total.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::{Arc, Mutex};

use anax::storage::{MemoryStorage, Storage};
use anax::{
    Control, DbBuilder, Durability, ErrorCode, ManualClock, Phase, Retention, ScanOptions,
    SealPolicy, Value, WalConfig,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::executor::block_on;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("v", DataType::Int64, true),
    ]))
}

/// Keys longer than 64 bytes and not ASCII, as users write them.
fn key(i: u64) -> String {
    format!("κλειδί-{i:08}-{}", "x".repeat(70))
}

fn rows(from: u64, n: u64) -> Vec<Vec<Value>> {
    (from..from + n)
        .map(|i| vec![Value::from(key(i)), Value::Int(i as i64)])
        .collect()
}

/// A sink that records what it hears and cancels `control` once `done` reaches `at`.
/// What a sink heard: (phase, done, total) per report.
type Heard = Arc<Mutex<Vec<(Phase, u64, u64)>>>;

fn recorder(control: &Control, at: Option<u64>) -> (Control, Heard) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s, c) = (seen.clone(), control.clone());
    let watched = control.clone().on_progress(move |p| {
        s.lock().unwrap().push((p.phase, p.done, p.total));
        if at.is_some_and(|at| p.done >= at) {
            c.cancel();
        }
    });
    (watched, seen)
}

async fn count(db: &anax::Db) -> usize {
    db.scan(&ScanOptions::default()).await.unwrap().num_rows()
}

#[test]
fn a_stopped_compaction_publishes_nothing_and_a_later_one_finishes() {
    block_on(async {
        let store = Arc::new(MemoryStorage::new());
        let db = DbBuilder::from_schema_key_name(schema(), "id")
            .with_storage(store.clone())
            .with_compaction_options(anax::CompactionOptions {
                automatic: false,
                // Outputs of 5,000 rows: the stop comes after one was stored.
                max_output_rows: Some(5_000),
                ..Default::default()
            })
            .open()
            .await
            .unwrap();
        // Three overlapping files of 12,000 rows each: more than one row group per input.
        for round in 0..3 {
            db.put_rows(&rows(round * 6_000, 12_000)).await.unwrap();
        }
        let before = db.stats().unwrap().ssts;
        assert_eq!(before, 3);
        let (control, seen) = recorder(&Control::new(), Some(8_192));
        let err = db.compact_with(&control).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Aborted, "{err}");
        let heard = seen.lock().unwrap().clone();
        assert_eq!(heard.first(), Some(&(Phase::Compact, 0, 36_000)));
        assert!(heard.iter().all(|h| h.0 == Phase::Compact && h.2 == 36_000));
        assert!(heard.windows(2).all(|w| w[0].1 <= w[1].1), "{heard:?}");
        // Nothing published: the same three files, every row there once.
        assert_eq!(db.stats().unwrap().ssts, before);
        assert_eq!(count(&db).await, 24_000);
        // The output the stopped job had stored was deleted, not left for GC to find.
        let listed = store.list("sst/").await.unwrap();
        assert_eq!(listed.len(), 3, "{listed:?}");

        let (control, seen) = recorder(&Control::new(), None);
        let report = db.compact_with(&control).await.unwrap();
        assert_eq!(report.rows_in, 36_000);
        assert_eq!(
            seen.lock().unwrap().last(),
            Some(&(Phase::Compact, 36_000, 36_000))
        );
        let ssts = db.stats().unwrap().ssts;
        assert!(ssts >= 5, "{ssts}");
        assert_eq!(store.list("sst/").await.unwrap().len(), ssts + 3);
        assert_eq!(count(&db).await, 24_000);
        let last = db.get(&[Value::from(key(23_999))]).await.unwrap().unwrap();
        assert_eq!(last.num_rows(), 1);
    });
}

#[test]
fn a_control_cancelled_before_the_call_stops_it_at_once() {
    block_on(async {
        let db = DbBuilder::from_schema_key_name(schema(), "id")
            .in_memory("pre")
            .open()
            .await
            .unwrap();
        db.put_rows(&rows(0, 10)).await.unwrap();
        let c = Control::new();
        c.cancel();
        assert_eq!(
            db.compact_with(&c).await.unwrap_err().code(),
            ErrorCode::Aborted
        );
        assert_eq!(db.gc_with(&c).await.unwrap_err().code(), ErrorCode::Aborted);
        assert_eq!(count(&db).await, 10);
    });
}

#[test]
fn gc_reports_its_steps_and_a_stopped_pass_is_finished_by_the_next() {
    block_on(async {
        let store = Arc::new(MemoryStorage::new());
        let clock = Arc::new(ManualClock::new(1_000));
        let db = DbBuilder::from_schema_key_name(schema(), "id")
            .with_storage(store.clone())
            .with_clock(clock.clone())
            .with_retention(Retention {
                min_versions: 1,
                max_age_ms: 0,
                grace_ms: 0,
                drop_grace_ms: 0,
            })
            .with_compaction_options(anax::CompactionOptions {
                automatic: false,
                ..Default::default()
            })
            .open()
            .await
            .unwrap();
        for i in 0..6 {
            db.put_rows(&rows(i * 100, 100)).await.unwrap();
        }
        db.compact().await.unwrap();
        clock.advance(10);
        // Stopped once past the history step: the dropped inputs are still stored.
        let (control, seen) = recorder(&Control::new(), Some(1));
        let err = db.gc_with(&control).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Aborted);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![(Phase::Gc, 0, 7), (Phase::Gc, 1, 7)]
        );
        assert_eq!(count(&db).await, 600);
        assert!(store.list("sst/").await.unwrap().len() > 1);

        let (control, seen) = recorder(&Control::new(), None);
        let report = db.gc_with(&control).await.unwrap();
        let steps: Vec<u64> = seen.lock().unwrap().iter().map(|s| s.1).collect();
        assert_eq!(steps, (0..=anax::db::GC_STEPS).collect::<Vec<_>>());
        assert!(
            report.ssts_deleted + report.orphans_deleted + report.notes_deleted > 0,
            "{report:?}"
        );
        assert_eq!(
            store.list("sst/").await.unwrap().len(),
            db.stats().unwrap().ssts
        );
        assert_eq!(count(&db).await, 600);
    });
}

fn wal_builder(store: &Arc<MemoryStorage>) -> DbBuilder {
    DbBuilder::from_schema_key_name(schema(), "id")
        .with_storage(store.clone())
        .with_durability(Durability::Wal(WalConfig {
            // A segment per few commits, so replay has several to report.
            segment_max_bytes: 4_096,
            ..WalConfig::default()
        }))
        .with_seal_policy(SealPolicy::Never)
}

#[test]
fn open_reports_replay_and_a_stopped_open_leaves_the_log_for_the_next() {
    block_on(async {
        let store = Arc::new(MemoryStorage::new());
        {
            let db = wal_builder(&store).open().await.unwrap();
            for i in 0..20 {
                db.put_rows(&rows(i * 10, 10)).await.unwrap();
            }
            // Dropped without close: the rows live only in the log.
        }
        let segments = store.list("wal/").await.unwrap().len() as u64;
        assert!(segments >= 3, "{segments} segments");

        let (control, seen) = recorder(&Control::new(), Some(2));
        let err = wal_builder(&store)
            .with_control(control)
            .open()
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Aborted);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                (Phase::Replay, 0, segments),
                (Phase::Replay, 1, segments),
                (Phase::Replay, 2, segments)
            ]
        );

        let (control, seen) = recorder(&Control::new(), None);
        let db = wal_builder(&store)
            .with_control(control)
            .open()
            .await
            .unwrap();
        assert_eq!(
            seen.lock().unwrap().last(),
            Some(&(Phase::Replay, segments, segments))
        );
        assert_eq!(count(&db).await, 200);
        db.close().await.unwrap();
    });
}
