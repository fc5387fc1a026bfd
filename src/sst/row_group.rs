//! Reading an SST's row groups: the byte ranges holding the needed columns (and, with a row
//! range, only its pages), one concurrent fetch of them, and their decoding with the
//! manifest's timestamp shift applied.

use std::ops::{Bound, Range};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::file::page_index::column_index::ColumnIndexMetaData;

use super::sparse::{SparseFile, coalesce};
use super::{Sst, corrupt, overlaps, pages};
use crate::error::Result;
use crate::storage::Storage;

impl Sst {
    pub(super) fn roots(&self, needed: &[usize]) -> Vec<usize> {
        let n = self.table_columns;
        needed.iter().copied().chain([n, n + 1, n + 2]).collect()
    }

    /// Byte ranges holding the `roots` columns of row group `rg`: every page overlapping
    /// `rows` (plus dictionary pages), or whole column chunks without `rows`.
    pub(super) fn chunk_ranges(
        &self,
        rg: usize,
        roots: &[usize],
        rows: Option<&Range<usize>>,
    ) -> Result<Vec<Range<u64>>> {
        let pq = self.arrow_meta.metadata();
        let descr = pq.file_metadata().schema_descr();
        let rg_meta = pq
            .row_groups()
            .get(rg)
            .ok_or_else(|| corrupt(&self.meta.path, "row group out of range"))?;
        let offset_index = pq.offset_index().and_then(|o| o.get(rg));
        let mut ranges = Vec::new();
        for leaf in 0..descr.num_columns() {
            if !roots.contains(&descr.get_column_root_idx(leaf)) {
                continue;
            }
            let col = rg_meta
                .columns()
                .get(leaf)
                .ok_or_else(|| corrupt(&self.meta.path, "missing column chunk"))?;
            let (start, len) = col.byte_range();
            let pages = offset_index
                .and_then(|o| o.get(leaf))
                .map(|o| o.page_locations());
            match (rows, pages) {
                (Some(r), Some(pages)) if !pages.is_empty() => {
                    let first_data = pages.first().map_or(start, |p| p.offset as u64);
                    if first_data > start {
                        ranges.push(start..first_data); // dictionary page
                    }
                    for (i, p) in pages.iter().enumerate() {
                        let p_start = p.first_row_index as usize;
                        let p_end = pages
                            .get(i + 1)
                            .map_or(usize::MAX, |n| n.first_row_index as usize);
                        if p_start < r.end && p_end > r.start {
                            let off = p.offset as u64;
                            ranges.push(off..off + p.compressed_page_size as u64);
                        }
                    }
                }
                _ => ranges.push(start..start + len),
            }
        }
        Ok(ranges)
    }

    /// Fetches `ranges` (coalesced) into a sparse view of the file. The reads are issued
    /// together: on an object store each costs a round trip, and none depends on another, so
    /// the fetch takes one round trip however many column chunks it touches.
    pub(super) async fn fetch(
        &self,
        storage: &dyn Storage,
        ranges: Vec<Range<u64>>,
    ) -> Result<SparseFile> {
        let path = self.meta.path.as_str();
        let reads = coalesce(ranges, 64 * 1024).into_iter().map(|r| async move {
            let bytes = storage.get_range(path, r.clone()).await?;
            if bytes.len() as u64 != r.end - r.start {
                return Err(corrupt(path, "short read"));
            }
            Ok((r.start, bytes))
        });
        let mut file = SparseFile::new(self.meta.bytes);
        for (start, bytes) in futures_util::future::try_join_all(reads).await? {
            file.add(start, bytes);
        }
        Ok(file)
    }

    /// Decodes rows `rows` (or all) of row group `rg` from already fetched bytes: the `needed`
    /// table columns then key, ts and tombstone.
    pub(super) fn decode_rg(
        &self,
        file: SparseFile,
        rg: usize,
        needed: &[usize],
        rows: Option<&Range<usize>>,
    ) -> Result<RecordBatch> {
        let pq = self.arrow_meta.metadata();
        let descr = pq.file_metadata().schema_descr();
        let rg_meta = pq
            .row_groups()
            .get(rg)
            .ok_or_else(|| corrupt(&self.meta.path, "row group out of range"))?;
        let total = rg_meta.num_rows() as usize;
        let selection = rows.map(|r| {
            let end = r.end.min(total);
            let start = r.start.min(end);
            RowSelection::from(vec![
                RowSelector::skip(start),
                RowSelector::select(end - start),
                RowSelector::skip(total - end),
            ])
        });
        let mask = ProjectionMask::roots(descr, self.roots(needed));
        let (schema, batches) = pages::read(file, &self.arrow_meta, rg, mask, total, selection)?;
        let batch = arrow_select::concat::concat_batches(&schema, &batches)?;
        self.shift_ts(batch, needed.len() + 1)
    }

