//! `Db::reorganize` (what wasm runs by itself when writes pause): sealing a large mutable
//! memtable early and merging the sealed memtables into one sorted run changes no answer,
//! live or from a snapshot, survives a reopen from the WAL, and does not make minor
//! compaction flush sooner than the seal policy says.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use anax::{
    Db, DbBuilder, Durability, ScanOptions, SealPolicy, Snapshot, Value, WalConfig,
    storage::{MemoryStorage, Storage},
};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use common::Rng;
use futures::executor::block_on;

fn builder(store: &Arc<dyn Storage>, seal: SealPolicy) -> DbBuilder {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("v", DataType::Int64, true),
    ]));
    DbBuilder::from_schema_key_name(schema, "id")
        .with_storage(store.clone())
        .with_durability(Durability::Wal(WalConfig::default()))
        .with_seal_policy(seal)
}

type Model = BTreeMap<String, Option<i64>>;

fn rows_of(b: &RecordBatch) -> Vec<(String, Option<i64>)> {
    let ids = b.column(0).as_string::<i32>();
    let vs = b.column(1).as_primitive::<Int64Type>();
    (0..b.num_rows())
        .map(|i| (ids.value(i).to_owned(), vs.is_valid(i).then(|| vs.value(i))))
        .collect()
}

/// What one reader answers: a full scan, a reverse scan, a reverse range with a limit and
/// gets of sample keys (some absent, some deleted).
async fn answers(snap: &Snapshot) -> String {
    let key = |s: &str| vec![Value::from(s)];
    let scan = |o: ScanOptions| async move { rows_of(&snap.scan(&o).await.unwrap()) };
    let mut out = vec![
        format!("{:?}", scan(ScanOptions::default()).await),
        format!(
            "{:?}",
            scan(ScanOptions {
                reverse: true,
                ..ScanOptions::default()
            })
            .await
        ),
        format!(
            "{:?}",
            scan(ScanOptions {
                start: Bound::Included(key("k01000")),
                end: Bound::Excluded(key("k02000")),
                reverse: true,
                limit: Some(40),
                ..ScanOptions::default()
            })
            .await
        ),
    ];
    for k in ["k00000", "k00007", "k01234", "k19999", "zz"] {
        let got = snap.get(&key(k)).await.unwrap();
        out.push(format!("{k}: {:?}", got.as_ref().map(rows_of)));
    }
    out.join("\n")
}

/// Puts `rounds` batches of 1,000 random keys (many written again later) and deletes some;
/// returns a snapshot taken every 10 rounds.
async fn load(db: &Db, model: &mut Model, rng: &mut Rng, rounds: usize) -> Vec<Snapshot> {
    let mut snaps = Vec::new();
    for round in 0..rounds {
        let mut batch = BTreeMap::new();
        for _ in 0..1000 {
            let k = format!("k{:05}", rng.below(20_000));
            let v = (!rng.chance(5)).then(|| rng.below(1_000_000) as i64);
            batch.insert(k, v);
        }
        let rows: Vec<Vec<Value>> = batch
            .iter()
            .map(|(k, v)| vec![Value::from(k.as_str()), (*v).into()])
            .collect();
        db.put_rows(&rows).await.unwrap();
        model.extend(batch);
        if round % 5 == 4 {
            let gone: Vec<String> = (0..50)
                .map(|_| format!("k{:05}", rng.below(20_000)))
                .collect();
            for k in &gone {
                db.delete(&[Value::from(k.as_str())]).await.unwrap();
                model.remove(k);
            }
        }
        if round % 10 == 9 {
            snaps.push(db.snapshot().unwrap());
        }
    }
    snaps
}

async fn all_answers(db: &Db, snaps: &[Snapshot]) -> Vec<String> {
    let mut out = vec![answers(&db.snapshot().unwrap()).await];
    for s in snaps {
        out.push(answers(s).await);
    }
    out
}

