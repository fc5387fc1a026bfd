//! The read path: per-source resolved chunks (memtables, SSTs), their k-way merge into one
//! snapshot-consistent stream, value filters and projection.

pub mod filter;
pub mod mem_source;
pub mod merge;
mod scan_options;
pub mod sst_source;

pub use scan_options::{KeyRange, ScanOptions};

use arrow_array::{Array, ArrayRef, BinaryArray, BooleanArray, UInt64Array};

/// Rows per output batch of a scan, and per chunk of a memtable not sorted into a run.
pub const BATCH_ROWS: usize = 8192;

/// Rows of one source in scan order, already resolved within that source: at most one version
/// per key (the newest at or below the read timestamp), tombstones kept so that the merge can
/// let them hide older sources.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// The needed table columns, in the scan's `needed` order.
    pub columns: Vec<ArrayRef>,
    /// Encoded keys.
    pub keys: BinaryArray,
    /// Commit timestamps.
    pub ts: UInt64Array,
    /// Tombstone flags.
    pub tomb: BooleanArray,
}

impl Chunk {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the chunk has no rows.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
