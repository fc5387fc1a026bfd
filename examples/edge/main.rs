//! The edge-path benchmark (issue 19): a table on an object store that answers every call after
//! a round trip, the way R2 or S3 does from a Worker. Every figure is stated in round trips
//! (p50 time over the injected RTT) and in calls counted where they leave for the store, so it
//! means the same on any machine.
//!
//! ```text
//! cargo run --example edge -- [--rows 1000000] [--rtt 20] [--ops 40] [--runs 3] [--json FILE]
//!                               [--blocks on|off]   # point-read blocks in the SSTs (default on)
//! cargo run --example edge -- --smoke      # a short run that checks the counts, for CI
//! ```
//!
//! The store is Anax's in-memory one behind [`anax::storage::LatencyStorage`]; the table is
//! loaded at zero latency, fully compacted, then measured at `--rtt` ms per call.

// Native only (the store it measures through is): on wasm32 it builds to nothing.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]
// A native benchmark: the monotonic clock measures it and never reaches stored data.
#![allow(clippy::disallowed_methods)]

use std::error::Error;
use std::ops::Bound;
use std::sync::Arc;
use std::time::Instant;

use anax::storage::{Latency, LatencyStorage, MemoryStorage, Storage};
use anax::{CompactionOptions, Db, DbBuilder, Freshness, RequestCounts, ScanOptions, Value};
use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

mod manifest;
mod tally;
mod writers;

type Res<T> = Result<T, Box<dyn Error>>;

struct Args {
    rows: usize,
    rtt: f64,
    ops: usize,
    runs: usize,
    json: Option<String>,
    smoke: bool,
    blocks: bool,
    /// Single-row puts of the history-cost run (0: skip it).
    history: usize,
    /// Only the history-cost run.
    history_only: bool,
    /// Seconds of each many-writers run (0: skip them).
    writers_secs: f64,
    /// Only the many-writers runs.
    writers_only: bool,
    /// The link's bandwidth for the full-scan figure, MB/s.
    scan_mbps: f64,
}

fn args() -> Res<Args> {
    let mut a = Args {
        rows: 1_000_000,
        rtt: 20.0,
        ops: 40,
        runs: 3,
        json: None,
        smoke: false,
        blocks: true,
        history: 10_000,
        history_only: false,
        writers_secs: 10.0,
        writers_only: false,
        scan_mbps: 100.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--rows" => a.rows = value()?.parse()?,
            "--rtt" => a.rtt = value()?.parse()?,
            "--ops" => a.ops = value()?.parse()?,
            "--runs" => a.runs = value()?.parse()?,
            "--json" => a.json = Some(value()?),
            "--history" => a.history = value()?.parse()?,
            "--history-only" => a.history_only = true,
            "--writers-secs" => a.writers_secs = value()?.parse()?,
            "--writers-only" => a.writers_only = true,
            "--scan-mbps" => a.scan_mbps = value()?.parse()?,
            "--blocks" => {
                a.blocks = match value()?.as_str() {
                    "on" => true,
                    "off" => false,
                    other => return Err(format!("--blocks takes on or off, not {other}").into()),
                }
            }
            "--smoke" => {
                a.smoke = true;
                a.rows = 20_000;
                a.rtt = 5.0;
                a.ops = 8;
                a.runs = 1;
                a.history = 1_000;
                a.writers_secs = 2.0;
            }
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if a.rows < 1000 || a.ops == 0 || a.runs == 0 {
        return Err("--rows must be >= 1000, --ops and --runs >= 1".into());
    }
    Ok(a)
}

/// splitmix64: the same data on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("v", DataType::Int64, false),
        Field::new("payload", DataType::Utf8, false),
    ]))
}

/// The W1 shape: 16-char hex ids in random order, v in 0..1e6, 90-110-byte payloads.
fn batch(rng: &mut Rng, n: usize, ids_out: &mut Vec<String>) -> Res<RecordBatch> {
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ";
    let ids: Vec<String> = (0..n).map(|_| format!("{:016x}", rng.next())).collect();
    let v: Vec<i64> = (0..n).map(|_| (rng.next() % 1_000_000) as i64).collect();
    let payload: Vec<String> = (0..n)
        .map(|_| {
            let len = 90 + (rng.next() % 21) as usize;
            (0..len)
                .map(|_| {
                    char::from(
                        ALPHA
                            .get((rng.next() % ALPHA.len() as u64) as usize)
                            .copied()
                            .unwrap_or(b'a'),
                    )
                })
                .collect()
        })
        .collect();
    ids_out.extend(ids.iter().cloned());
    Ok(RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(Int64Array::from(v)),
            Arc::new(StringArray::from(payload)),
        ],
    )?)
}

