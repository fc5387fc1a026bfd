//! Two writers and a compactor on one storage prefix, each with its own handle on its own
//! thread: plain puts and deletes, transactions over shared keys (some conflict), and
//! compaction plus GC running all along. Checks that every acknowledged write is there (and
//! nothing deleted came back), that every transaction that committed had no conflicting
//! commit between its snapshot and its commit, and that every CONFLICT was a real one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anax::storage::Storage;
use anax::{
    CasBackoffConfig, CompactionOptions, DbBuilder, ErrorCode, Retention, ScanOptions, Value,
};
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_schema::{DataType, Field, Schema};
use futures::executor::block_on;

use super::{Rng, StopOnPanic};

/// One acknowledged commit.
#[derive(Debug, Clone)]
struct Ack {
    ts: u64,
    /// For a transaction: its snapshot.
    read_ts: Option<u64>,
    writes: Vec<(String, Option<i64>)>,
    /// A transaction that failed because its snapshot fell below the history floor (GC ran
    /// while it did): a CONFLICT nobody's write need explain.
    below_floor: bool,
}

/// What the run did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub commits: usize,
    pub txns: usize,
    pub conflicts: usize,
    pub compactions: u64,
}

fn builder(storage: Arc<dyn Storage>, automatic: bool) -> DbBuilder {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("v", DataType::Int64, true),
    ]));
    DbBuilder::from_schema_key_name(schema, "id")
        .with_storage(storage)
        .cas_backoff(CasBackoffConfig {
            base_ms: 1,
            max_ms: 20,
            max_attempts: 200,
        })
        // Versions older than the newest 8 are collectable at once; files linger 30 s, longer
        // than any write takes between its SST upload and its manifest commit (a shorter
        // grace would let GC take an in-flight SST for an orphan).
        .with_retention(Retention {
            min_versions: 8,
            max_age_ms: 0,
            grace_ms: 30_000,
            drop_grace_ms: 30_000,
        })
        .with_compaction_options(CompactionOptions {
            automatic,
            // The compactor thread drains L0; on a loaded machine a stall can outlast the
            // default limit, and this test is about what is committed, not how fast.
            l0_backpressure: Some(anax::L0BackpressureConfig {
                stop_timeout_ms: 600_000,
                ..anax::L0BackpressureConfig::default()
            }),
            ..CompactionOptions::default()
        })
}

fn writer(storage: Arc<dyn Storage>, w: u64, commits: usize) -> (Vec<Ack>, usize, usize) {
    block_on(async {
        let db = builder(storage, false).open().await.unwrap();
        let mut rng = Rng::new(w * 7919 + 1);
        let (mut acks, mut txns, mut conflicts) = (Vec::new(), 0, 0);
        let mut seq = 0i64;
        let mut value = || {
            seq += 1;
            w as i64 * 1_000_000 + seq
        };
        while acks.len() < commits {
            let shared = |rng: &mut Rng| format!("s{:02}", rng.below(16));
            match rng.below(100) {
                0..=44 => {
                    let mut writes = vec![(format!("w{w}-{:04}", rng.below(400)), Some(value()))];
                    if rng.chance(50) {
                        writes.push((shared(&mut rng), Some(value())));
                    }
                    writes.sort();
                    writes.dedup_by(|a, b| a.0 == b.0);
                    let rows: Vec<Vec<Value>> = writes
                        .iter()
                        .map(|(k, v)| vec![Value::from(k.as_str()), Value::from(*v)])
                        .collect();
                    let ts = db.put_rows(&rows).await.unwrap();
                    acks.push(Ack {
                        ts,
                        read_ts: None,
                        writes,
                        below_floor: false,
                    });
                }
                45..=59 => {
                    let k = if rng.chance(50) {
                        shared(&mut rng)
                    } else {
                        format!("w{w}-{:04}", rng.below(400))
                    };
                    let ts = db.delete(&[Value::from(k.as_str())]).await.unwrap();
                    acks.push(Ack {
                        ts,
                        read_ts: None,
                        writes: vec![(k, None)],
                        below_floor: false,
                    });
                }
                _ => {
                    txns += 1;
                    let tx = db.transaction().unwrap();
                    let read_ts = tx.read_ts();
                    let k = shared(&mut rng);
                    let _ = tx.get(&[Value::from(k.as_str())]).await.unwrap();
                    let write = if rng.chance(80) { Some(value()) } else { None };
                    match write {
                        Some(v) => tx
                            .put_rows(&[vec![Value::from(k.as_str()), Value::from(v)]])
                            .unwrap(),
                        None => tx.delete(&[Value::from(k.as_str())]).unwrap(),
                    }
                    match tx.commit().await {
                        Ok(ts) => acks.push(Ack {
                            ts,
                            read_ts: Some(read_ts),
                            writes: vec![(k, write)],
                            below_floor: false,
                        }),
                        Err(e) => {
                            assert_eq!(e.code(), ErrorCode::Conflict, "{e}");
                            conflicts += 1;
                            let below_floor = e.to_string().contains("history floor");
                            // A conflict must be real: someone committed this key after the
                            // snapshot. Checked against all acks at the end.
                            acks.push(Ack {
                                ts: 0,
                                read_ts: Some(read_ts),
                                writes: vec![(k, write)],
                                below_floor,
                            });
                        }
                    }
                }
            }
        }
        (acks, txns, conflicts)
    })
}

