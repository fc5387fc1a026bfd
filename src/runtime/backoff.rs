//! Backoff between retries of a conditional write (the manifest's compare-and-swap, a storage
//! call that failed transiently): one policy both retry loops share.

/// Backoff between compare-and-swap retries when a concurrent commit moved the manifest head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CasBackoffConfig {
    /// First delay, in ms (default 50).
    pub base_ms: u64,
    /// Largest delay, in ms (default 1,000).
    pub max_ms: u64,
    /// Attempts before giving up with a `CONFLICT` error (default 16).
    pub max_attempts: u32,
}

impl Default for CasBackoffConfig {
    fn default() -> Self {
        Self {
            base_ms: 50,
            max_ms: 1_000,
            max_attempts: 16,
        }
    }
}

impl CasBackoffConfig {
    /// Exponential delay for retry `attempt` (0-based) with jitter from `random`.
    pub fn delay_ms(&self, attempt: u32, random: u64) -> u64 {
        let cap = self
            .base_ms
            .saturating_mul(1u64 << attempt.min(20))
            .min(self.max_ms)
            .max(1);
        // Half fixed, half random: spreads racing writers without ever waiting zero.
        cap / 2 + random % (cap / 2 + 1)
    }
}
