//! Helpers shared by the native integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

/// xorshift64*: tiny, deterministic, good enough to drive randomized tests from a seed.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Seeds and ops for randomized tests: `ANAX_SEEDS=a,b,c` and `ANAX_OPS=n` override defaults.
pub fn seeds(default: &[u64]) -> Vec<u64> {
    match std::env::var("ANAX_SEEDS") {
        Ok(s) => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) => default.to_vec(),
    }
}

pub fn ops(default: usize) -> usize {
    std::env::var("ANAX_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Sets the flag when dropped while its thread unwinds from a panic, so the other threads of
/// a multi-threaded test stop and the scope reports the panic instead of hanging.
pub struct StopOnPanic<'a>(pub &'a std::sync::atomic::AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// The paths of the objects under `prefix`, sorted.
#[cfg(not(target_arch = "wasm32"))]
pub async fn paths(store: &dyn anax::storage::Storage, prefix: &str) -> Vec<String> {
    store
        .list(prefix)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.path)
        .collect()
}

#[cfg(not(target_arch = "wasm32"))]
pub mod kv;

#[cfg(not(target_arch = "wasm32"))]
pub mod shared_prefix;

#[cfg(not(target_arch = "wasm32"))]
pub mod wide;
