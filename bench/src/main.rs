//! Anax against tonbo 0.4.0-a2 and the raw parquet floor, on the same data in one run.
//!
//! Run: `cargo run --release --manifest-path bench/Cargo.toml` (options: `--rows N`,
//! `--tonbo-gets N`, `--out FILE`, `--amplification` for the compaction strategies' read and
//! write amplification instead). Prints a table of throughputs and Anax/tonbo ratios and
//! writes the figures as JSON (default `docs/bench/native-vs-tonbo.json`).

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
mod amp;

use tonbo::prelude::{BatchesThreshold, DbBuilder as TonboBuilder, Expr, ScalarValue};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("v", DataType::Int64, false),
        Field::new("payload", DataType::Utf8, false),
    ]))
}

/// `rows` rows in batches of 1,000: 16-char hex ids in random order, v in 0..1e6, ~100-byte
/// payloads.
fn dataset(rows: usize) -> (Vec<RecordBatch>, Vec<String>) {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ";
    let mut batches = Vec::new();
    let mut ids_all = Vec::with_capacity(rows);
    for start in (0..rows).step_by(1000) {
        let n = 1000.min(rows - start);
        let ids: Vec<String> = (0..n).map(|_| format!("{:016x}", rng.next())).collect();
        let v: Vec<i64> = (0..n).map(|_| (rng.next() % 1_000_000) as i64).collect();
        let payload: Vec<String> = (0..n)
            .map(|_| {
                let len = 90 + (rng.next() % 21) as usize;
                (0..len)
                    .map(|_| ALPHA[(rng.next() % ALPHA.len() as u64) as usize] as char)
                    .collect()
            })
            .collect();
        ids_all.extend(ids.iter().cloned());
        batches.push(
            RecordBatch::try_new(
                schema(),
                vec![
                    Arc::new(StringArray::from(ids)),
                    Arc::new(Int64Array::from(v)),
                    Arc::new(StringArray::from(payload)),
                ],
            )
            .unwrap(),
        );
    }
    (batches, ids_all)
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("anax-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let md = e.metadata().unwrap();
            if md.is_dir() {
                stack.push(e.path());
            } else {
                total += md.len();
            }
        }
    }
    total
}

#[derive(Default, Clone, Copy)]
struct Figures {
    w1: f64,
    w2: f64,
    w3: f64,
    w4: f64,
    w5: f64,
}

struct Plan {
    get_keys: Vec<String>,
    ranges: Vec<(String, String)>,
    v_cut: i64,
}

fn plan(ids: &[String], gets: usize, ranges: usize) -> Plan {
    let mut rng = Rng(0xFEED_0000_0000_0042);
    let get_keys = (0..gets)
        .map(|_| ids[(rng.next() % ids.len() as u64) as usize].clone())
        .collect();
    let mut sorted = ids.to_vec();
    sorted.sort();
    let span = sorted.len() / 100;
    let ranges = (0..ranges)
        .map(|_| {
            let i = (rng.next() % (sorted.len() - span) as u64) as usize;
            (sorted[i].clone(), sorted[i + span].clone())
        })
        .collect();
    Plan {
        get_keys,
        ranges,
        v_cut: 100_000,
    }
}

