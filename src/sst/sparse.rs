//! A Parquet `ChunkReader` over byte ranges fetched ahead of time.
//!
//! Storage I/O is async (and not `Send` in wasm) while the parquet crate's decoder is sync, so a
//! read first computes which byte ranges it needs, fetches them (coalesced into few requests),
//! then decodes from memory. A request outside the fetched ranges is an error, never a panic.

use std::ops::Range;

use bytes::{Buf, Bytes};
use parquet::errors::{ParquetError, Result};
use parquet::file::reader::{ChunkReader, Length};

/// Fetched ranges of one file.
#[derive(Debug, Clone, Default)]
pub struct SparseFile {
    len: u64,
    chunks: Vec<(u64, Bytes)>,
}

impl SparseFile {
    /// An empty view of a file of `len` bytes.
    pub fn new(len: u64) -> Self {
        Self {
            len,
            chunks: Vec::new(),
        }
    }

    /// The whole file in memory.
    pub fn whole(bytes: Bytes) -> Self {
        Self {
            len: bytes.len() as u64,
            chunks: vec![(0, bytes)],
        }
    }

    /// Adds fetched bytes starting at `start`.
    pub fn add(&mut self, start: u64, bytes: Bytes) {
        self.chunks.push((start, bytes));
    }

    fn find(&self, start: u64, len: u64) -> Option<Bytes> {
        // Damaged metadata can ask for any range: add without overflowing.
        let want_end = start.checked_add(len)?;
        self.chunks.iter().find_map(|(s, b)| {
            let end = s + b.len() as u64;
            (start >= *s && want_end <= end)
                .then(|| b.slice((start - s) as usize..(want_end - s) as usize))
        })
    }
}

impl Length for SparseFile {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for SparseFile {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> Result<Self::T> {
        self.chunks
            .iter()
            .find_map(|(s, b)| {
                let end = s + b.len() as u64;
                (start >= *s && start < end).then(|| b.slice((start - s) as usize..).reader())
            })
            .ok_or_else(|| ParquetError::General(format!("byte {start} was not fetched")))
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes> {
        self.find(start, length as u64).ok_or_else(|| {
            ParquetError::General(format!("bytes {start}+{length} were not fetched"))
        })
    }
}

/// Merges ranges that overlap or lie within `gap` bytes of each other, so that neighbouring
/// column chunks or pages cost one request.
pub fn coalesce(mut ranges: Vec<Range<u64>>, gap: u64) -> Vec<Range<u64>> {
    ranges.retain(|r| r.start < r.end);
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end.saturating_add(gap) => {
                last.end = last.end.max(r.end);
            }
            _ => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_only_fetched_ranges() {
        let mut f = SparseFile::new(100);
        f.add(10, Bytes::from_static(b"abcdef"));
        assert_eq!(f.get_bytes(11, 3).unwrap(), Bytes::from_static(b"bcd"));
        assert!(f.get_bytes(14, 3).is_err());
        assert!(f.get_read(9).is_err());
        assert!(f.get_bytes(11, usize::MAX).is_err());
        assert_eq!(f.len(), 100);
    }

    #[test]
    fn coalesce_merges_near_ranges() {
        let r = coalesce(vec![20..30, 0..10, 12..15, 100..120, 5..6, 40..40], 2);
        assert_eq!(r, vec![0..15, 20..30, 100..120]);
    }
}
