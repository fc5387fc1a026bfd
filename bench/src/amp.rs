//! Read and write amplification per compaction strategy, on W1's data: `--amplification`.
//!
//! Each strategy ingests the same 1,000 batches (WAL on local disk, a flush every 100 batches,
//! compaction running automatically as configured), then answers 1,000 point gets and 50 range
//! scans of ~1% of the keys; then one full compaction, and the same reads again. Storage
//! requests and bytes come from the handle's own request accounting.

use std::ops::Bound;

use anax::{
    CompactionOptions, CompactionStrategy, LeveledOptions, TieredOptions, TimeWindowOptions,
};
use arrow_array::RecordBatch;

use crate::{Plan, fresh_dir, schema};

struct Reads {
    files: usize,
    levels: String,
    get_requests: f64,
    get_kib: f64,
    scan_requests: f64,
    scan_kib: f64,
}

async fn reads(db: &anax::Db, p: &Plan) -> Reads {
    // Warm-up: every SST's footer and blooms are read once, as a long-lived handle would have.
    for k in p.get_keys.iter().take(200) {
        db.get(&[k.as_str().into()]).await.unwrap();
    }
    let before = db.request_counts();
    let gets = 1_000;
    for k in p.get_keys.iter().skip(200).take(gets) {
        assert!(db.get(&[k.as_str().into()]).await.unwrap().is_some());
    }
    let g = db.request_counts().since(&before);
    let before = db.request_counts();
    let scans = 50;
    for (lo, hi) in p.ranges.iter().take(scans) {
        db.scan(&anax::ScanOptions {
            start: Bound::Included(vec![lo.as_str().into()]),
            end: Bound::Excluded(vec![hi.as_str().into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let s = db.request_counts().since(&before);
    let stats = db.stats().unwrap();
    Reads {
        files: stats.ssts,
        levels: stats
            .levels
            .iter()
            .map(|(l, n, _)| format!("L{l}:{n}"))
            .collect::<Vec<_>>()
            .join(" "),
        get_requests: g.gets() as f64 / gets as f64,
        get_kib: g.bytes_read as f64 / 1024.0 / gets as f64,
        scan_requests: s.gets() as f64 / scans as f64,
        scan_kib: s.bytes_read as f64 / 1024.0 / scans as f64,
    }
}

pub async fn run(batches: &[RecordBatch], p: &Plan) {
    let user_bytes: u64 = batches
        .iter()
        .map(|b| anax::ipc::encode_stream(&schema(), std::slice::from_ref(b)).unwrap().len() as u64)
        .sum();
    let strategies: Vec<(&str, Option<CompactionStrategy>)> = vec![
        ("none", None),
        ("leveled", Some(CompactionStrategy::Leveled(LeveledOptions::default()))),
        ("tiered", Some(CompactionStrategy::Tiered(TieredOptions::default()))),
        (
            "time-window",
            Some(CompactionStrategy::TimeWindow(TimeWindowOptions::default())),
        ),
    ];
    println!(
        "\n{} rows, {:.1} MiB of user data (Arrow IPC); WAL on local disk, a flush every 100 batches",
        batches.iter().map(|b| b.num_rows()).sum::<usize>(),
        user_bytes as f64 / 1048576.0
    );
    println!(
        "| strategy | phase | SSTs | levels | write amp | requests/get | KiB/get | requests/scan | KiB/scan | jobs |"
    );
    println!("|---|---|---:|---|---:|---:|---:|---:|---:|---:|");
    for (name, strategy) in strategies {
        let dir = fresh_dir(&format!("amp-{name}"));
        let options = CompactionOptions {
            strategy: strategy.unwrap_or_default(),
            automatic: strategy.is_some(),
            ..CompactionOptions::default()
        };
        let db = anax::DbBuilder::from_schema_key_name(schema(), "id")
            .on_disk(&dir)
            .with_seal_policy(anax::SealPolicy::BatchesThreshold { batches: 100 })
            .with_minor_compaction(1, 0)
            .wal_sync_policy(anax::WalSyncPolicy::IntervalTime(50))
            .with_compaction_options(options)
            .open()
            .await
            .unwrap();
        for b in batches {
            db.put(b.clone()).await.unwrap();
        }
        db.flush().await.unwrap();
        let written = db.request_counts().bytes_written;
        let r = reads(&db, p).await;
        let jobs = db.stats().unwrap().compaction.jobs;
        let row = |phase: &str, wa: f64, r: &Reads, jobs: u64| {
            println!(
                "| {name} | {phase} | {} | {} | {wa:.2} | {:.2} | {:.1} | {:.1} | {:.0} | {jobs} |",
                r.files, r.levels, r.get_requests, r.get_kib, r.scan_requests, r.scan_kib
            )
        };
        row("after ingest", written as f64 / user_bytes as f64, &r, jobs);
        db.compact().await.unwrap();
        let written = db.request_counts().bytes_written;
        let r = reads(&db, p).await;
        let jobs = db.stats().unwrap().compaction.jobs;
        row("+ full compaction", written as f64 / user_bytes as f64, &r, jobs);
        db.close().await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!(
        "write amp = bytes written to storage (WAL + SSTs + manifest) / user bytes; reads warm \
         (footers and blooms cached); 1,000 gets, 50 scans of ~1% of the keys"
    );
}