/// `b` with every id replaced by `id` (an update of that row).
fn with_id(b: RecordBatch, id: &str) -> Res<RecordBatch> {
    let mut cols = b.columns().to_vec();
    if let Some(c) = cols.first_mut() {
        *c = Arc::new(StringArray::from(vec![id; b.num_rows()]));
    }
    Ok(RecordBatch::try_new(b.schema(), cols)?)
}

fn builder(store: &Arc<LatencyStorage>, blocks: bool) -> DbBuilder {
    let storage: Arc<dyn Storage> = store.clone();
    builder_on(storage, blocks)
}

fn builder_on(storage: Arc<dyn Storage>, blocks: bool) -> DbBuilder {
    DbBuilder::from_schema_key_name(schema(), "id")
        .with_storage(storage)
        .with_point_read_blocks(blocks)
}

/// One measured operation kind: wall times (ms) and the calls and bytes of all of them.
#[derive(Default)]
struct Sample {
    ms: Vec<f64>,
    counts: Vec<RequestCounts>,
}

impl Sample {
    fn pct(&self, p: f64) -> f64 {
        let mut v = self.ms.clone();
        v.sort_by(f64::total_cmp);
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v.get(i).copied().unwrap_or(f64::NAN)
    }
    fn calls(&self) -> f64 {
        let n = self.counts.len().max(1) as f64;
        self.counts.iter().map(|c| c.total()).sum::<u64>() as f64 / n
    }
    fn kib(&self) -> f64 {
        let n = self.counts.len().max(1) as f64;
        let b: u64 = self
            .counts
            .iter()
            .map(|c| c.bytes_read + c.bytes_written)
            .sum();
        b as f64 / 1024.0 / n
    }
}

/// One operation kind over several runs: each run's p50 in round trips, and every sample.
#[derive(Default)]
struct Series {
    p50: Vec<f64>,
    all: Sample,
}

impl Series {
    fn add(&mut self, run: Sample, rtt: f64) {
        self.p50.push(run.pct(0.5) / rtt);
        self.all.ms.extend(run.ms);
        self.all.counts.extend(run.counts);
    }

    /// The median of the runs' p50s.
    fn median(&mut self) -> f64 {
        median(&mut self.p50)
    }
}

async fn timed<F, Fut>(store: &LatencyStorage, sample: &mut Sample, op: F) -> Res<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Res<()>>,
{
    let before = store.counts();
    let t = Instant::now();
    op().await?;
    sample.ms.push(t.elapsed().as_secs_f64() * 1000.0);
    sample.counts.push(store.counts().since(&before));
    Ok(())
}

fn key(k: &str) -> Vec<Value> {
    vec![Value::Str(k.to_owned())]
}

/// Reads `keys` (spread over the key range) so that every SST's footer is cached.
async fn warm_up(db: &Db, keys: &[String]) -> Res<()> {
    for k in keys {
        strict_get(db, k).await?;
    }
    Ok(())
}