async fn bench_anax(batches: &[RecordBatch], rows: usize, p: &Plan, gets: usize) -> (Figures, u64) {
    let dir = fresh_dir("anax");
    let t = Instant::now();
    let db = anax::DbBuilder::from_schema_key_name(schema(), "id")
        .on_disk(&dir)
        .with_seal_policy(anax::SealPolicy::BatchesThreshold { batches: 100 })
        .with_minor_compaction(1, 0)
        // tonbo's default WAL sync policy, so both engines promise the same durability.
        .wal_sync_policy(anax::WalSyncPolicy::IntervalTime(50))
        // Default leveled compaction, on its own thread (`--inline-compaction`: on the
        // ingesting call; `--no-compaction`: none, 10 L0 files like tonbo).
        .with_compaction_options(anax::CompactionOptions {
            automatic: !has_flag("--no-compaction"),
            background: !has_flag("--inline-compaction"),
            ..Default::default()
        })
        .open()
        .await
        .unwrap();
    for b in batches {
        db.put(b.clone()).await.unwrap();
    }
    db.flush().await.unwrap();
    let ingest = t.elapsed();
    // Reads start once background jobs settle (their time is reported, not counted in W1).
    while db.stats().unwrap().compaction.running > 0 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    eprintln!(
        "anax: ingest {:.2} s, compaction settled {:.2} s later, {:?}",
        ingest.as_secs_f64(),
        (t.elapsed() - ingest).as_secs_f64(),
        db.stats().unwrap().levels
    );
    // `--compact`: one full compaction before the reads (not counted in W1).
    if has_flag("--compact") {
        db.compact().await.unwrap();
    }

    let w1 = rows as f64 / ingest.as_secs_f64();
    let bytes = dir_bytes(&dir);

    let t = Instant::now();
    for k in p.get_keys.iter().take(gets) {
        let row = db.get(&[k.as_str().into()]).await.unwrap();
        assert!(row.is_some(), "anax lost key {k}");
    }
    let w2 = gets as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut stream = db.scan_stream(&anax::ScanOptions::default()).await.unwrap();
    let mut n = 0;
    while let Some(b) = stream.next().await.unwrap() {
        n += b.num_rows();
    }
    assert_eq!(n, rows, "anax full scan row count");
    let w3 = rows as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    for (lo, hi) in &p.ranges {
        let out = db
            .scan(&anax::ScanOptions {
                start: Bound::Included(vec![lo.as_str().into()]),
                end: Bound::Excluded(vec![hi.as_str().into()]),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(out.num_rows(), rows / 100);
    }
    let w4 = p.ranges.len() as f64 / t.elapsed().as_secs_f64();

    // `--repeat-w5 N` runs W5 N extra times first (for profiling it alone).
    for _ in 0..arg("--repeat-w5", 0) {
        let mut s = db
            .scan_stream(&anax::ScanOptions {
                filter: Some(anax::Filter::Lt("v".into(), p.v_cut.into())),
                ..Default::default()
            })
            .await
            .unwrap();
        while s.next().await.unwrap().is_some() {}
    }
    let t = Instant::now();
    let mut stream = db
        .scan_stream(&anax::ScanOptions {
            filter: Some(anax::Filter::Lt("v".into(), p.v_cut.into())),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut hits = 0;
    while let Some(b) = stream.next().await.unwrap() {
        hits += b.num_rows();
    }
    let w5 = rows as f64 / t.elapsed().as_secs_f64();
    eprintln!(
        "anax: W5 selected {hits} rows; {} SSTs, {bytes} bytes on disk",
        db.stats().unwrap().ssts
    );
    let _ = std::fs::remove_dir_all(&dir);
    (Figures { w1, w2, w3, w4, w5 }, hits as u64)
}

/// The same batches in tonbo's arrow (57), through an Arrow IPC stream; converted before any
/// timing starts.
fn for_tonbo(
    batches: &[RecordBatch],
) -> (
    tonbo_arrow_array::RecordBatch,
    Vec<tonbo_arrow_array::RecordBatch>,
) {
    let bytes = anax::ipc::encode_stream(&schema(), batches).unwrap();
    let reader =
        tonbo_arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None).unwrap();
    let out: Vec<_> = reader.map(|b| b.unwrap()).collect();
    (out[0].slice(0, 0), out)
}

async fn bench_tonbo(
    batches: &[RecordBatch],
    rows: usize,
    p: &Plan,
    gets: usize,
    ranges: usize,
) -> (Figures, u64) {
    let (empty, batches) = for_tonbo(batches);
    let dir = fresh_dir("tonbo");
    let t = Instant::now();
    let db = TonboBuilder::from_schema_key_name(empty.schema(), "id")
        .unwrap()
        .on_disk(&dir)
        .unwrap()
        .with_seal_policy(Arc::new(BatchesThreshold { batches: 100 }))
        .with_minor_compaction(1, 0)
        .open()
        .await
        .unwrap();
    for b in &batches {
        db.ingest(b.clone()).await.unwrap();
    }
    let w1 = rows as f64 / t.elapsed().as_secs_f64();
    let bytes = dir_bytes(&dir);

    let t = Instant::now();
    for k in p.get_keys.iter().take(gets) {
        let out = db
            .scan()
            .filter(Expr::eq("id", ScalarValue::from(k.as_str())))
            .collect()
            .await
            .unwrap();
        let n: usize = out.iter().map(|b| b.num_rows()).sum();
        assert_eq!(n, 1, "tonbo get {k}");
    }
    let w2 = gets as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    let out = db.scan().collect().await.unwrap();
    let n: usize = out.iter().map(|b| b.num_rows()).sum();
    assert_eq!(n, rows, "tonbo full scan row count");
    drop(out);
    let w3 = rows as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    for (lo, hi) in p.ranges.iter().take(ranges) {
        let out = db
            .scan()
            .filter(Expr::and(vec![
                Expr::gt_eq("id", ScalarValue::from(lo.as_str())),
                Expr::lt("id", ScalarValue::from(hi.as_str())),
            ]))
            .collect()
            .await
            .unwrap();
        let n: usize = out.iter().map(|b| b.num_rows()).sum();
        assert_eq!(n, rows / 100);
    }
    let w4 = ranges as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    let out = db
        .scan()
        .filter(Expr::lt("v", ScalarValue::from(p.v_cut)))
        .collect()
        .await
        .unwrap();
    let hits: usize = out.iter().map(|b| b.num_rows()).sum();
    let w5 = rows as f64 / t.elapsed().as_secs_f64();
    eprintln!("tonbo: W5 selected {hits} rows; {bytes} bytes on disk");
    let _ = std::fs::remove_dir_all(&dir);
    (Figures { w1, w2, w3, w4, w5 }, hits as u64)
}

/// The floor: the same batches through parquet's ArrowWriter (zstd) into one file + fsync, and
/// read back with its RecordBatch reader.
fn raw_floor(batches: &[RecordBatch], rows: usize) -> (f64, f64) {
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;
    let dir = fresh_dir("raw");
    let path = dir.join("raw.parquet");
    let t = Instant::now();
    let file = std::fs::File::create(&path).unwrap();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut w = ArrowWriter::try_new(file.try_clone().unwrap(), schema(), Some(props)).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
    file.sync_all().unwrap();
    let write = rows as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut n = 0;
    for b in reader {
        n += b.unwrap().num_rows();
    }
    assert_eq!(n, rows);
    let read = rows as f64 / t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    (write, read)
}

fn has_flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rows = arg("--rows", 1_000_000);
    let anax_gets = arg("--gets", 100_000);
    let tonbo_gets = arg("--tonbo-gets", 300);
    let anax_ranges = arg("--ranges", 200);
    let tonbo_ranges = arg("--tonbo-ranges", 20);
    let out_path = std::env::args()
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0] == "--out")
        .map(|w| w[1].clone())
        .unwrap_or_else(|| "docs/bench/native-vs-tonbo.json".into());

    let (batches, ids) = dataset(rows);
    let p = plan(
        &ids,
        anax_gets.max(tonbo_gets),
        anax_ranges.max(tonbo_ranges),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    if has_flag("--amplification") {
        rt.block_on(amp::run(&batches, &p));
        return;
    }
    let (raw_w, raw_r) = raw_floor(&batches, rows);
    let (a, a_hits) = rt.block_on(bench_anax(&batches, rows, &p, anax_gets));
    if std::env::args().any(|a| a == "--anax-only") {
        println!(
            "anax only: W1 {:.0} rows/s, W2 {:.0} gets/s, W3 {:.0} rows/s, W4 {:.1} scans/s, W5 {:.0} rows/s",
            a.w1, a.w2, a.w3, a.w4, a.w5
        );
        return;
    }
    let (t, t_hits) = rt.block_on(bench_tonbo(&batches, rows, &p, tonbo_gets, tonbo_ranges));
    assert_eq!(
        a_hits, t_hits,
        "W5 must select the same rows in both engines"
    );

    let rows_tbl = [
        ("W1", "ingest rows/s", a.w1, t.w1),
        ("W2", "point gets/s", a.w2, t.w2),
        ("W3", "full scan rows/s", a.w3, t.w3),
        ("W4", "1% range scans/s", a.w4, t.w4),
        ("W5", "filtered scan table rows/s", a.w5, t.w5),
    ];
    println!(
        "\n{rows} rows; Anax gets {anax_gets}, tonbo gets {tonbo_gets}; ranges {anax_ranges}/{tonbo_ranges}"
    );
    println!("| workload | unit | Anax | tonbo 0.4.0-a2 | Anax/tonbo |");
    println!("|---|---|---:|---:|---:|");
    let mut json = String::from("{\n");
    for (w, unit, av, tv) in rows_tbl.iter() {
        println!("| {w} | {unit} | {av:.0} | {tv:.1} | {:.1}x |", av / tv);
        json.push_str(&format!(
            "  \"{w}\": {{ \"anax\": {av:.1}, \"tonbo\": {tv:.1}, \"ratio\": {:.2} }},\n",
            av / tv
        ));
    }
    println!(
        "\nraw parquet floor (zstd, one file): write {raw_w:.0} rows/s, read {raw_r:.0} rows/s"
    );
    println!(
        "Anax W1 = {:.2} of the raw write; Anax W3 = {:.2} of the raw read",
        a.w1 / raw_w,
        a.w3 / raw_r
    );
    json.push_str(&format!(
        "  \"raw\": {{ \"write\": {raw_w:.1}, \"read\": {raw_r:.1}, \"w1_fraction\": {:.3}, \"w3_fraction\": {:.3} }},\n  \"rows\": {rows}\n}}\n",
        a.w1 / raw_w,
        a.w3 / raw_r
    ));
    std::fs::write(&out_path, json).unwrap();
    println!("wrote {out_path}");
}