fn model_rows(model: &Model) -> Vec<(String, Option<i64>)> {
    model.iter().map(|(k, v)| (k.clone(), *v)).collect()
}

/// Rows `k{from:06}`.. with `v` = their number.
fn numbered(from: usize, n: usize) -> Vec<Vec<Value>> {
    (from..from + n)
        .map(|i| vec![Value::from(format!("k{i:06}").as_str()), (i as i64).into()])
        .collect()
}

#[test]
fn reorganizing_changes_no_answer_and_survives_a_reopen() {
    block_on(async {
        let store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let open = || {
            builder(&store, SealPolicy::Rows(12_000))
                .disable_minor_compaction()
                .open()
        };
        let db = open().await.unwrap();
        let (mut model, mut rng) = (Model::new(), Rng::new(5));
        let snaps = load(&db, &mut model, &mut rng, 36).await;
        let st = db.stats().unwrap();
        assert!(st.immutable_memtables >= 2, "{st:?}");
        assert!(
            st.mutable_rows >= 8192,
            "the mutable memtable is sealed early: {st:?}"
        );
        let before = all_answers(&db, &snaps).await;

        db.reorganize().unwrap();
        let st = db.stats().unwrap();
        assert_eq!(
            (st.immutable_memtables, st.sorted_memtables, st.mutable_rows),
            (1, 1, 0),
            "one sealed run holds everything: {st:?}"
        );
        assert_eq!(all_answers(&db, &snaps).await, before);
        assert_eq!(
            rows_of(&db.scan(&ScanOptions::default()).await.unwrap()),
            model_rows(&model)
        );
        db.reorganize().unwrap();
        assert_eq!(
            all_answers(&db, &snaps).await,
            before,
            "a second run changes nothing"
        );

        // More writes after the early seal share its WAL segment; nothing is closed or
        // flushed: the reopen replays every commit from the log.
        let more = load(&db, &mut model, &mut rng, 6).await;
        drop((more, snaps));
        drop(db);
        let db = open().await.unwrap();
        assert_eq!(
            rows_of(&db.scan(&ScanOptions::default()).await.unwrap()),
            model_rows(&model),
            "replayed from the WAL"
        );
        // Reorganized again, flushed (the WAL floor moves past the early-sealed commits),
        // written to, reopened.
        db.reorganize().unwrap();
        db.flush().await.unwrap();
        let more = load(&db, &mut model, &mut rng, 3).await;
        drop(more);
        drop(db);
        let db = open().await.unwrap();
        assert_eq!(
            rows_of(&db.scan(&ScanOptions::default()).await.unwrap()),
            model_rows(&model),
            "from the SST and the WAL above its floor"
        );
        assert!(db.stats().unwrap().ssts >= 1);
    });
}

#[test]
fn early_seals_count_their_share_of_the_policy_toward_minor_compaction() {
    block_on(async {
        let store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let db = builder(&store, SealPolicy::Rows(10_000))
            .with_minor_compaction(2, 0)
            .open()
            .await
            .unwrap();
        let put = |from: usize, n: usize| {
            let db = db.clone();
            async move { db.put_rows(&numbered(from, n)).await.unwrap() }
        };
        // Two early seals of 9,000 rows each: 0.9 + 0.9 of the policy, below the threshold
        // of 2 even though two memtables were sealed.
        put(0, 9000).await;
        db.reorganize().unwrap();
        put(9000, 9000).await;
        db.reorganize().unwrap();
        put(18_000, 1).await;
        let st = db.stats().unwrap();
        assert_eq!((st.ssts, st.immutable_memtables), (0, 1), "{st:?}");
        // A seal by the policy takes the total past 2: flushed.
        for i in 0..10 {
            put(18_001 + i * 1000, 1000).await;
        }
        let st = db.stats().unwrap();
        assert_eq!((st.ssts, st.immutable_memtables), (1, 0), "{st:?}");
        assert_eq!(
            db.scan(&ScanOptions::default()).await.unwrap().num_rows(),
            28_001
        );
    });
}

