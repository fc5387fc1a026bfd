//! What history costs on an object store: 10,000 single-row puts with default retention, then
//! the table's own GC. Counts the bytes every commit writes to `manifest/` (the head, history
//! archives, anything else the manifest keeps) and, at the end, every byte the bucket holds
//! against the bytes of the table's live SSTs.

use std::sync::Arc;
use std::time::Instant;

use anax::runtime::{Clock, SystemClock};
use anax::storage::{BoxFuture, Storage};

use super::tally::Tally;
use super::{Res, Rng, batch, builder_on};

/// The system clock, `ahead_ms` in the future: a GC run as it would after the orphan grace period.
#[derive(Debug)]
struct Ahead(u64);

impl Clock for Ahead {
    fn now_millis(&self) -> u64 {
        SystemClock.now_millis() + self.0
    }
    fn sleep(&self, ms: u64) -> BoxFuture<'static, ()> {
        SystemClock.sleep(ms)
    }
}

/// The figures of one run.
pub struct HistoryCost {
    pub puts: usize,
    pub manifest_bytes_per_commit: f64,
    pub bucket_space_amp: f64,
    /// The same after a GC run once the orphan grace period (default 10 minutes) has passed.
    pub space_amp_after_grace: f64,
    /// SST bytes written (puts and compactions) per byte of live SSTs at the end.
    pub sst_write_amp: f64,
    pub stored_bytes: u64,
    pub live_sst_bytes: u64,
    pub head_bytes: u64,
    /// Mean ms per put over the first and the last tenth of the puts (no latency injected).
    pub first_ms: f64,
    pub last_ms: f64,
}

/// `puts` single-row puts of the W1 shape: the first `distinct` insert new keys, the rest
/// update those keys at random.
pub async fn history_cost(puts: usize, distinct: usize) -> Res<HistoryCost> {
    let store = Arc::new(Tally::default());
    let storage: Arc<dyn Storage> = store.clone();
    let db = builder_on(storage, true).open().await?;
    let mut rng = Rng(0x5EED_0000_0000_0019);
    let mut ids = Vec::with_capacity(distinct);
    let tenth = (puts / 10).max(1);
    let (mut first, mut last) = (0.0, 0.0);
    let before = store.manifest_bytes();
    for i in 0..puts {
        let b = if i < distinct {
            batch(&mut rng, 1, &mut ids)?
        } else {
            let k = ids
                .get((rng.next() % ids.len().max(1) as u64) as usize)
                .cloned()
                .unwrap_or_default();
            let mut b = batch(&mut rng, 1, &mut Vec::new())?;
            b = super::with_id(b, &k)?;
            b
        };
        let t = Instant::now();
        db.put(b).await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if i < tenth {
            first += ms;
        } else if i >= puts - tenth {
            last += ms;
        }
    }
    let written = store.manifest_bytes() - before;
    db.gc().await?;
    let live_sst_bytes = db.stats()?.sst_bytes;
    let all = store.inner.list("").await?;
    let stored_bytes: u64 = all.iter().map(|o| o.size).sum();
    let head_bytes = all
        .iter()
        .find(|o| o.path == "manifest/HEAD")
        .map_or(0, |o| o.size);
    db.close().await?;
    let grace = anax::Retention::default().grace_ms;
    let later = builder_on(store.clone(), true)
        .with_clock(std::sync::Arc::new(Ahead(grace + 1_000)))
        .open()
        .await?;
    later.gc().await?;
    later.close().await?;
    let after: u64 = store.inner.list("").await?.iter().map(|o| o.size).sum();
    Ok(HistoryCost {
        puts,
        manifest_bytes_per_commit: written as f64 / puts as f64,
        bucket_space_amp: stored_bytes as f64 / live_sst_bytes.max(1) as f64,
        space_amp_after_grace: after as f64 / live_sst_bytes.max(1) as f64,
        sst_write_amp: store.sst_bytes() as f64 / live_sst_bytes.max(1) as f64,
        stored_bytes,
        live_sst_bytes,
        head_bytes,
        first_ms: first / tenth as f64,
        last_ms: last / tenth as f64,
    })
}
