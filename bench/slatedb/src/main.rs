//! Anax against SlateDB 0.18 on the same data and the same object-store latency, in one run
//! (issue 19: `slatedb_get_ratio`, `slatedb_put_ratio`).
//!
//! ```sh
//! cargo run --release --manifest-path bench/slatedb/Cargo.toml -- [--rows 1000000] [--rtt 20] [--ops 40] [--runs 3] [--json docs/bench/edge.json]
//! ```
//!
//! Both engines store 1,000,000 rows of the W1 shape (16-byte key, int64, ~100-byte payload;
//! SlateDB gets the int64 and the payload as one value) in an in-memory object store that adds
//! `--rtt` ms to every call (Anax: `anax::storage::LatencyStorage`; SlateDB:
//! `object_store::throttle::ThrottledStore`, waits per call only). Anax is loaded and fully
//! compacted at zero latency; SlateDB is loaded through its store (its writes are batched and
//! asynchronous) and its memtable flushed, so every row is in an SST. Then each engine's p50 is taken over the same random keys:
//! - get: Anax's strict get (it checks the manifest with the read), its SST footers cached;
//!   SlateDB's `get` with a moka block cache of `--cache-mib` (index, filters and hot blocks);
//! - put: one row, durable when acknowledged: Anax's `put` (seal every batch on an object
//!   store), SlateDB's `put` then `await_durable` (its WAL flush, every 100 ms by default).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anax::storage::{Latency, LatencyStorage, MemoryStorage, Storage};
use anax::{DbBuilder, Freshness, Value};
use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use object_store::ObjectStore;
use object_store::memory::InMemory;
use object_store::throttle::{ThrottleConfig, ThrottledStore};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

struct Args {
    rows: usize,
    rtt: f64,
    ops: usize,
    runs: usize,
    cache_mib: u64,
    json: Option<String>,
}

fn args() -> Res<Args> {
    let mut a = Args {
        rows: 1_000_000,
        rtt: 20.0,
        ops: 40,
        runs: 3,
        cache_mib: 8,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--rows" => a.rows = value()?.parse()?,
            "--rtt" => a.rtt = value()?.parse()?,
            "--ops" => a.ops = value()?.parse()?,
            "--runs" => a.runs = value()?.parse()?,
            "--cache-mib" => a.cache_mib = value()?.parse()?,
            "--json" => a.json = Some(value()?),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(a)
}

/// splitmix64: the same keys for both engines, run after run.
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

struct Row {
    id: String,
    n: i64,
    payload: String,
}

fn rows(rng: &mut Rng, count: usize) -> Vec<Row> {
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ";
    (0..count)
        .map(|_| {
            let len = 90 + (rng.next() % 21) as usize;
            Row {
                id: format!("{:016x}", rng.next()),
                n: (rng.next() % 1_000_000) as i64,
                payload: (0..len)
                    .map(|_| {
                        char::from(
                            ALPHA
                                .get((rng.next() % ALPHA.len() as u64) as usize)
                                .copied()
                                .unwrap_or(b'a'),
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("n", DataType::Int64, false),
        Field::new("payload", DataType::Utf8, false),
    ]))
}

fn batch(rows: &[Row]) -> Res<RecordBatch> {
    Ok(RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.id))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.n))),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| &r.payload),
            )),
        ],
    )?)
}

/// SlateDB's value for a row: the int64, then the payload.
fn value(r: &Row) -> Vec<u8> {
    let mut v = r.n.to_le_bytes().to_vec();
    v.extend_from_slice(r.payload.as_bytes());
    v
}

