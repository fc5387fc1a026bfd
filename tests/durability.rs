//! Durability: crash injection at every storage request, two writers on one store, request
//! counts on an object store, time travel with retention and GC, catalog checks, the WAL on a
//! real disk, and open cost with a long history.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use anax::storage::{FaultMode, FaultStorage, MemoryStorage, Storage};
use anax::{
    Db, DbBuilder, Durability, ErrorCode, ManualClock, Retention, ScanOptions, Value, WalConfig,
};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use common::Rng;
use futures::executor::block_on;

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("v", DataType::Int64, true),
    ]))
}

type State = BTreeMap<String, Option<i64>>;

fn rows_of(b: &RecordBatch) -> State {
    let ids = b.column(0).as_string::<i32>();
    let vs = b.column(1).as_primitive::<Int64Type>();
    (0..b.num_rows())
        .map(|i| (ids.value(i).to_owned(), vs.is_valid(i).then(|| vs.value(i))))
        .collect()
}

async fn read_all(db: &Db) -> State {
    rows_of(&db.scan(&ScanOptions::default()).await.unwrap())
}

#[derive(Debug, Clone)]
enum Op {
    Put(Vec<(String, Option<i64>)>),
    Delete(Vec<String>),
    Flush,
    Compact,
}

fn workload(seed: u64, n: usize) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| match rng.below(100) {
            0..=59 => Op::Put(
                (0..1 + rng.below(4))
                    .map(|_| {
                        let v = (!rng.chance(15)).then(|| rng.below(1000) as i64);
                        (format!("k{:02}", rng.below(30)), v)
                    })
                    .collect(),
            ),
            60..=79 => Op::Delete(
                (0..1 + rng.below(2))
                    .map(|_| format!("k{:02}", rng.below(30)))
                    .collect(),
            ),
            80..=94 => Op::Flush,
            _ => Op::Compact,
        })
        .collect()
}

fn apply(state: &mut State, op: &Op) {
    match op {
        Op::Put(rows) => {
            for (k, v) in rows {
                state.insert(k.clone(), *v);
            }
        }
        Op::Delete(keys) => {
            for k in keys {
                state.remove(k);
            }
        }
        Op::Flush | Op::Compact => {}
    }
}

async fn run(db: &Db, op: &Op) -> anax::Result<()> {
    match op {
        Op::Put(rows) => {
            let rows: Vec<Vec<Value>> = rows
                .iter()
                .map(|(k, v)| vec![Value::from(k.as_str()), v.map_or(Value::Null, Value::Int)])
                .collect();
            db.put_rows(&rows).await.map(drop)
        }
        Op::Delete(keys) => {
            let keys: Vec<Vec<Value>> =
                keys.iter().map(|k| vec![Value::from(k.as_str())]).collect();
            db.delete_many(&keys).await.map(drop)
        }
        Op::Flush => db.flush().await,
        Op::Compact => db.compact().await.map(drop),
    }
}

fn builder(store: Arc<dyn Storage>, durability: &Durability) -> DbBuilder {
    DbBuilder::from_schema_key_name(schema(), "id")
        .with_storage(store)
        .with_durability(durability.clone())
        // Small memtables so flushes (and WAL rotation) happen inside short workloads.
        .with_seal_policy(anax::SealPolicy::BatchesThreshold { batches: 3 })
        .with_minor_compaction(2, 0)
        .with_clock(Arc::new(ManualClock::new(1_000)))
}

