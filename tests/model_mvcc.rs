//! Model-based randomized test: the engine against an ordered-map MVCC oracle.
//!
//! Ops: put (composite keys, nullable values, repeated keys within a batch), delete, get, scan
//! (random full/partial bounds, prefix, filter, projection, limit, order), snapshots read much
//! later, seal and flush. Every read is compared with the oracle at the read's timestamp.
//! A failure prints the seed and op number; replay with `ANAX_SEEDS=<seed> cargo test --test
//! model_mvcc`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]
// Three-valued logic: `None` is "unknown", not a short-circuit, so `try_fold` would be wrong.
#![allow(clippy::manual_try_fold, clippy::type_complexity)]

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use anax::{DbBuilder, Filter, ScanOptions, SealPolicy, Snapshot, Transaction, Value};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use common::Rng;
use futures::executor::block_on;

type Key = (String, i32);
type Vals = (Option<i64>, Option<String>);
/// Per key, its versions: (ts, None for a delete).
type Oracle = BTreeMap<Key, Vec<(u64, Option<Vals>)>>;

const K1: &[&str] = &["", "a", "a\0", "ab", "b", "b\u{1}", "zz"];
const S: &[&str] = &["apple", "apricot", "banana", "", "a"];
const COLS: [&str; 4] = ["k1", "k2", "v", "s"];

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("k1", DataType::Utf8, false),
        Field::new("k2", DataType::Int32, false),
        Field::new("v", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
    ]))
}

#[derive(Debug, Clone, PartialEq)]
enum Cell {
    S(Option<String>),
    I(Option<i64>),
}

fn row_cells(k: &Key, v: &Vals) -> Vec<Cell> {
    vec![
        Cell::S(Some(k.0.clone())),
        Cell::I(Some(k.1 as i64)),
        Cell::I(v.0),
        Cell::S(v.1.clone()),
    ]
}

fn batch_rows(b: &RecordBatch) -> Vec<Vec<Cell>> {
    (0..b.num_rows())
        .map(|i| {
            b.columns()
                .iter()
                .map(|c| match c.data_type() {
                    DataType::Utf8 => {
                        let a = c.as_string::<i32>();
                        Cell::S(a.is_valid(i).then(|| a.value(i).to_owned()))
                    }
                    DataType::Int32 => {
                        let a = c.as_primitive::<Int32Type>();
                        Cell::I(a.is_valid(i).then(|| a.value(i) as i64))
                    }
                    DataType::Int64 => {
                        let a = c.as_primitive::<Int64Type>();
                        Cell::I(a.is_valid(i).then(|| a.value(i)))
                    }
                    other => panic!("unexpected column type {other}"),
                })
                .collect()
        })
        .collect()
}

fn visible(o: &Oracle, ts: u64) -> Vec<(Key, Vals)> {
    o.iter()
        .filter_map(|(k, versions)| {
            let v = versions.iter().rev().find(|(t, _)| *t <= ts)?;
            v.1.clone().map(|vals| (k.clone(), vals))
        })
        .collect()
}

fn random_key(rng: &mut Rng) -> Key {
    (rng.pick(K1).to_string(), rng.below(7) as i32 - 3)
}

fn key_values(k: &Key) -> Vec<Value> {
    vec![k.0.clone().into(), k.1.into()]
}

/// A random bound: full key, partial key (k1 only), or none. Returns the engine bound and the
/// oracle's test for it.
fn random_bound(rng: &mut Rng) -> (Bound<Vec<Value>>, Option<(Key, bool, bool)>) {
    match rng.below(5) {
        0 => (Bound::Unbounded, None),
        n => {
            let k = random_key(rng);
            let inclusive = rng.chance(50);
            let full = n > 1;
            let vals = if full {
                key_values(&k)
            } else {
                vec![k.0.clone().into()]
            };
            let b = if inclusive {
                Bound::Included(vals)
            } else {
                Bound::Excluded(vals)
            };
            (b, Some((k, inclusive, full)))
        }
    }
}