#[test]
fn reorganizing_leaves_small_never_and_age_sealing_memtables_mutable() {
    block_on(async {
        for (seal, rows) in [
            (SealPolicy::Never, 9000),
            (SealPolicy::AgeMillis(60_000), 9000),
            (SealPolicy::Rows(100_000), 8000),
        ] {
            let store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
            let db = builder(&store, seal).open().await.unwrap();
            db.put_rows(&numbered(0, rows)).await.unwrap();
            db.reorganize().unwrap();
            let st = db.stats().unwrap();
            assert_eq!(
                (st.immutable_memtables, st.mutable_rows),
                (0, rows),
                "{seal:?}"
            );
        }
    });
}

#[test]
fn a_flush_after_early_seals_moves_the_wal_floor() {
    block_on(async {
        let store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        // Small segments: the log rotates by size while no policy seal happens.
        let open = || {
            builder(&store, SealPolicy::Rows(10_000))
                .with_durability(Durability::Wal(WalConfig {
                    segment_max_bytes: 16 << 10,
                    ..WalConfig::default()
                }))
                .with_minor_compaction(2, 0)
                .open()
        };
        let db = open().await.unwrap();
        // Three early seals of 9,000 rows (0.9 of the policy each), then one commit: the
        // flush it starts names the segment the last early seal began in as the floor.
        for round in 0..3 {
            for i in 0..9 {
                db.put_rows(&numbered(round * 9000 + i * 1000, 1000))
                    .await
                    .unwrap();
            }
            db.reorganize().unwrap();
        }
        db.put_rows(&numbered(27_000, 1)).await.unwrap();
        assert_eq!(db.stats().unwrap().ssts, 1, "flushed");
        let gc = db.gc().await.unwrap();
        assert!(
            gc.wal_segments_deleted >= 10,
            "segments below the floor are deleted: {gc:?}"
        );
        drop(db);
        let db = open().await.unwrap();
        assert_eq!(
            db.scan(&ScanOptions::default()).await.unwrap().num_rows(),
            27_001
        );
    });
}

#[test]
fn many_pauses_keep_a_few_runs_of_growing_size() {
    block_on(async {
        let store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let db = builder(&store, SealPolicy::Rows(1_000_000))
            .disable_minor_compaction()
            .open()
            .await
            .unwrap();
        let mut counts = Vec::new();
        for round in 0..10 {
            db.put_rows(&numbered(round * 9000, 9000)).await.unwrap();
            db.reorganize().unwrap();
            counts.push(db.stats().unwrap().immutable_memtables);
        }
        // 9k pieces: merged while the older run is at most twice the newer ones.
        assert_eq!(counts, vec![1, 1, 1, 2, 1, 2, 2, 1, 2, 2]);
        assert_eq!(
            db.scan(&ScanOptions::default()).await.unwrap().num_rows(),
            90_000
        );
    });
}