/// A strict read: it sees every commit acknowledged before it started.
async fn strict_get(db: &Db, k: &str) -> Res<bool> {
    Ok(db.get_fresh(&key(k), Freshness::Strict).await?.is_some())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

struct Figure {
    name: &'static str,
    value: f64,
    target: &'static str,
    calls: Option<f64>,
    kib: Option<f64>,
    note: &'static str,
    /// The run's round-trip time and rows when they are not the main run's.
    own: Option<(f64, usize)>,
}

async fn run(a: &Args) -> Res<Vec<Figure>> {
    let store = Arc::new(LatencyStorage::new(
        Arc::new(MemoryStorage::new()),
        Latency::rtt(0.0),
    ));
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut ids = Vec::with_capacity(a.rows);
    let t = Instant::now();
    let loader = builder(&store, a.blocks).open().await?;
    let chunk = 50_000.min(a.rows);
    let mut done = 0;
    while done < a.rows {
        let n = chunk.min(a.rows - done);
        loader.put(batch(&mut rng, n, &mut ids)?).await?;
        done += n;
    }
    loader.idle().await?;
    loader.compact().await?;
    let stats = loader.stats()?;
    eprintln!(
        "loaded {} rows in {:.1} s: {} SST(s) of {:.1} MiB (point-read blocks {}), {:.1} MiB written",
        a.rows,
        t.elapsed().as_secs_f64(),
        stats.ssts,
        stats.sst_bytes as f64 / 1048576.0,
        if a.blocks { "on" } else { "off" },
        store.counts().bytes_written as f64 / 1048576.0,
    );

    // Keys spread over the whole key range: reading them opens every SST's footer, so
    // "warm" means what it says however many files the table has.
    let mut spread = ids.clone();
    spread.sort_unstable();
    let spread: Vec<String> = (0..=32)
        .filter_map(|i| spread.get(i * (spread.len() - 1) / 32).cloned())
        .collect();
    store.set_latency(Latency::rtt(a.rtt));
    let rtt = a.rtt;
    let pick = |rng: &mut Rng| -> String {
        let i = (rng.next() % ids.len() as u64) as usize;
        ids.get(i).cloned().unwrap_or_default()
    };

    let [
        mut seq,
        mut cold,
        mut warm,
        mut view,
        mut miss,
        mut scan,
        mut l0,
    ] = std::array::from_fn(|_| Series::default());
    for _ in 0..a.runs {
        // Cold: a fresh handle (nothing cached) opens the table and reads one row.
        let mut s = Sample::default();
        let k = pick(&mut rng);
        timed(&store, &mut s, || async {
            let db = builder(&store, a.blocks).open().await?;
            let found = db.get(&key(&k)).await?.is_some();
            db.close().await?;
            if found {
                Ok(())
            } else {
                Err("cold get missed a row".into())
            }
        })
        .await?;
        cold.add(s, rtt);

        // Warm: a handle that has read before (footers cached), strict freshness.
        let db = builder(&store, a.blocks).open().await?;
        warm_up(&db, &spread).await?;
        let mut s = Sample::default();
        for _ in 0..a.ops {
            let k = pick(&mut rng);
            timed(&store, &mut s, || async {
                if strict_get(&db, &k).await? {
                    Ok(())
                } else {
                    Err("a get missed a row".into())
                }
            })
            .await?;
        }
        warm.add(s, rtt);

        // The way the worker example reads today: refresh(), then get.
        let mut s = Sample::default();
        for _ in 0..a.ops {
            let k = pick(&mut rng);
            timed(&store, &mut s, || async {
                db.refresh().await?;
                db.get(&key(&k)).await?;
                Ok(())
            })
            .await?;
        }
        seq.add(s, rtt);

        // Bounded staleness: the strict reads above checked the manifest moments ago, so a
        // minute's staleness allowed means no check.
        let mut s = Sample::default();
        for _ in 0..a.ops {
            let k = pick(&mut rng);
            timed(&store, &mut s, || async {
                db.get_fresh(&key(&k), Freshness::MaxStalenessMs(60_000))
                    .await?;
                Ok(())
            })
            .await?;
        }
        view.add(s, rtt);

        // A missing key, strict.
        let mut s = Sample::default();
        for _ in 0..a.ops {
            let k = format!("{:016x}", rng.next() ^ 0xA5A5_5A5A_0F0F_F0F0);
            timed(&store, &mut s, || async {
                strict_get(&db, &k).await?;
                Ok(())
            })
            .await?;
        }
        miss.add(s, rtt);

        // 100 rows from a random key on, strict: the manifest check goes out with the reads.
        let mut s = Sample::default();
        for _ in 0..a.ops {
            let k = pick(&mut rng);
            timed(&store, &mut s, || async {
                let opts = ScanOptions {
                    start: Bound::Included(key(&k)),
                    limit: Some(100),
                    ..ScanOptions::default()
                };
                db.scan_fresh(&opts, Freshness::Strict).await?;
                Ok(())
            })
            .await?;
        }
        scan.add(s, rtt);
        db.close().await?;
    }

    // A full scan over a link capped at --scan-mbps: how much of the bandwidth it keeps busy
    // (a scan that waits a round trip per page uses a fraction of it).
    let cap = a.scan_mbps * 1e6;
    let mut full_ratio = Vec::new();
    let (mut full_mib, mut full_calls) = (0.0, 0.0);
    {
        let db = builder(&store, a.blocks).open().await?;
        warm_up(&db, &spread).await?;
        store.set_latency(Latency {
            rtt_ms: a.rtt,
            jitter_ms: 0.0,
            bytes_per_sec: Some(cap as u64),
        });
        for _ in 0..a.runs {
            let before = store.counts();
            let t = Instant::now();
            let got = db
                .scan_fresh(&ScanOptions::default(), Freshness::Strict)
                .await?;
            let secs = t.elapsed().as_secs_f64();
            if got.num_rows() != ids.len() {
                return Err(
                    format!("a full scan saw {} of {} rows", got.num_rows(), ids.len()).into(),
                );
            }
            drop(got);
            let c = store.counts().since(&before);
            full_ratio.push(c.bytes_read as f64 / secs / cap);
            full_mib = c.bytes_read as f64 / 1048576.0;
            full_calls = c.total() as f64;
        }
        store.set_latency(Latency::rtt(a.rtt));
        db.close().await?;
    }
    println!(
        "full scan at {} MB/s and {} ms: {:.1} MiB in {:.0} calls, {:.2} of the link",
        a.scan_mbps,
        a.rtt,
        full_mib,
        full_calls,
        median(&mut full_ratio.clone())
    );

    // Puts of one row and of 1,000 rows on the loader's handle.
    let mut put1 = Sample::default();
    for _ in 0..(a.ops * 2).max(20) {
        let b = batch(&mut rng, 1, &mut Vec::new())?;
        timed(&store, &mut put1, || async {
            loader.put(b).await?;
            Ok(())
        })
        .await?;
    }
    let mut put1k = Sample::default();
    for _ in 0..(a.ops / 2).max(5) {
        let b = batch(&mut rng, 1000, &mut Vec::new())?;
        timed(&store, &mut put1k, || async {
            loader.put(b).await?;
            Ok(())
        })
        .await?;
    }

    // Ten overlapping L0 files over the compacted table, written at zero latency by a handle
    // that never compacts, then read strictly by a warm handle.
    store.set_latency(Latency::rtt(0.0));
    loader.idle().await?;
    loader.compact().await?;
    let writer = builder(&store, a.blocks)
        .with_compaction_options(CompactionOptions {
            automatic: false,
            l0_backpressure: None,
            ..CompactionOptions::default()
        })
        .open()
        .await?;
    for _ in 0..10 {
        writer.put(batch(&mut rng, 1000, &mut Vec::new())?).await?;
    }
    let db = builder(&store, a.blocks).open().await?;
    let l0_files = db.stats()?.ssts;
    warm_up(&db, &spread).await?;
    store.set_latency(Latency::rtt(a.rtt));
    for _ in 0..a.runs {
        let mut s = Sample::default();
        for _ in 0..a.ops {
            let k = pick(&mut rng);
            timed(&store, &mut s, || async {
                if strict_get(&db, &k).await? {
                    Ok(())
                } else {
                    Err("an L0 get missed a row".into())
                }
            })
            .await?;
        }
        l0.add(s, rtt);
    }
    eprintln!("L0 run: {l0_files} SSTs in the table");

    Ok(vec![
        Figure {
            name: "get_warm_rtt",
            value: warm.median(),
            target: "<= 1.5",
            calls: Some(warm.all.calls()),
            kib: Some(warm.all.kib()),
            note: "p50 of a strict get (Freshness::Strict) over the RTT, one fully compacted SST, footer cached",
            own: None,
        },
        Figure {
            name: "get_warm_calls",
            value: warm.all.calls(),
            target: "<= 2",
            calls: None,
            kib: None,
            note: "backend calls per strict warm get (manifest head included)",
            own: None,
        },
        Figure {
            name: "get_warm_kib",
            value: warm.all.kib(),
            target: "<= 64",
            calls: None,
            kib: None,
            note: "KiB moved per strict warm get",
            own: None,
        },
        Figure {
            name: "get_warm_l0_rtt",
            value: l0.median(),
            target: "<= 2",
            calls: Some(l0.all.calls()),
            kib: Some(l0.all.kib()),
            note: "as get_warm_rtt with 10 overlapping L0 SSTs above the compacted file",
            own: None,
        },
        Figure {
            name: "get_warm_refresh_first_rtt",
            value: seq.median(),
            target: "(comparison: refresh(), then get, as the worker example does)",
            calls: Some(seq.all.calls()),
            kib: Some(seq.all.kib()),
            note: "the manifest read and the data reads one after the other",
            own: None,
        },
        Figure {
            name: "get_stale_rtt",
            value: view.median(),
            target: "(no target)",
            calls: Some(view.all.calls()),
            kib: Some(view.all.kib()),
            note: "get with maxStalenessMs 60,000 on a handle checked moments before: no manifest read",
            own: None,
        },
        Figure {
            name: "get_stale_calls",
            value: view.all.calls(),
            target: "<= 1",
            calls: None,
            kib: None,
            note: "backend calls per bounded-staleness get",
            own: None,
        },
        Figure {
            name: "get_miss_calls",
            value: miss.all.calls(),
            target: "<= 1",
            calls: None,
            kib: Some(miss.all.kib()),
            note: "strict get of a missing key: the manifest head, then the bloom filter answers",
            own: None,
        },
        Figure {
            name: "get_cold_rtt",
            value: cold.median(),
            target: "<= 3",
            calls: Some(cold.all.calls()),
            kib: Some(cold.all.kib()),
            note: "fresh handle: open + get, nothing cached",
            own: None,
        },
        Figure {
            name: "scan100_rtt",
            value: scan.median(),
            target: "<= 2",
            calls: Some(scan.all.calls()),
            kib: Some(scan.all.kib()),
            note: "strict scan (Freshness::Strict) of 100 rows from a random key",
            own: None,
        },
        Figure {
            name: "scan_full_mbps_ratio",
            value: median(&mut full_ratio),
            target: ">= 0.5",
            calls: Some(full_calls),
            kib: Some(full_mib * 1024.0),
            note: "strict full scan of the table over a link capped at 100 MB/s (--scan-mbps): bytes moved per second over the cap",
            own: None,
        },
        Figure {
            name: "put1_rtt_p50",
            value: put1.pct(0.5) / rtt,
            target: "<= 2",
            calls: Some(put1.calls()),
            kib: Some(put1.kib()),
            note: "one-row put, durable and visible when it returns (seal every batch); calls and KiB include background jobs running meanwhile",
            own: None,
        },
        Figure {
            name: "put1_rtt_p99",
            value: put1.pct(0.99) / rtt,
            target: "<= 4",
            calls: None,
            kib: None,
            note: "same puts, p99 (the compaction they trigger runs in the background natively on object stores)",
            own: None,
        },
        Figure {
            name: "put1k_rtt_p50",
            value: put1k.pct(0.5) / rtt,
            target: "<= 2",
            calls: Some(put1k.calls()),
            kib: Some(put1k.kib()),
            note: "1,000-row put",
            own: None,
        },
    ])
}

fn json(a: &Args, figures: &[Figure]) -> String {
    let mut out = String::from("{\n");
    for (i, f) in figures.iter().enumerate() {
        out.push_str(&format!(
            "  \"{}\": {{ \"value\": {:.3}, \"target\": \"{}\", \"rtt_ms\": {}, \"rows\": {}, \"point_read_blocks\": {}",
            f.name,
            f.value,
            f.target,
            f.own.map_or(a.rtt, |o| o.0),
            f.own.map_or(a.rows, |o| o.1),
            a.blocks
        ));
        if let Some(c) = f.calls {
            out.push_str(&format!(", \"calls\": {c:.2}"));
        }
        if let Some(k) = f.kib {
            out.push_str(&format!(", \"kib\": {k:.1}"));
        }
        out.push_str(&format!(", \"note\": \"{}\" }}", f.note));
        out.push_str(if i + 1 < figures.len() { ",\n" } else { "\n" });
    }
    out.push_str("}\n");
    out
}

/// `ours` (one key per line) with the keys of `path` it does not set: other producers
/// (`bench/node/edge-node.mjs`) write into the same file.
fn merged(path: &str, ours: &str) -> String {
    let name = |l: &str| l.trim().split('"').nth(1).map(str::to_owned);
    let mine: Vec<&str> = ours.lines().filter(|l| l.starts_with("  \"")).collect();
    let set: std::collections::HashSet<String> = mine.iter().filter_map(|l| name(l)).collect();
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let kept = old
        .lines()
        .filter(|l| l.starts_with("  \""))
        .filter(|l| name(l).is_some_and(|n| !set.contains(&n)))
        .map(|l| l.trim_end().trim_end_matches(',').to_owned());
    let all: Vec<String> = mine
        .iter()
        .map(|l| l.trim_end().trim_end_matches(',').to_owned())
        .chain(kept)
        .collect();
    format!("{{\n{}\n}}\n", all.join(",\n"))
}

/// The history-cost figures (see `manifest.rs`): 1 in 10 puts inserts a key, the rest update.
async fn history_figures(a: &Args) -> Res<Vec<Figure>> {
    if a.history == 0 {
        return Ok(Vec::new());
    }
    let h = manifest::history_cost(a.history, (a.history / 10).max(1)).await?;
    eprintln!(
        "history run: {} puts, head {} B, stored {} B, live SSTs {} B, ms per put {:.2} (first tenth) -> {:.2} (last tenth)",
        h.puts, h.head_bytes, h.stored_bytes, h.live_sst_bytes, h.first_ms, h.last_ms
    );
    Ok(vec![
        Figure {
            name: "manifest_bytes_per_commit",
            value: h.manifest_bytes_per_commit,
            target: "<= 4096",
            calls: None,
            kib: None,
            note: "bytes written under manifest/ per single-row put, averaged over the run (default retention)",
            own: Some((0.0, h.puts)),
        },
        Figure {
            name: "bucket_space_amp",
            value: h.bucket_space_amp,
            target: "<= 3",
            calls: None,
            kib: None,
            note: "bytes the bucket holds after the table's gc() over the bytes of its live SSTs (default retention: 16 versions and an hour of history kept, dropped files collected at once since readers elsewhere read around them)",
            own: Some((0.0, h.puts)),
        },
        Figure {
            name: "bucket_space_amp_after_grace",
            value: h.space_amp_after_grace,
            target: "(comparison: the same once the 10-minute orphan grace period has passed)",
            calls: None,
            kib: None,
            note: "a second gc() on a clock ahead by the orphan grace period (graceMs): what it still keeps for writers in flight",
            own: Some((0.0, h.puts)),
        },
        Figure {
            name: "history_sst_write_amp",
            value: h.sst_write_amp,
            target: "(context)",
            calls: None,
            kib: None,
            note: "SST bytes written by the puts and compactions over the live SST bytes at the end",
            own: Some((0.0, h.puts)),
        },
        Figure {
            name: "put_ms_growth",
            value: h.last_ms / h.first_ms.max(1e-9),
            target: "(no growth: about 1)",
            calls: None,
            kib: None,
            note: "mean put time over the last tenth of the history run over the first tenth (no latency)",
            own: Some((0.0, h.puts)),
        },
    ])
}

/// The many-writers figures (see `writers.rs`): 1 writer, then 4, each with 8 puts in flight.
fn writers_figures(a: &Args) -> Res<Vec<Figure>> {
    if a.writers_secs <= 0.0 {
        return Ok(Vec::new());
    }
    let one = writers::run_writers(1, a.writers_secs, a.rtt)?;
    let four = writers::run_writers(4, a.writers_secs, a.rtt)?;
    for r in [&one, &four] {
        eprintln!(
            "{} writer(s): {} puts acknowledged ({:.1}/s), {} failed, {} lost, {} duplicated, {} commits, {:.2} CAS attempts per commit",
            r.writers,
            r.acked,
            r.puts_per_s,
            r.failed,
            r.lost,
            r.duplicated,
            r.commits,
            r.cas_attempts_per_commit
        );
    }
    let rows = one.acked + four.acked;
    Ok(vec![
        Figure {
            name: "writers4_throughput_ratio",
            value: four.puts_per_s / one.puts_per_s.max(1e-9),
            target: ">= 1.5",
            calls: None,
            kib: None,
            note: "acknowledged one-row puts per second of 4 writers (separate handles and threads, 8 in flight each) over 1 writer",
            own: Some((a.rtt, rows)),
        },
        Figure {
            name: "writers4_lost",
            value: (four.lost + four.duplicated + one.lost + one.duplicated) as f64,
            target: "0",
            calls: None,
            kib: None,
            note: "acknowledged rows missing or present twice afterwards (both runs)",
            own: Some((a.rtt, rows)),
        },
        Figure {
            name: "writers4_cas_attempts_per_commit",
            value: four.cas_attempts_per_commit,
            target: "(context)",
            calls: None,
            kib: None,
            note: "writes of manifest/HEAD (won or lost) per committed version, 4 writers",
            own: Some((a.rtt, rows)),
        },
        Figure {
            name: "writers1_puts_per_s",
            value: one.puts_per_s,
            target: "(context)",
            calls: None,
            kib: None,
            note: "acknowledged one-row puts per second of 1 writer with 8 in flight",
            own: Some((a.rtt, one.acked)),
        },
        Figure {
            name: "writers4_failed",
            value: (one.failed + four.failed) as f64,
            target: "(context)",
            calls: None,
            kib: None,
            note: "puts that returned an error (not acknowledged; retrying them is the caller's)",
            own: Some((a.rtt, rows)),
        },
    ])
}

fn main() -> Res<()> {
    let a = args()?;
    let only = a.history_only || a.writers_only;
    let mut figures = if only {
        Vec::new()
    } else {
        futures::executor::block_on(run(&a))?
    };
    if !only || a.history_only {
        figures.extend(futures::executor::block_on(history_figures(&a))?);
    }
    if !only || a.writers_only {
        figures.extend(writers_figures(&a)?);
    }
    println!(
        "edge path at {} ms per call, {} rows, median of {} run(s)",
        a.rtt, a.rows, a.runs
    );
    println!("| figure | value | target | calls/op | KiB/op |\n|---|---|---|---|---|");
    for f in &figures {
        let opt = |v: Option<f64>, p: usize| v.map_or("".into(), |x| format!("{x:.p$}"));
        println!(
            "| {} | {:.2} | {} | {} | {} |",
            f.name,
            f.value,
            f.target,
            opt(f.calls, 2),
            opt(f.kib, 1)
        );
    }
    let value = |n: &str| {
        figures
            .iter()
            .find(|f| f.name == n)
            .map_or(f64::NAN, |f| f.value)
    };
    println!(
        "strict get over refresh-then-get (the same run, the same handle): {:.2}x the time",
        value("get_warm_rtt") / value("get_warm_refresh_first_rtt")
    );
    if a.smoke {
        // The counts do not depend on the machine: check the ones the read path promises.
        let get = |n: &str| {
            figures
                .iter()
                .find(|f| f.name == n)
                .map_or(f64::NAN, |f| f.value)
        };
        if get("get_miss_calls").is_nan() || get("get_miss_calls") > 1.0 {
            return Err(format!("a strict miss made {} calls", get("get_miss_calls")).into());
        }
        // Whatever the machine: no acknowledged row lost or doubled.
        let lost = get("writers4_lost");
        if a.writers_secs > 0.0 && (lost.is_nan() || lost > 0.0) {
            return Err(format!("{lost} acknowledged rows lost or doubled by many writers").into());
        }
        // Bytes, not time: the head must not grow with the write rate or the history.
        let per_commit = get("manifest_bytes_per_commit");
        if a.history > 0 && (per_commit.is_nan() || per_commit > 4096.0) {
            return Err(format!("{per_commit} manifest bytes written per put").into());
        }
        // The manifest head and one block: what point-read blocks promise.
        if a.blocks && (get("get_warm_calls").is_nan() || get("get_warm_calls") > 2.0) {
            return Err(format!("a strict warm get made {} calls", get("get_warm_calls")).into());
        }
    }
    if let Some(path) = &a.json {
        std::fs::write(path, merged(path, &json(&a, &figures)))?;
        println!("wrote {path}");
    }
    Ok(())
}
