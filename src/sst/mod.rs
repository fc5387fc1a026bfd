//! Sorted string tables: immutable Parquet files holding versions of rows (format in
//! [`format`]), written by [`writer`] and read by point lookups and range scans. Here: what an
//! SST is; opening, row-group reads and point lookups each have a file of their own, and range
//! scans stream an SST through the read path's SST source (`read::sst_source`).

pub mod block_cache;
mod footer_shape;
pub mod format;
mod get;
mod handle;
mod open;
pub mod pack;
mod pages;
mod row_group;
pub mod sparse;
pub mod void;
pub mod writer;

#[cfg(test)]
mod tests;

use std::ops::Bound;

use arrow_array::{ArrayRef, RecordBatch};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::bloom_filter::Sbbf;

use crate::error::{Error, Result};
use crate::key::KeyBytes;
use crate::key::Timestamp;

pub use get::Found;
pub use handle::SstHandle;

/// What the engine records about one SST (kept in the version set / manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SstMeta {
    /// Unique id within the database.
    pub id: u64,
    /// LSM level (0 = flushed memtables, may overlap).
    pub level: u32,
    /// Object path under the database root.
    pub path: String,
    /// Versions (rows) stored, tombstones included.
    pub rows: u64,
    /// File size.
    pub bytes: u64,
    /// Smallest encoded key.
    pub min_key: KeyBytes,
    /// Largest encoded key.
    pub max_key: KeyBytes,
    /// Oldest commit timestamp.
    pub min_ts: Timestamp,
    /// Newest commit timestamp.
    pub max_ts: Timestamp,
    /// Tombstone rows.
    pub tombstones: u64,
    /// Distinct keys (equal to `rows` when every key has one version).
    pub distinct_keys: u64,
    /// Added to every timestamp stored in the file when it is read. A seal-every-batch put
    /// that loses a commit race re-stamps its rows above the winner's this way, in the
    /// manifest, instead of rewriting the file. `min_ts`/`max_ts` include it.
    pub ts_shift: u64,
    /// Length of the file's tail: everything after the last row group (bloom filters, page
    /// index, footer), so an open fetches it in one exact read. 0 when unknown (recorded by a
    /// build that did not keep it).
    pub tail_bytes: u64,
    /// CRC32C of the tail, checked before any of it is parsed: a damaged, truncated or foreign
    /// file at this path is `CORRUPT`, and no decoder sees bytes the writer did not vouch for.
    pub tail_crc: u32,
}

impl SstMeta {
    /// Whether `tail` is this SST's tail, as far as the record vouches: a file of `size` bytes
    /// whose last `tail_bytes` bytes have `tail_crc` (a record without a tail length vouches
    /// for nothing). Tails taken from anywhere but the file itself pass this first.
    pub fn vouches_for_tail(&self, size: u64, tail: &[u8]) -> bool {
        self.tail_bytes > 0
            && size == self.bytes
            && tail.len() as u64 == self.tail_bytes
            && crc32c::crc32c(tail) == self.tail_crc
    }
}

/// An open SST: its metadata, parsed Parquet footer and page index, and per-row-group bloom
/// filters and key ranges, all cached in memory so a lookup costs only data-page reads.
#[derive(Debug)]
pub struct Sst {
    /// The SST's record.
    pub meta: SstMeta,
    arrow_meta: ArrowReaderMetadata,
    blooms: Vec<Option<Sbbf>>,
    pub(crate) rg_keys: Vec<(Bytes, Bytes)>,
    /// Each row group's CRC32C from the footer (empty for files written without them).
    rg_crcs: Vec<u32>,
    table_columns: usize,
    key_leaf: usize,
    /// The SST schema, when the file has point-read blocks (what each block decodes to).
    block_schema: Option<arrow_schema::SchemaRef>,
    /// Whether point reads go through the process's block cache (`block_cache`): files a
    /// table's handle opened do; files opened on their own (tools, tests) do not.
    cache_blocks: std::sync::atomic::AtomicBool,
}

impl Sst {
    /// Whether point reads of this file go through the process's block cache.
    pub(crate) fn set_cache_blocks(&self, on: bool) {
        self.cache_blocks
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    fn cache_blocks(&self) -> bool {
        self.cache_blocks.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The file's footer, as parquet parsed it.
    pub(crate) fn parquet_meta(&self) -> &parquet::file::metadata::ParquetMetaData {
        self.arrow_meta.metadata()
    }

    /// Whether the SST's key range intersects `range`.
    pub fn overlaps(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> bool {
        overlaps(&self.meta.min_key, &self.meta.max_key, lo, hi)
    }
}

fn corrupt(path: &str, what: &str) -> Error {
    Error::Corrupt(format!("SST {path}: {what}"))
}

pub(crate) fn column(batch: &RecordBatch, i: usize) -> Result<&ArrayRef> {
    batch
        .columns()
        .get(i)
        .ok_or_else(|| Error::Corrupt("SST batch lacks a column".into()))
}

/// The first index in `0..len` for which `pred` is false (`pred` is true on a prefix).
pub(crate) fn partition_point(len: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) { lo = mid + 1 } else { hi = mid }
    }
    lo
}

/// Whether `[min, max]` intersects the bounds.
pub(crate) fn overlaps(min: &[u8], max: &[u8], lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> bool {
    let above_lo = match lo {
        Bound::Included(l) => max >= l,
        Bound::Excluded(l) => max > l,
        Bound::Unbounded => true,
    };
    let below_hi = match hi {
        Bound::Included(h) => min <= h,
        Bound::Excluded(h) => min < h,
        Bound::Unbounded => true,
    };
    above_lo && below_hi
}
