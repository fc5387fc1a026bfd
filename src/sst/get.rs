//! Point lookups: the newest version of one key at a read timestamp, pruned by key range,
//! row-group statistics, bloom filter and page index, then read from a point-read block or
//! column by column.

use std::ops::{Bound, Range};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_array::{Array, RecordBatch};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};

use super::{Sst, column, corrupt, format, pages, partition_point};
use crate::error::Result;
use crate::key::Timestamp;
use crate::storage::Storage;

/// A version found by a point lookup.
#[derive(Debug, Clone)]
pub enum Found {
    /// The row (a one-row batch of the requested columns) with its timestamp.
    Row(RecordBatch, Timestamp),
    /// A tombstone.
    Deleted(Timestamp),
}

/// A point lookup fetches both of its steps in one request when their pages span at most this.
const SINGLE_READ_SPAN: u64 = 256 * 1024;
/// A point lookup fetches every column's candidate pages at once when they add up to at most
/// this; above it (large values) it reads the bookkeeping columns first.
const ONE_ROUND_BYTES: u64 = 512 * 1024;

impl Sst {
    /// The newest version of `key` at or below `read_ts`, if this SST has one. Pruned by key
    /// range, row-group statistics, the bloom filter and the page index.
    pub async fn get(
        &self,
        storage: &dyn Storage,
        key: &[u8],
        read_ts: Timestamp,
        needed: &[usize],
    ) -> Result<Option<Found>> {
        if key < self.meta.min_key.as_ref() || key > self.meta.max_key.as_ref() {
            return Ok(None);
        }
        // Row-group bounds may be truncated (Parquet writers cut binary statistics, parquet-rs
        // at 64 bytes by default, rounding the max up): several row groups can then claim a
        // long key, so every candidate is tried. A key lives in one row group only, so the
        // first one that holds it answers.
        for (rg, (min, max)) in self.rg_keys.iter().enumerate() {
            if min.as_ref() > key || key > max.as_ref() {
                continue;
            }
            if let Some(Some(bloom)) = self.blooms.get(rg)
                && !bloom.check(&key.to_vec())
            {
                continue;
            }
            if let Some(found) = self.get_in_rg(storage, rg, key, read_ts, needed).await? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// [`Sst::get`] within row group `rg`.
    async fn get_in_rg(
        &self,
        storage: &dyn Storage,
        rg: usize,
        key: &[u8],
        read_ts: Timestamp,
        needed: &[usize],
    ) -> Result<Option<Found>> {
        let rows = self
            .pages_for_range(rg, Bound::Included(key), Bound::Included(key))
            .unwrap_or(0..usize::MAX);
        if rows.is_empty() {
            return Ok(None);
        }
        if let Some(found) = self
            .get_in_blocks(storage, rg, key, read_ts, needed, &rows)
            .await?
        {
            return Ok(found);
        }
        // The candidate pages (a few hundred rows) of every column are fetched in one round
        // trip: the page index says which rows they hold before the key is found, so nothing
        // waits on a decode. When their bytes lie close together (small SSTs, the
        // seal-every-batch case) one ranged read fetches them all; otherwise one read per
        // column chunk, issued together. Only when the value pages of the candidate rows are
        // large (megabyte values, or a file without a page index) does the lookup take two
        // steps: find the version among the small bookkeeping columns, then fetch the one
        // page per value column that holds it.
        let ranges = self.chunk_ranges(rg, &self.roots(needed), Some(&rows))?;
        let lo = ranges.iter().map(|r| r.start).min().unwrap_or(0);
        let hi = ranges.iter().map(|r| r.end).max().unwrap_or(0);
        let total: u64 = ranges.iter().map(|r| r.end - r.start).sum();
        let prefetched = if hi.saturating_sub(lo) <= SINGLE_READ_SPAN {
            Some(
                self.fetch(storage, std::iter::once(lo..hi).collect())
                    .await?,
            )
        } else if rows.end != usize::MAX && total <= ONE_ROUND_BYTES {
            Some(self.fetch(storage, ranges).await?)
        } else {
            None
        };
        let keys_batch = match &prefetched {
            Some(file) => self.decode_rg(file.clone(), rg, &[], Some(&rows))?,
            None => self.read_rg(storage, rg, &[], Some(rows.clone())).await?,
        };
        if let Some((i, t, deleted)) = newest_version(&keys_batch, 0, key, read_ts)? {
            if deleted {
                return Ok(Some(Found::Deleted(t)));
            }
            let row = rows.start + i;
            let batch = match prefetched {
                Some(file) => self.decode_rg(file, rg, needed, Some(&(row..row + 1)))?,
                None => {
                    self.read_rg(storage, rg, needed, Some(row..row + 1))
                        .await?
                }
            };
            if batch.num_rows() != 1 {
                return Err(corrupt(&self.meta.path, "row selection returned no row"));
            }
            let n = needed.len();
            let cols = batch.columns().get(..n).unwrap_or(&[]).to_vec();
            let schema = Arc::new(batch.schema().project(&(0..n).collect::<Vec<_>>())?);
            return Ok(Some(Found::Row(RecordBatch::try_new(schema, cols)?, t)));
        }
        Ok(None)
    }

    /// [`Sst::get_in_rg`] through the point-read blocks covering `rows`: one page of one
    /// column. `None` when the file has no blocks, the page index does not narrow the rows
    /// down, or a block was too large to store; the caller then reads column by column.
    async fn get_in_blocks(
        &self,
        storage: &dyn Storage,
        rg: usize,
        key: &[u8],
        read_ts: Timestamp,
        needed: &[usize],
        rows: &Range<usize>,
    ) -> Result<Option<Option<Found>>> {
        let Some(schema) = &self.block_schema else {
            return Ok(None);
        };
        let total = self.rg_rows(rg);
        let end = rows.end.min(total);
        if rows.start >= end {
            return Ok(Some(None));
        }
        let first = rows.start / format::BLOCK_ROWS * format::BLOCK_ROWS;
        let last = (end - 1) / format::BLOCK_ROWS * format::BLOCK_ROWS;
        // Without a narrowing page index every block would be read: columns are cheaper.
        if (last - first) / format::BLOCK_ROWS >= 4 {
            return Ok(None);
        }
        let cached = (self.meta.id, self.meta.bytes, rg, first, last);
        if self.cache_blocks()
            && let Some(block) = super::block_cache::lookup(&cached)
        {
            return self.version_in_block(block, key, read_ts, needed).map(Some);
        }
        let root = self.table_columns + 3;
        let span = first..last + 1;
        let file = self
            .fetch(storage, self.chunk_ranges(rg, &[root], Some(&span))?)
            .await?;
        let descr = self.arrow_meta.metadata().file_metadata().schema_descr();
        let selection = RowSelection::from(vec![
            RowSelector::skip(first),
            RowSelector::select(span.len()),
            RowSelector::skip(total - span.end),
        ]);
        let mask = ProjectionMask::roots(descr, [root]);
        let (_, batches) = pages::read(
            file,
            &self.arrow_meta,
            rg,
            mask,
            span.len(),
            Some(selection),
        )?;
        let mut cells = Vec::new();
        for batch in &batches {
            cells.push(column(batch, 0)?.clone());
        }
        let cells =
            arrow_select::concat::concat(&cells.iter().map(|c| c.as_ref()).collect::<Vec<_>>())?;
        let cells = cells
            .as_binary_opt::<i32>()
            .ok_or_else(|| corrupt(&self.meta.path, "the block column is not binary"))?;
        let mut parts = Vec::new();
        let mut held = 0;
        for start in (first..=last).step_by(format::BLOCK_ROWS) {
            let i = start - first;
            if i >= cells.len() {
                return Err(corrupt(&self.meta.path, "a point-read block is missing"));
            }
            if cells.is_null(i) {
                return Ok(None);
            }
            let cell = cells.value(i);
            held += cell.len();
            let (ipc, crc) = cell.split_at(cell.len().saturating_sub(4));
            if <[u8; 4]>::try_from(crc).ok().map(u32::from_le_bytes) != Some(crc32c::crc32c(ipc)) {
                return Err(corrupt(
                    &self.meta.path,
                    "a point-read block does not match its checksum (damaged bytes)",
                ));
            }
            let (got, batches) = crate::ipc::decode_stream(ipc)
                .map_err(|e| corrupt(&self.meta.path, &format!("a point-read block: {e}")))?;
            let want = format::BLOCK_ROWS.min(total - start);
            let rows_in: usize = batches.iter().map(RecordBatch::num_rows).sum();
            if got.fields() != schema.fields() || rows_in != want {
                return Err(corrupt(
                    &self.meta.path,
                    "a point-read block does not hold the rows its place says",
                ));
            }
            parts.extend(batches);
        }
        let block = arrow_select::concat::concat_batches(schema, &parts)?;
        if self.cache_blocks() {
            super::block_cache::insert(cached, block.clone(), held);
        }
        self.version_in_block(block, key, read_ts, needed).map(Some)
    }

    /// The newest version of `key` at or below `read_ts` in `block` (rows of this file as
    /// stored, before its timestamp shift).
    fn version_in_block(
        &self,
        block: RecordBatch,
        key: &[u8],
        read_ts: Timestamp,
        needed: &[usize],
    ) -> Result<Option<Found>> {
        let block = self.shift_ts(block, self.table_columns + 1)?;
        Ok(
            match newest_version(&block, self.table_columns, key, read_ts)? {
                None => None,
                Some((_, t, true)) => Some(Found::Deleted(t)),
                Some((i, t, false)) => Some(Found::Row(block.project(needed)?.slice(i, 1), t)),
            },
        )
    }
}

/// In a batch sorted by (key asc, ts desc) whose key, ts and tombstone columns start at column
/// `at`: the row of `key`'s newest version at or below `read_ts`, its timestamp and whether it
/// is a tombstone.
fn newest_version(
    batch: &RecordBatch,
    at: usize,
    key: &[u8],
    read_ts: Timestamp,
) -> Result<Option<(usize, Timestamp, bool)>> {
    let keys = column(batch, at)?.as_binary::<i32>();
    let ts = column(batch, at + 1)?.as_primitive::<UInt64Type>();
    let tomb = column(batch, at + 2)?.as_boolean();
    let first = partition_point(keys.len(), |i| keys.value(i) < key);
    Ok((first..keys.len())
        .take_while(|&i| keys.value(i) == key)
        .find(|&i| ts.value(i) <= read_ts)
        .map(|i| (i, ts.value(i), tomb.value(i))))
}