/// Runs the workload against a store that crashes at request `crash_at`, then reopens what
/// survived and checks it against the oracle. Returns the requests the run made.
fn crash_once(
    durability: &Durability,
    mode: FaultMode,
    seed: u64,
    ops: &[Op],
    crash_at: u64,
) -> u64 {
    block_on(async {
        let fault = Arc::new(FaultStorage::new(
            MemoryStorage::new(),
            crash_at,
            mode,
            seed ^ crash_at,
        ));
        let transient = matches!(mode, FaultMode::Transient | FaultMode::LostReply);
        // The acknowledged history, and the same with the failed op applied in its place.
        let mut acked = State::new();
        let mut with_doubt = State::new();
        let mut in_doubt: Option<&Op> = None;
        if let Ok(db) = builder(fault.clone(), durability).open().await {
            for op in ops {
                match run(&db, op).await {
                    Ok(()) => {
                        apply(&mut acked, op);
                        apply(&mut with_doubt, op);
                    }
                    Err(e) => {
                        assert!(fault.crashed(), "op failed without a fault: {e}");
                        assert!(
                            in_doubt.is_none(),
                            "a second op failed after one fault: {e}"
                        );
                        in_doubt = Some(op);
                        apply(&mut with_doubt, op);
                        if !transient {
                            break;
                        }
                    }
                }
            }
        }
        let requests = fault.ops();
        let survived: Arc<dyn Storage> = Arc::new(fault.after_crash().unwrap());
        let ctx = format!("{durability:?} {mode:?} seed {seed} crash at request {crash_at}");
        let db = builder(survived.clone(), durability)
            .open()
            .await
            .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
        let got = read_all(&db).await;
        assert!(
            got == acked || got == with_doubt,
            "{ctx}: recovered state is neither the acknowledged one nor it plus the failed \
             op\n got {got:?}\n acked {acked:?}\n in doubt {in_doubt:?}"
        );
        for k in ["k00", "k07", "k29"] {
            let row = db.get(&[Value::from(k)]).await.unwrap();
            assert_eq!(
                row.map(|b| rows_of(&b)[k]),
                got.get(k).copied(),
                "{ctx}: get {k}"
            );
        }
        // The clock resumes above everything recovered: a new write wins.
        let ts = db
            .put_rows(&[vec![Value::from("k00"), Value::Int(-1)]])
            .await
            .unwrap();
        assert!(ts > 0);
        db.close().await.unwrap();
        let again = builder(survived, durability).open().await.unwrap();
        let mut expect = got.clone();
        expect.insert("k00".into(), Some(-1));
        assert_eq!(read_all(&again).await, expect, "{ctx}: second reopen");
        requests
    })
}

#[test]
fn every_crash_point_recovers_acknowledged_writes_and_nothing_partial() {
    let wal = Durability::Wal(WalConfig::default());
    // Strict recovery must accept the segments a writer abandoned after a failed write.
    let strict = Durability::Wal(WalConfig {
        recovery: anax::WalRecoveryMode::Strict,
        segment_max_bytes: 2_000,
        ..WalConfig::default()
    });
    let mut points = 0u64;
    // ANAX_CRASH_ROUNDS=n replays n workloads per configuration (other seeds); the figure
    // `crash_points` in docs/bench/reliability.json comes from a run with more rounds.
    let rounds: u64 = std::env::var("ANAX_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let configs = [
        (
            wal.clone(),
            &[
                FaultMode::Fail,
                FaultMode::Tear,
                FaultMode::PowerLoss,
                FaultMode::Transient,
            ][..],
            11u64,
        ),
        (
            wal,
            &[FaultMode::Tear, FaultMode::PowerLoss, FaultMode::Transient],
            12,
        ),
        (
            Durability::SealEveryBatch,
            &[FaultMode::Fail, FaultMode::Transient, FaultMode::LostReply],
            13,
        ),
        (strict, &[FaultMode::Transient, FaultMode::LostReply], 14),
    ];
    for (round, (durability, modes, base_seed)) in
        (0..rounds).flat_map(|r| configs.iter().map(move |c| (r, c)))
    {
        let seed = base_seed + round * 1_000;
        let ops = workload(seed, 50);
        let total = crash_once(durability, FaultMode::Fail, seed, &ops, u64::MAX);
        for &mode in modes.iter() {
            for n in 1..=total {
                crash_once(durability, mode, seed, &ops, n);
                points += 1;
            }
        }
    }
    println!("crash points checked: {points}");
    assert!(points >= 1_000, "only {points} crash points");
}

fn seal_db(store: &MemoryStorage) -> DbBuilder {
    DbBuilder::from_schema_key_name(schema(), "id")
        .with_storage(Arc::new(store.clone()))
        .cas_backoff(anax::CasBackoffConfig {
            base_ms: 1,
            max_ms: 4,
            max_attempts: 64,
        })
}

fn one_row(k: &str, v: i64) -> Vec<Vec<Value>> {
    vec![vec![Value::from(k), Value::Int(v)]]
}

