//! A memtable. While mutable: ingested RecordBatches kept as they came (no row copies) plus an
//! ordered index from (key asc, commit timestamp desc) to the row that holds that version.
//! Sealed (no more writes), it gets a key filter, and is then gathered into one sorted run
//! (`run.rs`), after which the index and the batches are gone.
//!
//! Invariant: for a key, the first index entry at or after `(key, Reverse(T))` is the newest
//! version visible at read timestamp T. A tombstone and a put of one key never share a
//! timestamp within a commit, and a later write in one batch replaces an earlier one (last row
//! wins), so resolution is unambiguous. Pinned by `tests::newest_version_at_or_below_ts_wins`.

mod filter;
mod index;
mod read;
pub mod run;
mod seal;
mod table;

pub use table::Memtable;

pub use crate::key::Timestamp;

/// What one version of a key is.
///
/// In a memtable sorted into a run, `batch` is always 0 and `row` is the run's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// Row `row` of the memtable's batch number `batch`.
    Row {
        /// Index into the memtable's batches.
        batch: u32,
        /// Row within that batch.
        row: u32,
    },
    /// The key was deleted; row `row` of tombstone batch `batch` holds the key's columns.
    Tombstone {
        /// Index into the memtable's tombstone key batches.
        batch: u32,
        /// Row within that batch.
        row: u32,
    },
}

#[cfg(test)]
mod tests;
