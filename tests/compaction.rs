//! Compaction behaviours that the randomized oracle does not pin on their own: background
//! jobs, L0 backpressure, and tombstone dropping at the bottom.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;

use anax::{
    CompactionOptions, CompactionStrategy, DbBuilder, L0BackpressureConfig, LeveledOptions,
    ManualClock, ScanOptions, Value,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::executor::block_on;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("v", DataType::Int64, true),
    ]))
}

fn leveled(l0_trigger: usize) -> CompactionOptions {
    CompactionOptions {
        strategy: CompactionStrategy::Leveled(LeveledOptions {
            l0_trigger,
            ..LeveledOptions::default()
        }),
        ..CompactionOptions::default()
    }
}

fn row(i: i64) -> Vec<Vec<Value>> {
    vec![vec![Value::from(format!("k{i:03}")), Value::Int(i)]]
}

#[test]
fn background_jobs_run_off_the_ingesting_call_and_lose_nothing() {
    block_on(async {
        let db = DbBuilder::from_schema_key_name(schema(), "id")
            .in_memory("bg")
            .with_compaction_options(CompactionOptions {
                background: true,
                ..leveled(2)
            })
            .open()
            .await
            .unwrap();
        for i in 0..12 {
            db.put_rows(&row(i)).await.unwrap();
            db.flush().await.unwrap();
        }
        // Up to 30 s in 5 ms steps.
        for step in 0.. {
            let c = db.stats().unwrap().compaction;
            if c.jobs > 0 && c.running == 0 {
                break;
            }
            assert!(step < 6_000, "no background job finished: {c:?}");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let all = db.scan(&ScanOptions::default()).await.unwrap();
        assert_eq!(all.num_rows(), 12);
        assert!(db.stats().unwrap().ssts < 12, "{:?}", db.stats().unwrap());
    });
}

#[test]
fn l0_backpressure_slows_then_stalls_until_a_job_clears_l0() {
    block_on(async {
        let clock = Arc::new(ManualClock::new(1_000));
        // Seal-every-batch: each put is one L0 file. Jobs only when stalled (trigger 100).
        let db = DbBuilder::from_schema_key_name(schema(), "id")
            .with_storage(Arc::new(anax::storage::MemoryStorage::new()))
            .with_clock(clock.clone())
            .with_compaction_options(CompactionOptions {
                l0_backpressure: Some(L0BackpressureConfig {
                    slowdown_files: 3,
                    slowdown_delay_ms: 25,
                    stop_files: 5,
                    stop_recheck_ms: 200,
                    slowdown_bytes: None,
                    stop_bytes: None,
                    ..L0BackpressureConfig::default()
                }),
                ..leveled(100)
            })
            .open()
            .await
            .unwrap();
        for i in 0..5 {
            db.put_rows(&row(i)).await.unwrap();
        }
        let s = db.stats().unwrap();
        assert_eq!(s.levels, vec![(0, 5, s.sst_bytes)]);
        assert_eq!(s.compaction.slowdowns, 2, "puts 4 and 5 were slowed: {s:?}");
        let before = anax::Clock::now_millis(&*clock);
        // L0 is at the stop mark: this put first clears L0 (the strategy has no job, so all of
        // L0 goes to L1), then lands.
        db.put_rows(&row(5)).await.unwrap();
        let s = db.stats().unwrap();
        assert!(s.compaction.stalls >= 1, "{s:?}");
        assert_eq!(s.compaction.jobs, 1, "{s:?}");
        assert!(
            anax::Clock::now_millis(&*clock) >= before + 200,
            "the stall waited a re-check period"
        );
        assert_eq!(s.levels.iter().find(|l| l.0 == 0).map(|l| l.1), Some(1));
        assert_eq!(
            db.scan(&ScanOptions::default()).await.unwrap().num_rows(),
            6
        );
    });
}

#[test]
fn a_bottom_compaction_drops_tombstones_and_what_they_hide() {
    block_on(async {
        let db = DbBuilder::from_schema_key_name(schema(), "id")
            .with_storage(Arc::new(anax::storage::MemoryStorage::new()))
            .with_retention(anax::Retention {
                min_versions: 1,
                max_age_ms: 0,
                grace_ms: 0,
                drop_grace_ms: 0,
            })
            .with_compaction_options(CompactionOptions {
                automatic: false,
                ..CompactionOptions::default()
            })
            .open()
            .await
            .unwrap();
        for i in 0..4 {
            db.put_rows(&row(i)).await.unwrap();
        }
        db.delete(&[Value::from("k001")]).await.unwrap();
        let sst_rows = |db: &anax::Db| db.stats().unwrap().sst_rows;
        assert_eq!(sst_rows(&db), 5);
        // While history is retained, every version stays readable by time travel.
        db.compact().await.unwrap();
        assert_eq!(sst_rows(&db), 5);
        // Once GC collects old versions, nothing older is outside the inputs: the tombstone
        // and the row it hides both go.
        db.gc().await.unwrap();
        db.compact().await.unwrap();
        assert_eq!(sst_rows(&db), 3);
        assert_eq!(
            db.scan(&ScanOptions::default()).await.unwrap().num_rows(),
            3
        );
    });
}