/// Compares a key with a (possibly partial) bound key: partial bounds compare on k1 only.
fn cmp_bound(k: &Key, b: &(Key, bool, bool)) -> std::cmp::Ordering {
    if b.2 {
        k.cmp(&b.0)
    } else {
        k.0.as_str().cmp(b.0.0.as_str())
    }
}

fn in_lower(k: &Key, b: &Option<(Key, bool, bool)>) -> bool {
    match b {
        None => true,
        Some(b) => {
            let o = cmp_bound(k, b);
            o.is_gt() || (o.is_eq() && b.1)
        }
    }
}

fn in_upper(k: &Key, b: &Option<(Key, bool, bool)>) -> bool {
    match b {
        None => true,
        Some(b) => {
            let o = cmp_bound(k, b);
            o.is_lt() || (o.is_eq() && b.1)
        }
    }
}

fn random_filter(rng: &mut Rng, depth: u32) -> Filter {
    let leaf = depth > 1 || rng.chance(60);
    if leaf {
        match rng.below(8) {
            0 => Filter::Gt("v".into(), (rng.below(20) as i64 - 10).into()),
            1 => Filter::LtEq("v".into(), (rng.below(20) as i64 - 10).into()),
            2 => Filter::Eq("k2".into(), (rng.below(7) as i64 - 3).into()),
            3 => Filter::IsNull("v".into()),
            4 => Filter::IsNotNull("s".into()),
            5 => Filter::StartsWith("s".into(), (*rng.pick(&["a", "ap", "b", ""])).into()),
            6 => Filter::InList("v".into(), vec![(rng.below(5) as i64).into(), Value::Null]),
            _ => Filter::Between(
                "v".into(),
                (rng.below(10) as i64 - 5).into(),
                (rng.below(10) as i64).into(),
            ),
        }
    } else {
        match rng.below(3) {
            0 => Filter::And(vec![
                random_filter(rng, depth + 1),
                random_filter(rng, depth + 1),
            ]),
            1 => Filter::Or(vec![
                random_filter(rng, depth + 1),
                random_filter(rng, depth + 1),
            ]),
            _ => Filter::Not(Box::new(random_filter(rng, depth + 1))),
        }
    }
}

/// SQL three-valued evaluation on the oracle's row.
fn eval(f: &Filter, k: &Key, v: &Vals) -> Option<bool> {
    let num = |c: &str| -> Option<i64> {
        match c {
            "v" => v.0,
            "k2" => Some(k.1 as i64),
            other => panic!("no numeric column {other}"),
        }
    };
    let lit = |x: &Value| -> Option<i64> {
        match x {
            Value::Int(i) => Some(*i),
            Value::Null => None,
            other => panic!("unexpected literal {other:?}"),
        }
    };
    let cmp = |c: &str, x: &Value, op: fn(i64, i64) -> bool| Some(op(num(c)?, lit(x)?));
    match f {
        Filter::Eq(c, x) => cmp(c, x, |a, b| a == b),
        Filter::NotEq(c, x) => cmp(c, x, |a, b| a != b),
        Filter::Lt(c, x) => cmp(c, x, |a, b| a < b),
        Filter::LtEq(c, x) => cmp(c, x, |a, b| a <= b),
        Filter::Gt(c, x) => cmp(c, x, |a, b| a > b),
        Filter::GtEq(c, x) => cmp(c, x, |a, b| a >= b),
        Filter::Between(c, lo, hi) => and3(cmp(c, lo, |a, b| a >= b), cmp(c, hi, |a, b| a <= b)),
        Filter::InList(c, xs) => xs
            .iter()
            .fold(Some(false), |acc, x| or3(acc, cmp(c, x, |a, b| a == b))),
        Filter::StartsWith(_, Value::Str(p)) => v.1.as_ref().map(|s| s.starts_with(p.as_str())),
        Filter::IsNull(c) => Some(if c == "v" {
            v.0.is_none()
        } else {
            v.1.is_none()
        }),
        Filter::IsNotNull(c) => Some(if c == "v" {
            v.0.is_some()
        } else {
            v.1.is_some()
        }),
        Filter::And(fs) => fs
            .iter()
            .fold(Some(true), |acc, f| and3(acc, eval(f, k, v))),
        Filter::Or(fs) => fs
            .iter()
            .fold(Some(false), |acc, f| or3(acc, eval(f, k, v))),
        Filter::Not(f) => eval(f, k, v).map(|b| !b),
        other => panic!("filter not modelled: {other:?}"),
    }
}

