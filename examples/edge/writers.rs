//! Many writers on one prefix: N handles (each on a thread of its own, as separate Workers or
//! processes would be) keep 8 one-row puts in flight each for a fixed time on a store that
//! answers every call after a round trip. Counts acknowledged puts, checks every acknowledged
//! row is there once, and counts the compare-and-swap attempts on the manifest head.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anax::storage::{Latency, LatencyStorage, Storage};
use anax::{ScanOptions, Value};
use arrow_array::Array;
use arrow_array::cast::AsArray;
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::tally::Tally;
use super::{Res, builder_on};

/// One run's figures.
pub struct WritersRun {
    pub writers: usize,
    pub acked: usize,
    pub failed: usize,
    pub puts_per_s: f64,
    pub lost: usize,
    pub duplicated: usize,
    pub cas_attempts_per_commit: f64,
    /// Manifest versions the run added (puts' groups, compactions, archiving).
    pub commits: u64,
}

/// `writers` handles, 8 puts in flight each, for `secs` seconds at `rtt_ms` per call.
pub fn run_writers(writers: usize, secs: f64, rtt_ms: f64) -> Res<WritersRun> {
    let base = Arc::new(Tally::default());
    let store = Arc::new(LatencyStorage::new(base.clone(), Latency::rtt(rtt_ms)));
    let storage: Arc<dyn Storage> = store.clone();
    let first = futures::executor::block_on(builder_on(storage.clone(), true).open())?;
    let version0 = first.stats()?.manifest_version;
    futures::executor::block_on(first.close())?;
    let attempts0 = base.head_writes();
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let storage = storage.clone();
            std::thread::spawn(move || -> Result<(Vec<String>, usize), String> {
                futures::executor::block_on(async move {
                    let db = builder_on(storage, true)
                        .open()
                        .await
                        .map_err(|e| e.to_string())?;
                    let mut acked = Vec::new();
                    let mut failed = 0usize;
                    let mut next = 0u64;
                    let mut flight = FuturesUnordered::new();
                    loop {
                        while flight.len() < 8 && Instant::now() < until {
                            let key = format!("w{w}-{next:08}");
                            next += 1;
                            let db = db.clone();
                            flight.push(async move {
                                let row = vec![
                                    Value::Str(key.clone()),
                                    Value::Int(next as i64),
                                    Value::Str("x".repeat(100)),
                                ];
                                (key, db.put_rows(&[row]).await)
                            });
                        }
                        match flight.next().await {
                            Some((key, Ok(_))) => acked.push(key),
                            Some((_, Err(_))) => failed += 1,
                            None => break,
                        }
                    }
                    db.close().await.map_err(|e| e.to_string())?;
                    Ok((acked, failed))
                })
            })
        })
        .collect();
    let mut acked = Vec::new();
    let mut failed = 0;
    for t in threads {
        let (a, f) = t
            .join()
            .map_err(|_| "a writer thread panicked")?
            .map_err(|e| format!("a writer failed: {e}"))?;
        acked.extend(a);
        failed += f;
    }
    let attempts = base.head_writes() - attempts0;
    // Checked at zero latency by a fresh handle: every acknowledged key, once.
    store.set_latency(Latency::rtt(0.0));
    let reader = futures::executor::block_on(builder_on(storage, true).open())?;
    let commits = reader.stats()?.manifest_version.saturating_sub(version0);
    let all = futures::executor::block_on(reader.scan(&ScanOptions::default()))?;
    let ids = all.column(0).as_string::<i32>();
    let mut seen = HashSet::with_capacity(ids.len());
    let mut duplicated = 0;
    for i in 0..ids.len() {
        if !ids.is_null(i) && !seen.insert(ids.value(i).to_owned()) {
            duplicated += 1;
        }
    }
    let lost = acked.iter().filter(|k| !seen.contains(k.as_str())).count();
    futures::executor::block_on(reader.close())?;
    Ok(WritersRun {
        writers,
        acked: acked.len(),
        failed,
        puts_per_s: acked.len() as f64 / secs,
        lost,
        duplicated,
        cas_attempts_per_commit: attempts as f64 / commits.max(1) as f64,
        commits,
    })
}
