//! Builder options: when memtables seal, when sealed memtables flush to L0, and the clock.

/// When the mutable memtable is frozen into an immutable (sealed) one. Sealed memtables stay
/// readable until minor compaction flushes them into an L0 SST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealPolicy {
    /// Seal once this many batches (puts or deletes) were ingested. `{ batches: 1 }` seals
    /// after every batch: the low-latency policy for wasm and object stores.
    BatchesThreshold {
        /// Batches per memtable.
        batches: usize,
    },
    /// Seal once this many rows (versions) were ingested.
    Rows(usize),
    /// Seal once the memtable holds about this many bytes.
    Bytes(usize),
    /// Seal at the first write after the memtable is this many milliseconds old.
    AgeMillis(u64),
    /// Never seal on its own (only `flush` seals).
    Never,
}

impl Default for SealPolicy {
    /// 8 MiB memtables.
    fn default() -> Self {
        SealPolicy::Bytes(8 << 20)
    }
}

/// Minor compaction: flushing sealed memtables into one L0 SST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinorCompaction {
    /// Flush once this many sealed memtables are waiting (default 4).
    pub segment_threshold: usize,
    /// The level the SST lands in (default 0).
    pub target_level: u32,
}

impl Default for MinorCompaction {
    fn default() -> Self {
        Self {
            segment_threshold: 4,
            target_level: 0,
        }
    }
}

/// Milliseconds since the Unix epoch. Engine code never reads the system clock directly, so
/// tests control time and wasm32 never reaches `std::time` (which panics there).
pub trait Clock: std::fmt::Debug + crate::storage::MaybeSendSync {
    /// Now, in milliseconds since the epoch.
    fn now_millis(&self) -> u64;
}

/// The platform clock: `Date.now()` in wasm, the system time natively.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[cfg(target_arch = "wasm32")]
    fn now_millis(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[allow(clippy::disallowed_methods)] // the one sanctioned read of the system clock
    fn now_millis(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// A clock tests move by hand.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicU64);

impl ManualClock {
    /// A clock at `ms`.
    pub fn new(ms: u64) -> Self {
        Self(std::sync::atomic::AtomicU64::new(ms))
    }

    /// Moves the clock forward.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}