/// Runs `commits` commits on each of two writers while a compactor works on the same prefix.
/// `open` makes a fresh storage client for the prefix (one per handle, like separate Workers).
pub fn run(open: &(dyn Fn() -> Arc<dyn Storage> + Sync), commits: usize) -> Outcome {
    // Create the table once, so the three handles race on commits, not on creation.
    block_on(builder(open(), false).open()).unwrap();
    let done = AtomicBool::new(false);
    let (results, compactions) = std::thread::scope(|s| {
        let compactor = s.spawn(|| {
            block_on(async {
                let db = builder(open(), true).open().await.unwrap();
                let mut rounds = 0u64;
                // Errors are collected, not raised: a dead compactor would stall the writers
                // (L0 backpressure) instead of failing the test.
                let mut errors = Vec::new();
                while !done.load(Ordering::SeqCst) {
                    rounds += 1;
                    let r = if rounds.is_multiple_of(5) {
                        db.compact().await.map(|_| ())
                    } else {
                        db.compact_pending(4).await.map(|_| ())
                    };
                    match r {
                        // Only a lost race (inputs gone) is acceptable.
                        Err(e) if e.code() != ErrorCode::Conflict => errors.push(e.to_string()),
                        _ => {}
                    }
                    if rounds.is_multiple_of(3)
                        && let Err(e) = db.gc().await
                    {
                        errors.push(e.to_string());
                    }
                    anax::Clock::sleep(&anax::SystemClock, 2).await;
                }
                assert!(errors.is_empty(), "compactor errors: {errors:?}");
                db.stats().unwrap().compaction.jobs
            })
        });
        let done = &done;
        let writers: Vec<_> = (1..=2u64)
            .map(|w| {
                let storage = open();
                s.spawn(move || {
                    // A writer that panics must still stop the compactor, or the scope waits
                    // for it forever instead of reporting the panic.
                    let _stop = StopOnPanic(done);
                    writer(storage, w, commits)
                })
            })
            .collect();
        let results: Vec<_> = writers.into_iter().map(|h| h.join().unwrap()).collect();
        done.store(true, Ordering::SeqCst);
        (results, compactor.join().unwrap())
    });
    let mut outcome = Outcome {
        compactions,
        ..Outcome::default()
    };
    let mut acks: Vec<Ack> = Vec::new();
    for (a, txns, conflicts) in results {
        outcome.txns += txns;
        outcome.conflicts += conflicts;
        acks.extend(a);
    }
    let (failed, mut committed): (Vec<Ack>, Vec<Ack>) = acks.into_iter().partition(|a| a.ts == 0);
    outcome.commits = committed.len();
    committed.sort_by_key(|a| a.ts);
    for pair in committed.windows(2) {
        assert!(
            pair[0].ts < pair[1].ts,
            "two commits share timestamp {}",
            pair[0].ts
        );
    }
    // Per key, the commit timestamps that wrote it.
    let mut writes_of: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    for a in &committed {
        for (k, v) in &a.writes {
            writes_of.entry(k.as_str()).or_default().push(a.ts);
            match v {
                Some(v) => want.insert(k.clone(), *v),
                None => want.remove(k),
            };
        }
    }
    let clash = |k: &str, lo: u64, hi: u64| {
        writes_of
            .get(k)
            .is_some_and(|ts| ts.iter().any(|&t| t > lo && t < hi))
    };
    for a in &committed {
        if let Some(r) = a.read_ts {
            for (k, _) in &a.writes {
                assert!(
                    !clash(k, r, a.ts),
                    "transaction at {} (snapshot {r}) committed over a newer write of {k}",
                    a.ts
                );
            }
        }
    }
    for a in failed.iter().filter(|a| !a.below_floor) {
        let r = a.read_ts.unwrap_or(0);
        assert!(
            a.writes.iter().any(|(k, _)| clash(k, r, u64::MAX)),
            "a transaction (snapshot {r}) got CONFLICT though nobody wrote its keys after it"
        );
    }
    // Every acknowledged write is there, nothing deleted came back.
    let db = block_on(builder(open(), false).open()).unwrap();
    let batch = block_on(db.scan(&ScanOptions::default())).unwrap();
    let ids = batch.column(0).as_string::<i32>();
    let vs = batch.column(1).as_primitive::<Int64Type>();
    let got: BTreeMap<String, i64> = (0..batch.num_rows())
        .map(|i| {
            assert!(vs.is_valid(i));
            (ids.value(i).to_owned(), vs.value(i))
        })
        .collect();
    assert_eq!(
        got.len(),
        want.len(),
        "row count after {} commits",
        outcome.commits
    );
    assert_eq!(got, want);
    // And after one last full compaction.
    block_on(db.compact()).unwrap();
    let batch = block_on(db.scan(&ScanOptions::default())).unwrap();
    assert_eq!(batch.num_rows(), want.len());
    outcome
}