fn and3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn or3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

struct Run {
    rng: Rng,
    oracle: Oracle,
    seed: u64,
    op: usize,
}

/// What a read goes through: a snapshot, or a transaction (its snapshot plus its writes).
trait Reader {
    fn get_row(&self, k: &[Value]) -> Option<RecordBatch>;
    fn scan_rows(&self, opts: &ScanOptions) -> RecordBatch;
}

impl Reader for Snapshot {
    fn get_row(&self, k: &[Value]) -> Option<RecordBatch> {
        block_on(self.get(k)).unwrap()
    }
    fn scan_rows(&self, opts: &ScanOptions) -> RecordBatch {
        block_on(self.scan(opts)).unwrap()
    }
}

impl Reader for Transaction {
    fn get_row(&self, k: &[Value]) -> Option<RecordBatch> {
        block_on(self.get(k)).unwrap()
    }
    fn scan_rows(&self, opts: &ScanOptions) -> RecordBatch {
        block_on(self.scan(opts)).unwrap()
    }
}

/// The rows a read at `ts` must see.
fn view(o: &Oracle, ts: u64) -> BTreeMap<Key, Vals> {
    visible(o, ts).into_iter().collect()
}

impl Run {
    /// Puts random rows and records them in the oracle.
    fn put(&mut self, db: &anax::Db) {
        let rows = random_rows(&mut self.rng);
        let ts = block_on(db.put_rows(&row_values(&rows))).unwrap();
        record(
            &mut self.oracle,
            ts,
            rows.into_iter().map(|(k, v)| (k, Some(v))),
        );
    }

    /// Deletes 1..=3 random keys and records the tombstones.
    fn delete(&mut self, db: &anax::Db) {
        let n = 1 + self.rng.below(3) as usize;
        let keys: Vec<Key> = (0..n).map(|_| random_key(&mut self.rng)).collect();
        let values: Vec<Vec<Value>> = keys.iter().map(key_values).collect();
        let ts = block_on(db.delete_many(&values)).unwrap();
        record(&mut self.oracle, ts, keys.into_iter().map(|k| (k, None)));
    }

    /// Keeps a snapshot for later reads (at most 4, a random one replaced).
    fn keep_snapshot(&mut self, db: &anax::Db, snapshots: &mut Vec<Snapshot>) {
        if snapshots.len() >= 4 {
            let i = self.rng.below(snapshots.len() as u64) as usize;
            snapshots.swap_remove(i);
        }
        snapshots.push(db.snapshot().unwrap());
    }

    /// Checks a get or a scan on one of the kept snapshots, if any.
    fn check_kept(&mut self, snapshots: &[Snapshot]) {
        if let Some(snap) = snapshots.get(self.rng.below(4) as usize).cloned() {
            if self.rng.chance(50) {
                self.check_get(&snap);
            } else {
                self.check_scan(&snap);
            }
        }
    }

    fn check_get(&mut self, snap: &Snapshot) {
        let v = view(&self.oracle, snap.ts());
        self.check_get_in(snap, &v, snap.ts());
    }

    fn check_scan(&mut self, snap: &Snapshot) {
        let v = view(&self.oracle, snap.ts());
        self.check_scan_in(snap, &v, snap.ts());
    }