/// A scan read whole (`collect_batches`: what JS `scan` answers with) takes a table that sits
/// in one sorted memtable run as one batch, not as `BATCH_ROWS`-row pieces (fewer, larger
/// batches are cheaper to encode and to decode), with exactly the rows the bounded stream
/// gives: in both orders, with a limit, with a filter (whose batches stay bounded), over the
/// mutable memtable (resolved under its lock, so in bounded chunks), over a sorted run (a
/// slice of it, or with deleted and overwritten keys a selection of it), and over a run with
/// newer writes beside it (a merge).
#[test]
fn a_scan_read_whole_takes_a_sorted_run_in_one_batch_with_the_streams_rows() {
    use anax::read::merge::BATCH_ROWS;
    #[derive(Clone, Copy, PartialEq)]
    enum Shape {
        /// One batch.
        One,
        /// Batches of at most `BATCH_ROWS` rows.
        Bounded,
        /// A merge: bounded while inputs interleave, the last one's rest as one batch.
        Merged,
    }
    // Keys longer than 64 bytes, Unicode, in an order unlike the writes'.
    let key = |i: usize| format!("ключ-{:06}-{}", (i * 7919) % 20_000, "é".repeat(40));
    let check = |db: &Db, state: String, shape: Shape| {
        let db = db.clone();
        async move {
            let filtered = ScanOptions {
                filter: Some(anax::Filter::Gt("v".into(), Value::Int(5_000))),
                ..ScanOptions::default()
            };
            for opts in [
                ScanOptions::default(),
                ScanOptions {
                    reverse: true,
                    ..ScanOptions::default()
                },
                ScanOptions {
                    limit: Some(15_000),
                    ..ScanOptions::default()
                },
                filtered,
            ] {
                let mut stream = db.scan_stream(&opts).await.unwrap();
                let mut streamed = Vec::new();
                let mut pieces = 0;
                while let Some(b) = stream.next().await.unwrap() {
                    assert!(
                        b.num_rows() <= BATCH_ROWS,
                        "{state}: a streamed batch is bounded"
                    );
                    streamed.extend(rows_of(&b));
                    pieces += 1;
                }
                assert!(pieces >= 2, "{state}: the stream comes in bounded batches");
                let (_, whole) = db
                    .scan_stream(&opts)
                    .await
                    .unwrap()
                    .collect_batches()
                    .await
                    .unwrap();
                let collected: Vec<_> = whole.iter().flat_map(rows_of).collect();
                assert!(
                    collected == streamed,
                    "{state} {opts:?}: the same rows in the same order"
                );
                let bounded = whole.iter().all(|b| b.num_rows() <= BATCH_ROWS);
                match (shape, opts.filter.is_some()) {
                    (_, true) | (Shape::Bounded, _) => {
                        assert!(bounded, "{state} {opts:?}: bounded batches")
                    }
                    // With a limit a run is read as far as the limit needs; deleted keys
                    // among those rows leave some for another read.
                    (Shape::One, false) if opts.limit.is_some() => {
                        assert!(
                            whole.len() <= 3,
                            "{state} {opts:?}: {} batches",
                            whole.len()
                        )
                    }
                    (Shape::One, false) => {
                        assert_eq!(whole.len(), 1, "{state} {opts:?}: one batch")
                    }
                    (Shape::Merged, false) => {}
                }
            }
        }
    };
    let overwrite = |step: usize| -> Vec<Vec<Value>> {
        (0..20_000)
            .step_by(step)
            .map(|i| vec![Value::from(key(i).as_str()), Value::Int(-1)])
            .collect()
    };
    block_on(async {
        for churn in [false, true] {
            let store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
            // Never sealed by size: `reorganize` (which seals early) makes the one run.
            let db = builder(&store, SealPolicy::Rows(1_000_000))
                .open()
                .await
                .unwrap();
            for from in (0..20_000).step_by(1000) {
                let rows: Vec<Vec<Value>> = (from..from + 1000)
                    .map(|i| vec![Value::from(key(i).as_str()), (i as i64).into()])
                    .collect();
                db.put_rows(&rows).await.unwrap();
            }
            if churn {
                db.put_rows(&overwrite(97)).await.unwrap();
                let gone: Vec<Vec<Value>> = (1..20_000)
                    .step_by(89)
                    .map(|i| vec![Value::from(key(i).as_str())])
                    .collect();
                db.delete_many(&gone).await.unwrap();
            }
            let state = |s: &str| format!("{s} (churn {churn})");
            check(&db, state("the mutable memtable"), Shape::Bounded).await;
            db.reorganize().unwrap();
            assert_eq!(db.stats().unwrap().sorted_memtables, 1, "one sorted run");
            check(&db, state("a sorted run"), Shape::One).await;
            db.put_rows(&overwrite(101)).await.unwrap();
            check(&db, state("a run beside newer writes"), Shape::Merged).await;
        }
    });
}
