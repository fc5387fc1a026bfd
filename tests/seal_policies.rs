//! Each seal policy freezes the mutable memtable exactly when it says, sealed memtables stay
//! readable, and minor compaction flushes them at its threshold.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;

use anax::{DbBuilder, ManualClock, ScanOptions, SealPolicy, Value};
use arrow_schema::{DataType, Field, Schema};
use futures::executor::block_on;

fn builder() -> DbBuilder {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("s", DataType::Utf8, true),
    ]));
    DbBuilder::from_schema_key_name(schema, "id").in_memory("seal")
}

fn row(i: i64) -> Vec<Value> {
    vec![i.into(), format!("value {i}").into()]
}

/// Puts `n` single-row batches and returns the number of sealed memtables after each.
fn sealed_after_each(b: DbBuilder, n: i64) -> Vec<usize> {
    block_on(async {
        let db = b.disable_minor_compaction().open().await.unwrap();
        let mut out = Vec::new();
        for i in 0..n {
            db.put_rows(&[row(i)]).await.unwrap();
            out.push(db.stats().unwrap().immutable_memtables);
        }
        assert_eq!(
            db.scan(&ScanOptions::default()).await.unwrap().num_rows(),
            n as usize
        );
        out
    })
}

#[test]
fn batches_threshold_seals_every_n_batches() {
    let b = builder().with_seal_policy(SealPolicy::BatchesThreshold { batches: 1 });
    assert_eq!(sealed_after_each(b, 3), vec![1, 2, 3]);
    let b = builder().with_seal_policy(SealPolicy::BatchesThreshold { batches: 2 });
    assert_eq!(sealed_after_each(b, 5), vec![0, 1, 1, 2, 2]);
}

#[test]
fn rows_bytes_and_never() {
    let b = builder().with_seal_policy(SealPolicy::Rows(3));
    assert_eq!(sealed_after_each(b, 7), vec![0, 0, 1, 1, 1, 2, 2]);
    let b = builder().with_seal_policy(SealPolicy::Never);
    assert_eq!(sealed_after_each(b, 4), vec![0, 0, 0, 0]);
    let b = builder().with_seal_policy(SealPolicy::Bytes(1));
    assert_eq!(sealed_after_each(b, 2), vec![1, 2]);
}

#[test]
fn age_uses_the_injected_clock() {
    block_on(async {
        let clock = Arc::new(ManualClock::new(1_000));
        let db = builder()
            .with_seal_policy(SealPolicy::AgeMillis(500))
            .with_clock(clock.clone())
            .disable_minor_compaction()
            .open()
            .await
            .unwrap();
        db.put_rows(&[row(1)]).await.unwrap();
        clock.advance(499);
        db.put_rows(&[row(2)]).await.unwrap();
        assert_eq!(db.stats().unwrap().immutable_memtables, 0);
        clock.advance(1);
        db.put_rows(&[row(3)]).await.unwrap();
        assert_eq!(db.stats().unwrap().immutable_memtables, 1);
        // The age restarts with the next memtable.
        db.put_rows(&[row(4)]).await.unwrap();
        assert_eq!(db.stats().unwrap().immutable_memtables, 1);
    });
}

#[test]
fn minor_compaction_flushes_at_its_threshold_and_data_stays_readable() {
    block_on(async {
        let db = builder()
            .with_seal_policy(SealPolicy::BatchesThreshold { batches: 1 })
            .with_minor_compaction(3, 0)
            .open()
            .await
            .unwrap();
        for i in 0..7 {
            db.put_rows(&[row(i)]).await.unwrap();
        }
        let s = db.stats().unwrap();
        assert_eq!((s.ssts, s.immutable_memtables, s.sst_rows), (2, 1, 6));
        db.flush().await.unwrap();
        let s = db.stats().unwrap();
        assert_eq!((s.ssts, s.immutable_memtables, s.mutable_rows), (3, 0, 0));
        assert!(
            db.sst_paths()
                .unwrap()
                .iter()
                .all(|p| p.starts_with("sst/L0/"))
        );
        for i in 0..7 {
            assert!(db.get(&[i.into()]).await.unwrap().is_some(), "row {i}");
        }
    });
}

#[test]
fn zero_thresholds_are_rejected() {
    block_on(async {
        let err = builder()
            .with_seal_policy(SealPolicy::Rows(0))
            .open()
            .await
            .unwrap_err();
        assert_eq!(err.code(), anax::ErrorCode::InvalidArgument);
    });
}