    fn check_get_in(&mut self, r: &dyn Reader, view: &BTreeMap<Key, Vals>, ts: u64) {
        let k = random_key(&mut self.rng);
        let got = r.get_row(&key_values(&k));
        let got_rows = got.map(|b| batch_rows(&b));
        let want_rows = view.get(&k).map(|v| vec![row_cells(&k, v)]);
        assert_eq!(
            got_rows, want_rows,
            "seed {} op {}: get {k:?} at ts {ts}",
            self.seed, self.op
        );
    }

    fn check_scan_in(&mut self, r: &dyn Reader, view: &BTreeMap<Key, Vals>, ts: u64) {
        let rng = &mut self.rng;
        let (start, lo) = random_bound(rng);
        let (end, hi) = random_bound(rng);
        let prefix = rng.chance(15).then(|| rng.pick(K1).to_string());
        let filter = rng.chance(40).then(|| random_filter(rng, 0));
        let projection: Option<Vec<usize>> = rng.chance(30).then(|| {
            let mut cols: Vec<usize> = (0..4).filter(|_| rng.chance(50)).collect();
            if cols.is_empty() {
                cols.push(rng.below(4) as usize);
            }
            if rng.chance(50) {
                cols.reverse();
            }
            cols
        });
        let limit = rng.chance(30).then(|| rng.below(6) as usize);
        let reverse = rng.chance(40);
        let opts = ScanOptions {
            start,
            end,
            prefix: prefix.clone().map(|p| vec![Value::from(p)]),
            projection: projection
                .clone()
                .map(|p| p.iter().map(|&i| COLS[i].to_string()).collect()),
            limit,
            reverse,
            filter: filter.clone(),
        };
        let got = batch_rows(&r.scan_rows(&opts));
        let mut want: Vec<Vec<Cell>> = view
            .iter()
            .filter(|(k, _)| in_lower(k, &lo) && in_upper(k, &hi))
            .filter(|(k, _)| prefix.as_ref().is_none_or(|p| &k.0 == p))
            .filter(|(k, v)| filter.as_ref().is_none_or(|f| eval(f, k, v) == Some(true)))
            .map(|(k, v)| row_cells(k, v))
            .collect();
        if reverse {
            want.reverse();
        }
        if let Some(l) = limit {
            want.truncate(l);
        }
        if let Some(p) = &projection {
            want = want
                .into_iter()
                .map(|r| p.iter().map(|&i| r[i].clone()).collect())
                .collect();
        }
        assert_eq!(
            got, want,
            "seed {} op {}: scan at ts {ts} with {opts:?}",
            self.seed, self.op
        );
    }
}

fn run_seed(seed: u64, ops: usize) {
    let mut rng = Rng::new(seed);
    let seal = match rng.below(4) {
        0 => SealPolicy::BatchesThreshold { batches: 1 },
        1 => SealPolicy::BatchesThreshold {
            batches: 1 + rng.below(8) as usize,
        },
        2 => SealPolicy::Rows(5 + rng.below(40) as usize),
        _ => SealPolicy::Never,
    };
    let mut builder = DbBuilder::from_schema_key_names(schema(), &["k1", "k2"])
        .in_memory("model")
        .with_seal_policy(seal);
    builder = if rng.chance(25) {
        builder.disable_minor_compaction()
    } else {
        builder.with_minor_compaction(1 + rng.below(4) as usize, 0)
    };
    let db = block_on(builder.open()).unwrap();
    let mut run = Run {
        rng,
        oracle: Oracle::new(),
        seed,
        op: 0,
    };
    let mut snapshots: Vec<Snapshot> = Vec::new();
    for op in 0..ops {
        run.op = op;
        match run.rng.below(100) {
            0..=29 => {
                run.put(&db);
            }
            30..=37 => {
                run.delete(&db);
            }
            38..=57 => {
                let snap = db.snapshot().unwrap();
                run.check_get(&snap);
            }
            58..=85 => {
                let snap = db.snapshot().unwrap();
                run.check_scan(&snap);
            }
            86..=89 => {
                run.keep_snapshot(&db, &mut snapshots);
            }
            90..=95 => {
                run.check_kept(&snapshots);
            }
            96..=97 => block_on(db.seal()).unwrap(),
            _ => block_on(db.flush()).unwrap(),
        }
    }
    let stats = db.stats().unwrap();
    eprintln!("seed {seed}: {ops} ops, {stats:?}");
}