fn p50(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

struct Measured {
    get_ms: Vec<f64>,
    put_ms: Vec<f64>,
}

/// The keys each run reads: the same for both engines.
fn picks(ids: &[String], a: &Args) -> Vec<Vec<String>> {
    let mut rng = Rng(0xC0FF_EE00_0000_0019);
    (0..a.runs)
        .map(|_| {
            (0..a.ops)
                .map(|_| ids[(rng.next() % ids.len() as u64) as usize].clone())
                .collect()
        })
        .collect()
}

fn anax_run(a: &Args, data: &[Row], picks: &[Vec<String>], fresh: &[Row]) -> Res<Measured> {
    futures::executor::block_on(async {
        let store = Arc::new(LatencyStorage::new(
            Arc::new(MemoryStorage::new()),
            Latency::rtt(0.0),
        ));
        let storage: Arc<dyn Storage> = store.clone();
        let db = DbBuilder::from_schema_key_name(schema(), "id")
            .with_storage(storage)
            .open()
            .await?;
        for chunk in data.chunks(50_000) {
            db.put(batch(chunk)?).await?;
        }
        db.idle().await?;
        db.compact().await?;
        let key = |k: &str| vec![Value::Str(k.to_owned())];
        // Warm: every SST footer cached (a spread of keys opens every file).
        let mut sorted: Vec<&str> = data.iter().map(|r| r.id.as_str()).collect();
        sorted.sort_unstable();
        for i in 0..=32 {
            let k = sorted[i * (sorted.len() - 1) / 32];
            db.get_fresh(&key(k), Freshness::Strict).await?;
        }
        store.set_latency(Latency::rtt(a.rtt));
        let mut m = Measured {
            get_ms: Vec::new(),
            put_ms: Vec::new(),
        };
        let mut run_p50 = Vec::new();
        for run in picks {
            let mut ms = Vec::new();
            for k in run {
                let t = Instant::now();
                let found = db.get_fresh(&key(k), Freshness::Strict).await?;
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
                if found.is_none() {
                    return Err(format!("anax missed {k}").into());
                }
            }
            run_p50.push(p50(&mut ms));
        }
        m.get_ms = run_p50;
        let mut ms = Vec::new();
        for r in fresh {
            let t = Instant::now();
            db.put(batch(std::slice::from_ref(r))?).await?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        m.put_ms = ms;
        db.close().await?;
        Ok(m)
    })
}

fn slatedb_run(a: &Args, data: &[Row], picks: &[Vec<String>], fresh: &[Row]) -> Res<Measured> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let wait = Duration::from_secs_f64(a.rtt / 1000.0);
        let store: Arc<dyn ObjectStore> = Arc::new(ThrottledStore::new(
            InMemory::new(),
            ThrottleConfig {
                wait_delete_per_call: wait,
                wait_get_per_call: wait,
                wait_list_per_call: wait,
                wait_list_with_delimiter_per_call: wait,
                wait_put_per_call: wait,
                ..ThrottleConfig::default()
            },
        ));
        let cache = Arc::new(slatedb::db_cache::moka::MokaCache::new_with_opts(
            slatedb::db_cache::moka::MokaCacheOptions {
                max_capacity: a.cache_mib << 20,
                time_to_live: None,
                time_to_idle: None,
            },
        ));
        let db = slatedb::Db::builder("bench", store)
            .with_db_cache(cache, 1)
            .build()
            .await?;
        let t = Instant::now();
        for chunk in data.chunks(1_000) {
            let mut b = slatedb::WriteBatch::new();
            for r in chunk {
                b.put(r.id.as_bytes(), value(r));
            }
            db.write(b).await?;
        }
        // Every row into SSTs: a get must not be answered by the memtable.
        db.flush_with_options(slatedb::config::FlushOptions {
            flush_type: slatedb::config::FlushType::MemTable,
        })
        .await?;
        eprintln!(
            "slatedb: loaded {} rows in {:.1} s at {} ms per call",
            data.len(),
            t.elapsed().as_secs_f64(),
            a.rtt
        );
        let mut sorted: Vec<&str> = data.iter().map(|r| r.id.as_str()).collect();
        sorted.sort_unstable();
        for i in 0..=32 {
            db.get(sorted[i * (sorted.len() - 1) / 32].as_bytes())
                .await?;
        }
        let mut m = Measured {
            get_ms: Vec::new(),
            put_ms: Vec::new(),
        };
        for run in picks {
            let mut ms = Vec::new();
            for k in run {
                let t = Instant::now();
                let found = db.get(k.as_bytes()).await?;
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
                if found.is_none() {
                    return Err(format!("slatedb missed {k}").into());
                }
            }
            m.get_ms.push(p50(&mut ms));
        }
        for r in fresh {
            let t = Instant::now();
            db.put(r.id.as_bytes(), value(r)).await?.await_durable().await?;
            m.put_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        db.close().await?;
        Ok(m)
    })
}

fn main() -> Res<()> {
    let a = args()?;
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let data = rows(&mut rng, a.rows);
    let ids: Vec<String> = data.iter().map(|r| r.id.clone()).collect();
    let picks = picks(&ids, &a);
    let fresh = rows(&mut rng, (a.ops * 2).max(20));
    let mut anax = anax_run(&a, &data, &picks, &fresh)?;
    let mut slate = slatedb_run(&a, &data, &picks, &fresh)?;
    let (ag, sg) = (p50(&mut anax.get_ms), p50(&mut slate.get_ms));
    let (ap, sp) = (p50(&mut anax.put_ms), p50(&mut slate.put_ms));
    println!(
        "Anax and SlateDB 0.18 at {} ms per call, {} rows, p50 (median of {} runs for gets)",
        a.rtt, a.rows, a.runs
    );
    println!("| op | Anax ms | SlateDB ms | ratio (Anax / SlateDB) | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| get (Anax strict, footers cached; SlateDB {} MiB block cache) | {ag:.1} | {sg:.1} | {:.2} | <= 1.0 |",
        a.cache_mib,
        ag / sg
    );
    println!(
        "| durable put of one row | {ap:.1} | {sp:.1} | {:.2} | <= 1.0 |",
        ap / sp
    );
    if let Some(path) = &a.json {
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let ours = ["slatedb_get_ratio", "slatedb_put_ratio"];
        let mut lines: Vec<String> = old
            .lines()
            .filter(|l| l.starts_with("  \""))
            .filter(|l| !ours.iter().any(|n| l.starts_with(&format!("  \"{n}\""))))
            .map(|l| l.trim_end().trim_end_matches(',').to_owned())
            .collect();
        lines.push(format!(
            "  \"slatedb_get_ratio\": {{ \"value\": {:.3}, \"target\": \"<= 1.0\", \"rtt_ms\": {}, \"rows\": {}, \"anax_ms\": {ag:.2}, \"slatedb_ms\": {sg:.2}, \"note\": \"p50 of Anax's strict get (footers cached) over SlateDB 0.18's get ({} MiB moka block cache), same keys, same latency per call (bench/slatedb)\" }}",
            ag / sg,
            a.rtt,
            a.rows,
            a.cache_mib
        ));
        lines.push(format!(
            "  \"slatedb_put_ratio\": {{ \"value\": {:.3}, \"target\": \"<= 1.0\", \"rtt_ms\": {}, \"rows\": {}, \"anax_ms\": {ap:.2}, \"slatedb_ms\": {sp:.2}, \"note\": \"p50 of a durable one-row put: Anax's put over SlateDB 0.18's put + await_durable (default settings: WAL flushed every 100 ms)\" }}",
            ap / sp,
            a.rtt,
            a.rows
        ));
        std::fs::write(path, format!("{{\n{}\n}}\n", lines.join(",\n")))?;
        println!("wrote {path}");
    }
    Ok(())
}
