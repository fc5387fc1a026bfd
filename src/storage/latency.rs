//! A store that behaves like one across a network: every call waits a round trip (plus optional
//! jitter) and moves its bytes over one shared link of capped bandwidth, and every call is
//! counted where it would leave the machine. Benchmarks and tests state their figures at a
//! round-trip time with it; on a local store every call is free and the number of sequential
//! round trips, the real cost of an object store, is invisible.
//!
//! Native only: the shipped wasm does not carry it (browser and Worker benchmarks wrap the
//! JS bucket object instead).

// Native only, so the monotonic clock is safe here; the delay it measures never reaches data.
#![allow(clippy::disallowed_methods)]

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{BoxFuture, CountingStorage, ObjectMeta, PutMode, RequestCounts, Storage};
use crate::error::Result;

/// How a [`LatencyStorage`] delays calls.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Latency {
    /// Added to every call, in milliseconds.
    pub rtt_ms: f64,
    /// Up to this much more, uniformly at random, in milliseconds.
    pub jitter_ms: f64,
    /// Bytes per second of the one link every call's payload crosses (`None`: unlimited).
    /// Concurrent transfers share it, as they would a real connection.
    pub bytes_per_sec: Option<u64>,
}

impl Latency {
    /// A round trip of `ms` milliseconds, no jitter, unlimited bandwidth.
    pub fn rtt(ms: f64) -> Self {
        Self {
            rtt_ms: ms,
            ..Self::default()
        }
    }
}

/// Delays and counts every call to the store it wraps. The delay can be changed while the
/// store is in use (load a table at zero latency, then measure at 20 ms).
#[derive(Debug)]
pub struct LatencyStorage {
    inner: CountingStorage,
    rtt_us: AtomicU64,
    jitter_us: AtomicU64,
    bytes_per_sec: AtomicU64,
    /// When the shared link is next free.
    link: Mutex<Option<Instant>>,
    rng: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

fn to_us(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        (ms * 1000.0) as u64
    } else {
        0
    }
}

impl LatencyStorage {
    /// Wraps `inner` with `latency`.
    pub fn new(inner: Arc<dyn Storage>, latency: Latency) -> Self {
        let s = Self {
            inner: CountingStorage::new(inner),
            rtt_us: AtomicU64::new(0),
            jitter_us: AtomicU64::new(0),
            bytes_per_sec: AtomicU64::new(0),
            link: Mutex::new(None),
            rng: AtomicU64::new(0x9E37_79B9_7F4A_7C15),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
        };
        s.set_latency(latency);
        s
    }

    /// Changes the delay of calls made from now on.
    pub fn set_latency(&self, latency: Latency) {
        self.rtt_us.store(to_us(latency.rtt_ms), Ordering::Relaxed);
        self.jitter_us
            .store(to_us(latency.jitter_ms), Ordering::Relaxed);
        self.bytes_per_sec
            .store(latency.bytes_per_sec.unwrap_or(0), Ordering::Relaxed);
    }

    /// Every call made so far, by kind, with the bytes moved.
    pub fn counts(&self) -> RequestCounts {
        self.inner.counts()
    }

    /// The most calls that were in flight at once (reset by [`LatencyStorage::reset_peak`]).
    pub fn peak_in_flight(&self) -> u64 {
        self.max_in_flight.load(Ordering::Relaxed)
    }