#[test]
fn two_writers_interleaved_lose_nothing_and_conflicting_edits_fail() {
    block_on(async {
        let store = MemoryStorage::new();
        let a = seal_db(&store).open().await.unwrap();
        let b = seal_db(&store).open().await.unwrap();
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
        let a = seal_db(&store).open().await.unwrap();
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
        let b = seal_db(&store).open().await.unwrap();
        b.put_rows(&one_row("zz", 1)).await.unwrap();
        let before = a.request_counts();
        a.put_rows(&one_row("f6-999", 1)).await.unwrap();
        let put_conflict = a.request_counts().since(&before);

        let c = seal_db(&store).open().await.unwrap();
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

#[test]
fn reopening_with_another_schema_key_or_table_is_a_typed_error() {
    block_on(async {
        let store = MemoryStorage::new();
        let db = seal_db(&store).open().await.unwrap();
        db.put_rows(&one_row("a", 1)).await.unwrap();
        let other = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("v", DataType::Int32, true),
        ]));
        let open = |b: DbBuilder| async move { b.open().await.map(drop).unwrap_err() };
        let e = open(
            DbBuilder::from_schema_key_name(other, "id").with_storage(Arc::new(store.clone())),
        )
        .await;
        assert_eq!(e.code(), ErrorCode::SchemaMismatch, "{e}");
        assert!(e.to_string().contains("v: Int64"), "{e}");
        let keyed_by_v = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("v", DataType::Int64, false),
        ]));
        let e = open(
            DbBuilder::from_schema_key_name(keyed_by_v, "v").with_storage(Arc::new(store.clone())),
        )
        .await;
        assert!(e.to_string().contains("keyed by (id)"), "{e}");
        assert_eq!(e.code(), ErrorCode::SchemaMismatch, "{e}");
        let e = open(seal_db(&store).table_name("other")).await;
        assert_eq!(e.code(), ErrorCode::SchemaMismatch, "{e}");
        // The same declaration opens and sees the data.
        let again = seal_db(&store).open().await.unwrap();
        assert_eq!(read_all(&again).await.len(), 1);
    });
}

#[test]
fn wal_on_disk_survives_a_dropped_handle_and_gc_trims_segments() {
    let dir = std::env::temp_dir().join(format!("anax-wal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    block_on(async {
        let open = || {
            DbBuilder::from_schema_key_name(schema(), "id")
                .on_disk(&dir)
                .with_seal_policy(anax::SealPolicy::BatchesThreshold { batches: 4 })
                .disable_minor_compaction()
                .open()
        };
        let db = open().await.unwrap();
        assert!(matches!(db.durability(), Durability::Wal(_)));
        for i in 0..10 {
            db.put_rows(&one_row(&format!("k{i}"), i)).await.unwrap();
        }
        db.delete(&[Value::from("k3")]).await.unwrap();
        drop(db); // no close: the rows live only in the WAL
        let db = open().await.unwrap();
        let all = read_all(&db).await;
        assert_eq!(all.len(), 9);
        assert!(!all.contains_key("k3"));
        let ts = db.put_rows(&one_row("k3", 33)).await.unwrap();
        assert!(
            ts > 11,
            "the clock resumed above the replayed commits: {ts}"
        );
        db.close().await.unwrap();
        assert_eq!(
            db.get(&[Value::from("k1")]).await.unwrap_err().code(),
            ErrorCode::Closed
        );
        let db = open().await.unwrap();
        let before = db.request_counts();
        assert_eq!(read_all(&db).await.len(), 10);
        let gc = db.gc().await.unwrap();
        assert!(gc.wal_segments_deleted >= 1, "{gc:?} {before:?}");
        // One writer per directory: the next handle opens once this one is closed.
        db.close().await.unwrap();
        let db2 = open().await.unwrap();
        assert_eq!(read_all(&db2).await["k3"], Some(33));
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn opening_after_ten_thousand_versions_reads_one_object() {
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
        assert_eq!(c.total(), 1, "one GET of the manifest head: {c:?}");
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

#[test]
fn two_writers_and_a_compactor_share_one_prefix_in_memory() {
    let store = MemoryStorage::new();
    let open = move || -> Arc<dyn Storage> { Arc::new(store.clone()) };
    let out = common::shared_prefix::run(&open, common::ops(600));
    eprintln!("in memory: {out:?}");
    assert!(out.commits >= 1_000, "{out:?}");
    assert!(out.compactions > 0, "{out:?}");
}