#[test]
fn engine_matches_mvcc_oracle() {
    // Many short runs: without major compaction (a later layer) SSTs pile up within a run.
    let default_seeds: Vec<u64> = (1..=40).collect();
    let seeds = common::seeds(&default_seeds);
    let ops = common::ops(2_500);
    for &seed in &seeds {
        run_seed(seed, ops);
    }
    eprintln!(
        "model test: {} seeds x {ops} ops = {} ops, 0 divergences",
        seeds.len(),
        seeds.len() * ops
    );
}

fn random_rows(rng: &mut Rng) -> Vec<(Key, Vals)> {
    let n = 1 + rng.below(5) as usize;
    (0..n)
        .map(|_| {
            let k = random_key(rng);
            let v = rng.chance(80).then(|| rng.below(21) as i64 - 10);
            let s = rng.chance(80).then(|| rng.pick(S).to_string());
            (k, (v, s))
        })
        .collect()
}

fn row_values(rows: &[(Key, Vals)]) -> Vec<Vec<Value>> {
    rows.iter()
        .map(|(k, v)| {
            vec![
                k.0.clone().into(),
                k.1.into(),
                v.0.into(),
                v.1.clone().into(),
            ]
        })
        .collect()
}

/// Records a commit at `ts` in the oracle (within one commit, the last write of a key wins).
fn record(o: &mut Oracle, ts: u64, writes: impl IntoIterator<Item = (Key, Option<Vals>)>) {
    for (k, v) in writes {
        let versions = o.entry(k).or_default();
        if versions.last().is_some_and(|(t, _)| *t == ts) {
            versions.pop();
        }
        versions.push((ts, v));
    }
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Wal,
    SealEveryBatch,
    SealEveryBatchFast,
    WalFast,
}

struct Full {
    storage: Arc<anax::storage::MemoryStorage>,
    clock: Arc<anax::ManualClock>,
    mode: Mode,
    strategy: anax::CompactionStrategy,
    max_output_rows: Option<u64>,
    retention: anax::Retention,
    seal: SealPolicy,
}

impl Full {
    fn open(&self) -> anax::Db {
        use anax::{CommitAckMode, CompactionOptions, Durability, L0BackpressureConfig};
        let mut b = DbBuilder::from_schema_key_names(schema(), &["k1", "k2"])
            .with_storage(self.storage.clone())
            .with_clock(self.clock.clone())
            .with_seal_policy(self.seal)
            .with_minor_compaction(2, 0)
            .with_retention(self.retention)
            // One op at a time against the oracle: a job of a handle dropped without close
            // would otherwise race the next handle's compact_pending (CONFLICT, as it may).
            .with_background_compaction(false)
            .with_compaction_options(CompactionOptions {
                strategy: self.strategy,
                max_output_rows: self.max_output_rows,
                l0_backpressure: Some(L0BackpressureConfig {
                    slowdown_files: 6,
                    slowdown_delay_ms: 5,
                    stop_files: 10,
                    stop_recheck_ms: 20,
                    slowdown_bytes: None,
                    stop_bytes: None,
                    ..L0BackpressureConfig::default()
                }),
                ..CompactionOptions::default()
            });
        b = match self.mode {
            Mode::Wal | Mode::WalFast => b.with_durability(Durability::Wal(Default::default())),
            Mode::SealEveryBatch | Mode::SealEveryBatchFast => {
                b.with_durability(Durability::SealEveryBatch)
            }
        };
        if matches!(self.mode, Mode::SealEveryBatchFast | Mode::WalFast) {
            b = b.with_commit_ack_mode(CommitAckMode::Fast);
        }
        block_on(b.open()).unwrap()
    }
}

