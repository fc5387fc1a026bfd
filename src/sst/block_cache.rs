//! Decoded point-read blocks of recently read SSTs, kept for the whole process (in wasm: the
//! instance, a Worker isolate or a tab) within one byte budget, least recently used first out.
//!
//! A block is the rows of an immutable file, checked against its CRC32C and decoded once; SST
//! names are never reused (a random id per file), so an entry can never disagree with the file
//! it came from, and needs no invalidation: a file dropped by compaction just stops being asked
//! for and ages out. Entries are keyed by the file's id and size besides the block's place, so
//! that two tables' files would have to share both to be confused. Caching per process rather
//! than per handle lets the many short-lived handles of a Worker (or the handles of one table
//! in one tab) share what they read. Kept before the file's timestamp shift (a record's
//! `ts_shift` belongs to the manifest, not to the bytes).

use std::sync::Mutex;

use arrow_array::RecordBatch;

/// The budget until [`set_budget`] changes it: 8 MiB, about 50,000 rows of 100 bytes, within
/// what a Worker's 128 MB can spare beside a 16 MiB value's put.
pub const DEFAULT_BUDGET: usize = 8 << 20;

/// The least a block is charged against the budget.
const MIN_CHARGE: usize = 8 << 10;

/// A block's place: SST id, file size, row group, first and last block row.
pub(crate) type Key = (u64, u64, usize, usize, usize);

/// One cached block: its place, the block, its last use and its bytes.
type Entry = (Key, RecordBatch, u64, usize);

struct Cache {
    budget: usize,
    used: usize,
    tick: u64,
    hits: u64,
    misses: u64,
    /// At most budget / MIN_CHARGE blocks (1,024 at the default; a few hundred of a table's
    /// usual ~40 KB blocks): a scan of them costs a few microseconds, and a map would cost the
    /// shipped wasm kilobytes.
    entries: Vec<Entry>,
}

static CACHE: Mutex<Cache> = Mutex::new(Cache {
    budget: DEFAULT_BUDGET,
    used: 0,
    tick: 0,
    hits: 0,
    misses: 0,
    entries: Vec::new(),
});

fn with<T>(f: impl FnOnce(&mut Cache) -> T) -> T {
    // A poisoned lock only means a panic elsewhere mid-update; every update below leaves the
    // list and its byte count consistent at each step, so it can serve on.
    let mut guard = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut guard)
}

impl Cache {
    fn evict_to(&mut self, limit: usize) {
        while self.used > limit {
            let oldest = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.2)
                .map(|(i, _)| i);
            let Some(i) = oldest else {
                break;
            };
            let gone = self.entries.swap_remove(i);
            self.used = self.used.saturating_sub(gone.3);
        }
    }
}

/// The block at `key`, if cached (counted as a hit or a miss).
pub(crate) fn lookup(key: &Key) -> Option<RecordBatch> {
    with(|c| {
        c.tick += 1;
        let tick = c.tick;
        match c.entries.iter_mut().find(|e| e.0 == *key) {
            Some(e) => {
                e.2 = tick;
                c.hits += 1;
                Some(e.1.clone())
            }
            None => {
                c.misses += 1;
                None
            }
        }
    })
}

/// Keeps `batch` as the block at `key`, counted as `bytes` (its IPC bytes: the decoded arrays
/// share buffers, which arrow's own memory count would add once per array), evicting the least
/// recently used blocks to stay within the budget. A block larger than an eighth of the budget
/// is not kept: it would push out many others for one lookup's sake.
pub(crate) fn insert(key: Key, batch: RecordBatch, bytes: usize) {
    // Charged at least MIN_CHARGE: blocks of one-row commits are a few hundred bytes, and the
    // list must stay short enough to scan (at most budget / MIN_CHARGE entries).
    let bytes = bytes.max(MIN_CHARGE);
    with(|c| {
        if bytes > c.budget / 8 || c.entries.iter().any(|e| e.0 == key) {
            return;
        }
        c.evict_to(c.budget.saturating_sub(bytes));
        c.tick += 1;
        c.entries.push((key, batch, c.tick, bytes));
        c.used += bytes;
    });
}

/// Sets the budget in bytes (0 turns the cache off), evicting down to it at once.
pub fn set_budget(bytes: usize) {
    with(|c| {
        c.budget = bytes;
        c.evict_to(bytes);
    });
}

/// Bytes held, blocks held, hits and misses since the process started.
pub fn stats() -> (usize, usize, u64, u64) {
    with(|c| (c.used, c.entries.len(), c.hits, c.misses))
}