    /// Starts a new peak measurement.
    pub fn reset_peak(&self) {
        self.max_in_flight
            .store(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// A uniform draw in `[0, 1)` (splitmix64: cheap, and a fixed seed keeps runs comparable).
    fn uniform(&self) -> f64 {
        let mut z = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// How long a call that moves `bytes` takes from `start`: its round trip, then its turn on
    /// the link.
    fn delay_for(&self, start: Instant, bytes: u64) -> Duration {
        let rtt = self.rtt_us.load(Ordering::Relaxed);
        let jitter = self.jitter_us.load(Ordering::Relaxed) as f64 * self.uniform();
        let mut wait = Duration::from_micros(rtt) + Duration::from_micros(jitter as u64);
        let bps = self.bytes_per_sec.load(Ordering::Relaxed);
        if bps > 0 && bytes > 0 {
            let transfer = Duration::from_secs_f64(bytes as f64 / bps as f64);
            let mut link = self.link.lock().unwrap_or_else(PoisonError::into_inner);
            let begin = link.map_or(start, |free| free.max(start));
            let done = begin + transfer;
            *link = Some(done);
            wait += done.saturating_duration_since(start);
        }
        wait
    }

    async fn call<T>(&self, bytes_out: u64, op: impl Future<Output = Result<T>>) -> Result<T>
    where
        T: Moved,
    {
        let start = Instant::now();
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_in_flight.fetch_max(now, Ordering::Relaxed);
        let out = op.await;
        let bytes_in = out.as_ref().map_or(0, |v| v.moved());
        let wait = self
            .delay_for(start, bytes_out + bytes_in)
            .saturating_sub(start.elapsed());
        if !wait.is_zero() {
            futures_timer::Delay::new(wait).await;
        }
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        out
    }
}

/// The payload bytes a reply carries back.
trait Moved {
    fn moved(&self) -> u64;
}

impl Moved for Bytes {
    fn moved(&self) -> u64 {
        self.len() as u64
    }
}

impl Moved for (Bytes, ObjectMeta) {
    fn moved(&self) -> u64 {
        self.0.len() as u64
    }
}

impl Moved for ObjectMeta {
    fn moved(&self) -> u64 {
        0
    }
}

impl Moved for Option<ObjectMeta> {
    fn moved(&self) -> u64 {
        0
    }
}

impl Moved for Vec<ObjectMeta> {
    fn moved(&self) -> u64 {
        // A listing's reply grows with its entries (~100 bytes each in an S3 XML listing).
        self.len() as u64 * 100
    }
}

impl Moved for () {
    fn moved(&self) -> u64 {
        0
    }
}

impl Moved for u64 {
    fn moved(&self) -> u64 {
        0
    }
}

impl Storage for LatencyStorage {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(self.call(0, self.inner.get(path)))
    }

    fn get_range<'a>(&'a self, path: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(self.call(0, self.inner.get_range(path, range)))
    }

    fn put<'a>(
        &'a self,
        path: &'a str,
        data: Bytes,
        mode: PutMode,
    ) -> BoxFuture<'a, Result<ObjectMeta>> {
        let n = data.len() as u64;
        Box::pin(self.call(n, self.inner.put(path, data, mode)))
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(self.call(0, self.inner.list(prefix)))
    }

    fn delete<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.call(0, self.inner.delete(path)))
    }

    fn head<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>>> {
        Box::pin(self.call(0, self.inner.head(path)))
    }

    fn get_object<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<(Bytes, ObjectMeta)>> {
        // One call, as on stores whose GET returns the version tag with the bytes (S3, R2).
        Box::pin(self.call(0, self.inner.get_object(path)))
    }

    // `conditional_writes_native` keeps its default (false): this stands for a store across a
    // network, whose first open pays the probe a server's does.
    fn supports_append(&self) -> bool {
        self.inner.supports_append()
    }

    fn append<'a>(&'a self, path: &'a str, data: Bytes) -> BoxFuture<'a, Result<u64>> {
        let n = data.len() as u64;
        Box::pin(self.call(n, self.inner.append(path, data)))
    }

    fn sync<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.call(0, self.inner.sync(path)))
    }

    fn close(&self) -> BoxFuture<'_, Result<()>> {
        self.inner.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;
    use futures::executor::block_on;

    fn store(latency: Latency) -> LatencyStorage {
        LatencyStorage::new(Arc::new(MemoryStorage::new()), latency)
    }

    #[test]
    fn every_call_waits_a_round_trip_and_is_counted() {
        let s = store(Latency::rtt(30.0));
        block_on(async {
            let t = Instant::now();
            s.put("a", Bytes::from_static(b"hello"), PutMode::Overwrite)
                .await
                .unwrap();
            assert_eq!(s.get_range("a", 1..3).await.unwrap().as_ref(), b"el");
            assert!(s.head("b").await.unwrap().is_none());
            assert!(
                t.elapsed() >= Duration::from_millis(90),
                "{:?}",
                t.elapsed()
            );
        });
        let c = s.counts();
        assert_eq!((c.put, c.get_range, c.head, c.total()), (1, 1, 1, 3));
        assert_eq!((c.bytes_written, c.bytes_read), (5, 2));
    }

    #[test]
    fn concurrent_calls_overlap_their_round_trips() {
        let s = store(Latency::rtt(40.0));
        block_on(async {
            s.put("a", Bytes::from_static(b"x"), PutMode::Overwrite)
                .await
                .unwrap();
            let t = Instant::now();
            let reads = (0..8).map(|_| s.get("a"));
            futures_util::future::try_join_all(reads).await.unwrap();
            let took = t.elapsed();
            // Eight sequential calls would take 320 ms.
            assert!(took >= Duration::from_millis(40), "{took:?}");
            assert!(took < Duration::from_millis(200), "{took:?}");
        });
        assert_eq!(s.peak_in_flight(), 8);
    }

    #[test]
    fn the_link_is_shared_at_its_bandwidth() {
        let s = store(Latency {
            rtt_ms: 0.0,
            jitter_ms: 0.0,
            bytes_per_sec: Some(1_000_000),
        });
        block_on(async {
            s.put("a", Bytes::from(vec![7u8; 50_000]), PutMode::Overwrite)
                .await
                .unwrap();
            let t = Instant::now();
            // 2 x 50 kB at 1 MB/s: 100 ms even when issued together.
            let reads = (0..2).map(|_| s.get("a"));
            futures_util::future::try_join_all(reads).await.unwrap();
            assert!(
                t.elapsed() >= Duration::from_millis(95),
                "{:?}",
                t.elapsed()
            );
        });
    }

    #[test]
    fn latency_can_be_changed_in_use() {
        let s = store(Latency::rtt(0.0));
        block_on(async {
            let t = Instant::now();
            for i in 0..50 {
                s.put(&format!("k{i}"), Bytes::new(), PutMode::Overwrite)
                    .await
                    .unwrap();
            }
            assert!(t.elapsed() < Duration::from_millis(50), "{:?}", t.elapsed());
            s.set_latency(Latency::rtt(25.0));
            let t = Instant::now();
            s.head("k1").await.unwrap();
            assert!(
                t.elapsed() >= Duration::from_millis(25),
                "{:?}",
                t.elapsed()
            );
        });
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        let s = store(Latency {
            rtt_ms: 5.0,
            jitter_ms: 10.0,
            bytes_per_sec: None,
        });
        let waits: Vec<Duration> = (0..200).map(|_| s.delay_for(Instant::now(), 0)).collect();
        assert!(waits.iter().all(|w| *w >= Duration::from_millis(5)));
        assert!(waits.iter().all(|w| *w < Duration::from_millis(15)));
        // Not a constant: the draws spread over the range.
        assert!(waits.iter().any(|w| *w > Duration::from_millis(12)));
        assert!(waits.iter().any(|w| *w < Duration::from_millis(8)));
    }
}