fn run_full_seed(seed: u64, ops: usize) -> anax::DbStats {
    use anax::{
        CompactionStrategy, ErrorCode, LeveledOptions, Retention, TieredOptions, TimeWindowOptions,
    };
    let mut rng = Rng::new(seed ^ 0xF011);
    let mode = match rng.below(4) {
        0 => Mode::Wal,
        1 => Mode::SealEveryBatch,
        2 => Mode::SealEveryBatchFast,
        _ => Mode::WalFast,
    };
    let strategy = match seed % 3 {
        0 => CompactionStrategy::Leveled(LeveledOptions {
            l0_trigger: 2 + rng.below(3) as usize,
            l1_target_bytes: 4_000 + rng.below(12_000),
            size_ratio: 2 + rng.below(3),
            max_level: 3,
        }),
        1 => CompactionStrategy::Tiered(TieredOptions {
            min_merge: 2 + rng.below(3) as usize,
            max_merge: 8,
            size_ratio: 2.0,
        }),
        _ => CompactionStrategy::TimeWindow(TimeWindowOptions {
            window_ms: 10_000,
            min_merge: 2 + rng.below(2) as usize,
        }),
    };
    let full = Full {
        storage: Arc::new(anax::storage::MemoryStorage::new()),
        clock: Arc::new(anax::ManualClock::new(1_000_000)),
        mode,
        strategy,
        max_output_rows: rng.chance(50).then(|| 10 + rng.below(60)),
        retention: Retention {
            min_versions: 1 + rng.below(6),
            max_age_ms: 2_000,
            grace_ms: 500,
            drop_grace_ms: 500,
        },
        seal: match rng.below(3) {
            0 => SealPolicy::BatchesThreshold { batches: 1 },
            1 => SealPolicy::Rows(5 + rng.below(20) as usize),
            _ => SealPolicy::Never,
        },
    };
    let mut db = full.open();
    let mut run = Run {
        rng,
        oracle: Oracle::new(),
        seed,
        op: 0,
    };
    let mut snapshots: Vec<Snapshot> = Vec::new();
    let (mut txns, mut conflicts, mut reopens) = (0, 0, 0);
    for op in 0..ops {
        run.op = op;
        match run.rng.below(100) {
            0..=27 => {
                run.put(&db);
            }
            28..=33 => {
                run.delete(&db);
            }
            34..=43 => {
                let snap = db.snapshot().unwrap();
                run.check_get(&snap);
            }
            44..=55 => {
                let snap = db.snapshot().unwrap();
                run.check_scan(&snap);
            }
            56..=58 => {
                run.keep_snapshot(&db, &mut snapshots);
            }
            59..=63 => {
                run.check_kept(&snapshots);
            }
            64..=75 => {
                txns += 1;
                let tx = db.transaction().unwrap();
                let base = view(&run.oracle, tx.read_ts());
                let mut own: BTreeMap<Key, Option<Vals>> = BTreeMap::new();
                let mut interloper: Option<Key> = None;
                for _ in 0..1 + run.rng.below(4) {
                    match run.rng.below(10) {
                        0..=4 => {
                            let rows = random_rows(&mut run.rng);
                            tx.put_rows(&row_values(&rows)).unwrap();
                            own.extend(rows.into_iter().map(|(k, v)| (k, Some(v))));
                        }
                        5..=6 => {
                            let k = random_key(&mut run.rng);
                            tx.delete(&key_values(&k)).unwrap();
                            own.insert(k, None);
                        }
                        _ => {
                            let mut v = base.clone();
                            for (k, x) in &own {
                                match x {
                                    Some(x) => v.insert(k.clone(), x.clone()),
                                    None => v.remove(k),
                                };
                            }
                            if run.rng.chance(50) {
                                run.check_get_in(&tx, &v, tx.read_ts());
                            } else {
                                run.check_scan_in(&tx, &v, tx.read_ts());
                            }
                        }
                    }
                    if interloper.is_none() && run.rng.chance(15) {
                        // Another commit lands while the transaction is open.
                        let rows = vec![random_rows(&mut run.rng).remove(0)];
                        let ts = block_on(db.put_rows(&row_values(&rows))).unwrap();
                        interloper = Some(rows[0].0.clone());
                        record(
                            &mut run.oracle,
                            ts,
                            rows.into_iter().map(|(k, v)| (k, Some(v))),
                        );
                    }
                }
                if run.rng.chance(10) {
                    tx.abort();
                    continue;
                }
                let clash = interloper.as_ref().is_some_and(|k| own.contains_key(k));
                match block_on(tx.commit()) {
                    Ok(ts) => {
                        assert!(
                            !clash,
                            "seed {seed} op {op}: a write-write conflict committed"
                        );
                        if !own.is_empty() {
                            record(&mut run.oracle, ts, own);
                        }
                    }
                    Err(e) => {
                        assert!(
                            clash && e.code() == ErrorCode::Conflict,
                            "seed {seed} op {op}: commit failed without a conflict: {e}"
                        );
                        conflicts += 1;
                    }
                }
            }
            76..=80 => block_on(db.flush()).unwrap(),
            81..=84 => {
                if run.rng.chance(50) {
                    block_on(db.compact()).unwrap();
                } else {
                    block_on(db.compact_pending(8)).unwrap();
                }
            }
            85..=88 => {
                full.clock.advance(run.rng.below(1_500));
                block_on(db.gc()).unwrap();
            }
            89 => {
                reopens += 1;
                snapshots.clear();
                if run.rng.chance(50) || matches!(mode, Mode::SealEveryBatchFast | Mode::WalFast) {
                    block_on(db.close()).unwrap();
                }
                drop(db);
                db = full.open();
            }
            _ => full.clock.advance(run.rng.below(3_000)),
        }
    }
    // Everything acknowledged is still there at the end, through a fresh handle.
    snapshots.clear();
    let before = db.stats().unwrap();
    block_on(db.close()).unwrap();
    let db = full.open();
    let snap = db.snapshot().unwrap();
    let all = batch_rows(&block_on(snap.scan(&ScanOptions::default())).unwrap());
    let want: Vec<Vec<Cell>> = visible(&run.oracle, snap.ts())
        .iter()
        .map(|(k, v)| row_cells(k, v))
        .collect();
    assert_eq!(all, want, "seed {seed}: final state after reopen");
    let stats = db.stats().unwrap();
    eprintln!(
        "seed {seed} {mode:?} {strategy:?}: {ops} ops, {txns} txns ({conflicts} conflicts), \
         {reopens} reopens, compaction {:?}, levels {:?}",
        before.compaction, stats.levels
    );
    before
}

#[test]
fn compaction_transactions_gc_and_reopen_match_the_oracle() {
    // 48 x 4,200 = 201,600 ops in CI; the 5M-op soak is `ANAX_SEEDS=$(seq -s, 1001 1050)
    // ANAX_OPS=100000` (see docs/benchmarks.md).
    let default_seeds: Vec<u64> = (1..=48).collect();
    let seeds = common::seeds(&default_seeds);
    let ops = common::ops(4_200);
    let mut jobs = 0;
    for &seed in &seeds {
        jobs += run_full_seed(seed, ops).compaction.jobs;
    }
    eprintln!(
        "full model test: {} seeds x {ops} ops = {} ops, 0 divergences",
        seeds.len(),
        seeds.len() * ops
    );
    assert!(jobs > 0, "no compaction job ran");
}