    /// Applies the manifest's timestamp shift to the ts column at `col`.
    pub(super) fn shift_ts(&self, batch: RecordBatch, col: usize) -> Result<RecordBatch> {
        let shift = self.meta.ts_shift;
        if shift == 0 {
            return Ok(batch);
        }
        let mut columns = batch.columns().to_vec();
        let ts = columns
            .get(col)
            .ok_or_else(|| corrupt(&self.meta.path, "no timestamp column"))?
            .as_primitive::<UInt64Type>()
            .unary::<_, UInt64Type>(|t| t.saturating_add(shift));
        if let Some(c) = columns.get_mut(col) {
            *c = Arc::new(ts);
        }
        Ok(RecordBatch::try_new(batch.schema(), columns)?)
    }

    /// Reads rows `rows` (or all) of row group `rg`, fetching only the bytes of the `needed`
    /// columns plus the bookkeeping ones (and, with `rows`, only those pages).
    pub(crate) async fn read_rg(
        &self,
        storage: &dyn Storage,
        rg: usize,
        needed: &[usize],
        rows: Option<Range<usize>>,
    ) -> Result<RecordBatch> {
        let ranges = self.chunk_ranges(rg, &self.roots(needed), rows.as_ref())?;
        let file = self.fetch(storage, ranges).await?;
        if rows.is_none() && (0..self.table_columns).all(|c| needed.contains(&c)) {
            // Every byte of the row group is here (compaction inputs, full scans): check it,
            // so damage is found before it is merged into new files.
            self.check_row_group(&file, rg)?;
        }
        self.decode_rg(file, rg, needed, rows.as_ref())
    }

    /// Row range within row group `rg` whose pages may hold keys in `[lo, hi]`, from the page
    /// index (`None` when the file has no page index for the key column).
    pub(crate) fn pages_for_range(
        &self,
        rg: usize,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
    ) -> Option<Range<usize>> {
        let pq = self.arrow_meta.metadata();
        let pages = pq
            .offset_index()?
            .get(rg)?
            .get(self.key_leaf)?
            .page_locations();
        let ColumnIndexMetaData::BYTE_ARRAY(index) =
            pq.column_index()?.get(rg)?.get(self.key_leaf)?
        else {
            return None;
        };
        let mut first = None;
        let mut last = None;
        for i in 0..pages.len() {
            let (min, max) = (index.min_value(i)?, index.max_value(i)?);
            if overlaps(min, max, lo, hi) {
                first.get_or_insert(i);
                last = Some(i);
            }
        }
        let (Some(first), Some(last)) = (first, last) else {
            return Some(0..0);
        };
        let start = pages.get(first)?.first_row_index as usize;
        let end = pages
            .get(last + 1)
            .map_or(usize::MAX, |p| p.first_row_index as usize);
        Some(start..end)
    }

    /// Every version in the file (all table columns, then key, ts and tombstone), one batch
    /// per row group, in file order. Compaction reads its inputs this way.
    pub async fn read_all(&self, storage: &dyn Storage) -> Result<Vec<RecordBatch>> {
        let all: Vec<usize> = (0..self.table_columns).collect();
        let groups = self.arrow_meta.metadata().num_row_groups();
        let mut out = Vec::with_capacity(groups);
        for rg in 0..groups {
            out.push(self.read_rg(storage, rg, &all, None).await?);
        }
        Ok(out)
    }

    /// How many row groups the file has.
    pub fn row_groups(&self) -> usize {
        self.arrow_meta.metadata().num_row_groups()
    }

    /// How many rows row group `rg` has (0 past the last one).
    pub(crate) fn rg_rows(&self, rg: usize) -> usize {
        self.arrow_meta
            .metadata()
            .row_groups()
            .get(rg)
            .map_or(0, |g| g.num_rows().max(0) as usize)
    }

    /// Every version in row group `rg` (all table columns, then key, ts and tombstone), with
    /// the manifest's timestamp shift applied. Compaction streams its inputs this way.
    pub async fn read_row_group(&self, storage: &dyn Storage, rg: usize) -> Result<RecordBatch> {
        let all: Vec<usize> = (0..self.table_columns).collect();
        self.read_rg(storage, rg, &all, None).await
    }
}
