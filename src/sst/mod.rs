//! Sorted string tables: immutable Parquet files holding versions of rows (format in
//! [`format`]), written by [`writer`] and read by point lookups and range scans here.

mod footer_shape;
pub mod format;
mod pages;
pub mod sparse;
pub mod writer;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::ops::{Bound, Range};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow_select::take::take;
use bytes::Bytes;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, RowSelection, RowSelector,
};
use parquet::bloom_filter::Sbbf;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::statistics::Statistics;

use crate::error::{Error, Result};
use crate::key::KeyBytes;
use crate::memtable::Timestamp;
use crate::read::Chunk;
use crate::schema::TableSchema;
use crate::storage::Storage;
use sparse::{SparseFile, coalesce};

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

/// An open SST: its metadata, parsed Parquet footer and page index, and per-row-group bloom
/// filters and key ranges, all cached in memory so a lookup costs only data-page reads.
#[derive(Debug)]
pub struct Sst {
    /// The SST's record.
    pub meta: SstMeta,
    arrow_meta: ArrowReaderMetadata,
    blooms: Vec<Option<Sbbf>>,
    rg_keys: Vec<(Bytes, Bytes)>,
    /// Each row group's CRC32C from the footer (empty for files written without them).
    rg_crcs: Vec<u32>,
    table_columns: usize,
    key_leaf: usize,
    /// The SST schema, when the file has point-read blocks (what each block decodes to).
    block_schema: Option<arrow_schema::SchemaRef>,
}

/// An SST named by the manifest: its record at once, its footer on first use (then cached, so
/// a warm lookup costs only data-page reads).
#[derive(Debug)]
pub struct SstHandle {
    /// The SST's record.
    pub meta: SstMeta,
    opened: std::sync::Mutex<Option<Arc<Sst>>>,
}

impl SstHandle {
    /// A handle that opens the file when first read.
    pub fn lazy(meta: SstMeta) -> Self {
        Self {
            meta,
            opened: std::sync::Mutex::new(None),
        }
    }

    /// A handle on an SST already open (just written).
    pub fn opened(sst: Arc<Sst>) -> Self {
        Self {
            meta: sst.meta.clone(),
            opened: std::sync::Mutex::new(Some(sst)),
        }
    }

    /// Whether the footer is cached.
    pub fn is_open(&self) -> bool {
        self.opened.lock().map(|o| o.is_some()).unwrap_or(false)
    }

    /// The open SST, fetching its footer the first time.
    pub async fn open(&self, storage: &dyn Storage, table: &TableSchema) -> Result<Arc<Sst>> {
        if let Some(sst) = self.opened.lock().ok().and_then(|o| o.clone()) {
            return Ok(sst);
        }
        let sst = Arc::new(Sst::open(storage, table, self.meta.clone()).await?);
        if let Ok(mut o) = self.opened.lock() {
            *o = Some(sst.clone());
        }
        Ok(sst)
    }

    /// Whether the SST's key range intersects `range`.
    pub fn overlaps(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> bool {
        overlaps(&self.meta.min_key, &self.meta.max_key, lo, hi)
    }
}

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
/// SSTs up to this size are fetched whole when opened.
const WHOLE_READ_BYTES: u64 = 256 * 1024;
/// First guess of the footer size when opening a larger SST.
const TAIL_READ_BYTES: u64 = 64 * 1024;

fn corrupt(path: &str, what: &str) -> Error {
    Error::Corrupt(format!("SST {path}: {what}"))
}

/// Checks the last `meta.tail_bytes` of `bytes` (which end at the file's end, `size`) against
/// the manifest's checksum; a record without a tail length has nothing to check.
fn check_tail(meta: &SstMeta, bytes: &[u8], size: u64) -> Result<()> {
    if meta.tail_bytes == 0 {
        return Ok(());
    }
    let skip = (bytes.len() as u64).checked_sub(meta.tail_bytes);
    let tail = skip.and_then(|s| bytes.get(s as usize..));
    match tail {
        Some(t) if size == meta.bytes && crc32c::crc32c(t) == meta.tail_crc => Ok(()),
        Some(_) => Err(corrupt(
            &meta.path,
            "its footer does not match the checksum in the manifest (damaged, or another file \
             at this path)",
        )),
        None => Err(corrupt(&meta.path, "shorter than the manifest says")),
    }
}

/// How every SST is read: with its page index, and under the schema the table says its SSTs
/// have. Supplying the schema keeps parquet from decoding the Arrow schema embedded in the
/// footer (`ARROW:schema`), an IPC message arrow-ipc panics on when it is damaged (an Int of
/// bit width 0, found by the `sst_file` fuzz target); a file whose columns differ is refused.
/// The file schema is the SST schema, plus the point-read block column when the file has one.
fn reader_options(table: &TableSchema, md: &ParquetMetaData) -> ArrowReaderOptions {
    ArrowReaderOptions::new()
        .with_page_index_policy(PageIndexPolicy::Required)
        .with_schema(format::file_schema(table, has_blocks(table, md)))
}

/// Whether the file's last column is the point-read block column, after the SST schema's.
fn has_blocks(table: &TableSchema, md: &ParquetMetaData) -> bool {
    let root = md.file_metadata().schema_descr().root_schema();
    let fields = root.get_fields();
    fields.len() == table.arrow().fields().len() + 4
        && fields.last().is_some_and(|f| f.name() == format::BLOCK_COL)
}

/// Refuses a footer that places anything outside a file of `size` bytes: row counts, column
/// chunks and the page index's page locations. parquet `assert!`s that a chunk's start and
/// length are not negative (`ColumnChunkMetaData::byte_range`, found by the `sst_file` fuzz
/// target), and the reads here add and cast these numbers, so they are checked once at open.
fn check_places(md: &ParquetMetaData, size: u64) -> std::result::Result<(), String> {
    let inside = |start: i64, len: i64| {
        u64::try_from(start)
            .ok()
            .zip(u64::try_from(len).ok())
            .and_then(|(s, l)| s.checked_add(l))
            .is_some_and(|end| end <= size)
    };
    for (rg, group) in md.row_groups().iter().enumerate() {
        let rows = group.num_rows();
        if u32::try_from(rows).is_err() {
            return Err(format!("row group {rg} declares {rows} rows"));
        }
        // Each column chunk's [start, end), checked to lie in the file.
        let mut chunks = Vec::with_capacity(group.columns().len());
        for (i, col) in group.columns().iter().enumerate() {
            let start = col
                .dictionary_page_offset()
                .unwrap_or_else(|| col.data_page_offset());
            if !inside(start, col.compressed_size()) || col.data_page_offset() < start {
                return Err(format!(
                    "column chunk {i} of row group {rg} lies outside the file"
                ));
            }
            chunks.push((start, start + col.compressed_size()));
        }
        let Some(columns) = md.offset_index().and_then(|o| o.get(rg)) else {
            continue;
        };
        for (i, column) in columns.iter().enumerate() {
            // Pages lie in their column chunk: parquet subtracts the chunk's start from the
            // first page's offset to find the dictionary page.
            let Some(&(chunk_start, chunk_end)) = chunks.get(i) else {
                return Err(format!(
                    "the page index of row group {rg} has a column too many"
                ));
            };
            let mut first_row = 0;
            for page in column.page_locations() {
                let row = page.first_row_index;
                let end = page
                    .offset
                    .saturating_add(i64::from(page.compressed_page_size));
                if page.offset < chunk_start
                    || page.compressed_page_size < 0
                    || end > chunk_end
                    || row < first_row
                    || row > rows
                {
                    return Err(format!(
                        "the page index places a page of column {i} in row group {rg} outside \
                         its column chunk or its rows"
                    ));
                }
                first_row = row;
            }
        }
    }
    Ok(())
}

/// Arrow reader metadata for a parsed footer, under the table's schema.
fn arrow_metadata(table: &TableSchema, md: ParquetMetaData) -> Result<ArrowReaderMetadata> {
    let options = reader_options(table, &md);
    Ok(ArrowReaderMetadata::try_new(Arc::new(md), options)?)
}

impl Sst {
    /// Opens an SST just written by this process: nothing to verify.
    pub fn from_written(table: &TableSchema, meta: SstMeta, bytes: Bytes) -> Result<Self> {
        let md = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Required)
            .parse_and_finish(&bytes)?;
        let arrow_meta = arrow_metadata(table, md)?;
        Self::from_metadata(table, meta, arrow_meta, &SparseFile::whole(bytes))
    }

    /// Opens an SST whose whole file was fetched: its tail is checked against the manifest's
    /// checksum before it is parsed, then every row group against the footer's.
    pub fn from_bytes(table: &TableSchema, meta: SstMeta, bytes: Bytes) -> Result<Self> {
        if bytes.len() as u64 != meta.bytes {
            return Err(corrupt(&meta.path, "not the size the manifest says"));
        }
        check_tail(&meta, &bytes, meta.bytes)?;
        if meta.tail_bytes == 0 {
            footer_shape::check(&bytes, meta.bytes).map_err(|e| corrupt(&meta.path, &e))?;
        }
        let sst = Self::from_written(table, meta, bytes.clone())?;
        let file = SparseFile::whole(bytes);
        for rg in 0..sst.row_groups() {
            sst.check_row_group(&file, rg)?;
        }
        Ok(sst)
    }

    /// Opens an SST from storage: one ranged read of the file's tail (footer, page index and
    /// bloom filters, which the writer puts together at the end), or the whole file when small.
    pub async fn open(storage: &dyn Storage, table: &TableSchema, meta: SstMeta) -> Result<Self> {
        let size = meta.bytes;
        if meta.tail_bytes > size {
            return Err(corrupt(
                &meta.path,
                "the manifest's tail is longer than the file",
            ));
        }
        if size <= WHOLE_READ_BYTES {
            let bytes = storage.get_range(&meta.path, 0..size).await?;
            return Self::from_bytes(table, meta, bytes);
        }
        if meta.tail_bytes > 0 {
            let start = size - meta.tail_bytes;
            let tail = storage.get_range(&meta.path, start..size).await?;
            check_tail(&meta, &tail, size)?;
            let mut reader =
                ParquetMetaDataReader::new().with_page_index_policy(PageIndexPolicy::Required);
            reader.try_parse_sized(&tail, size).map_err(|e| {
                corrupt(&meta.path, &format!("its checked tail does not parse: {e}"))
            })?;
            let md = reader.finish()?;
            let mut file = SparseFile::new(size);
            file.add(start, tail);
            let arrow_meta = arrow_metadata(table, md)?;
            return Self::from_metadata(table, meta, arrow_meta, &file);
        }
        // A file recorded without its tail's length: guess, then widen.
        let mut want = TAIL_READ_BYTES.min(size);
        let mut tries = 0;
        let (tail, md) = loop {
            let tail = storage.get_range(&meta.path, size - want..size).await?;
            if tail.len() as u64 != want {
                return Err(corrupt(&meta.path, "shorter than the manifest says"));
            }
            // No checksum vouches for this tail: bound what it declares before parquet
            // reserves memory for it.
            footer_shape::check(&tail, size).map_err(|e| corrupt(&meta.path, &e))?;
            let mut reader =
                ParquetMetaDataReader::new().with_page_index_policy(PageIndexPolicy::Required);
            match reader.try_parse_sized(&tail, size) {
                Ok(()) => break (tail, reader.finish()?),
                Err(parquet::errors::ParquetError::NeedMoreData(n))
                    if (n as u64) > want && (n as u64) <= size && tries < 2 =>
                {
                    want = n as u64;
                    tries += 1;
                }
                Err(e) => return Err(e.into()),
            }
        };
        let mut file = SparseFile::new(size);
        let tail_start = size - want;
        file.add(tail_start, tail);
        // Bloom filters sit just before the page index; fetch any the tail missed.
        let bloom_start = md
            .row_groups()
            .iter()
            .flat_map(|rg| rg.columns().iter())
            .filter_map(|c| c.bloom_filter_offset())
            .filter_map(|o| u64::try_from(o).ok())
            .min();
        if let Some(start) = bloom_start.filter(|&s| s < tail_start) {
            let extra = storage.get_range(&meta.path, start..tail_start).await?;
            file.add(start, extra);
        }
        let arrow_meta = arrow_metadata(table, md)?;
        Self::from_metadata(table, meta, arrow_meta, &file)
    }

    /// Checks row group `rg` against its footer checksum; `file` must hold all of its bytes.
    fn check_row_group(&self, file: &SparseFile, rg: usize) -> Result<()> {
        let (Some(&want), Some(group)) = (
            self.rg_crcs.get(rg),
            self.arrow_meta.metadata().row_groups().get(rg),
        ) else {
            return Ok(());
        };
        let got = writer::row_group_crc(group, self.block_schema.is_some(), |start, len| {
            use parquet::file::reader::ChunkReader;
            file.get_bytes(start, usize::try_from(len).ok()?).ok()
        });
        match got {
            Some(got) if got == want => Ok(()),
            Some(_) => Err(corrupt(
                &self.meta.path,
                &format!("row group {rg} does not match its checksum (damaged bytes)"),
            )),
            // Not every byte is here (a caller's projection): nothing to check against.
            None => Ok(()),
        }
    }

    fn from_metadata(
        table: &TableSchema,
        meta: SstMeta,
        arrow_meta: ArrowReaderMetadata,
        file: &SparseFile,
    ) -> Result<Self> {
        let table_columns = table.arrow().fields().len();
        let pq: &ParquetMetaData = arrow_meta.metadata();
        check_places(pq, meta.bytes).map_err(|e| corrupt(&meta.path, &e))?;
        let descr = pq.file_metadata().schema_descr();
        let key_leaf = (0..descr.num_columns())
            .find(|&l| descr.get_column_root_idx(l) == table_columns)
            .ok_or_else(|| corrupt(&meta.path, "no key column"))?;
        let mut blooms = Vec::new();
        let mut rg_keys = Vec::new();
        for rg in pq.row_groups() {
            let col = rg
                .columns()
                .get(key_leaf)
                .ok_or_else(|| corrupt(&meta.path, "row group lacks the key column"))?;
            blooms.push(Sbbf::read_from_column_chunk(col, file).ok().flatten());
            let (min, max) = match col.statistics() {
                Some(s @ Statistics::ByteArray(_)) => (
                    s.min_bytes_opt().map(Bytes::copy_from_slice),
                    s.max_bytes_opt().map(Bytes::copy_from_slice),
                ),
                _ => (None, None),
            };
            rg_keys.push((
                min.unwrap_or_default(),
                max.unwrap_or_else(|| Bytes::from(vec![0xFF; meta.max_key.len() + 1])),
            ));
        }
        let rg_crcs = match pq
            .file_metadata()
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|e| e.key == format::RG_CRC_KEY))
            .and_then(|e| e.value.as_deref())
        {
            None => Vec::new(),
            Some("") => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|h| u32::from_str_radix(h, 16).ok())
                .collect::<Option<Vec<u32>>>()
                .filter(|c| c.len() == pq.num_row_groups())
                .ok_or_else(|| corrupt(&meta.path, "malformed row group checksums"))?,
        };
        let block_schema = has_blocks(table, pq).then(|| format::sst_schema(table));
        Ok(Self {
            meta,
            arrow_meta,
            blooms,
            rg_keys,
            rg_crcs,
            table_columns,
            key_leaf,
            block_schema,
        })
    }

    /// Whether the SST's key range intersects `range`.
    pub fn overlaps(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> bool {
        overlaps(&self.meta.min_key, &self.meta.max_key, lo, hi)
    }

    fn roots(&self, needed: &[usize]) -> Vec<usize> {
        let n = self.table_columns;
        needed.iter().copied().chain([n, n + 1, n + 2]).collect()
    }

    /// Byte ranges holding the `roots` columns of row group `rg`: every page overlapping
    /// `rows` (plus dictionary pages), or whole column chunks without `rows`.
    fn chunk_ranges(
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
    async fn fetch(&self, storage: &dyn Storage, ranges: Vec<Range<u64>>) -> Result<SparseFile> {
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
    fn decode_rg(
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
    fn shift_ts(&self, batch: RecordBatch, col: usize) -> Result<RecordBatch> {
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

    /// The same open file under a new record (a re-stamped commit): the parsed footer is
    /// shared, nothing is read again.
    pub fn with_meta(&self, meta: SstMeta) -> Sst {
        Sst {
            meta,
            arrow_meta: self.arrow_meta.clone(),
            blooms: self.blooms.clone(),
            rg_keys: self.rg_keys.clone(),
            rg_crcs: self.rg_crcs.clone(),
            table_columns: self.table_columns,
            key_leaf: self.key_leaf,
            block_schema: self.block_schema.clone(),
        }
    }

    /// Reads rows `rows` (or all) of row group `rg`, fetching only the bytes of the `needed`
    /// columns plus the bookkeeping ones (and, with `rows`, only those pages).
    async fn read_rg(
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
    fn pages_for_range(
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
        for start in (first..=last).step_by(format::BLOCK_ROWS) {
            let i = start - first;
            if i >= cells.len() {
                return Err(corrupt(&self.meta.path, "a point-read block is missing"));
            }
            if cells.is_null(i) {
                return Ok(None);
            }
            let cell = cells.value(i);
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
        let block = self.shift_ts(block, self.table_columns + 1)?;
        Ok(Some(
            match newest_version(&block, self.table_columns, key, read_ts)? {
                None => None,
                Some((_, t, true)) => Some(Found::Deleted(t)),
                Some((i, t, false)) => Some(Found::Row(block.project(needed)?.slice(i, 1), t)),
            },
        ))
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
    fn rg_rows(&self, rg: usize) -> usize {
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

    /// A scan source over this SST's rows in `[lo, hi]`. `limit`, the most rows the scan may
    /// return when known, makes a forward source read the pages of a row group a few at a
    /// time (then twice as many each time) instead of the whole rest of the row group: a
    /// 100-row scan moves tens of KiB, not megabytes.
    pub fn scan(
        self: &Arc<Self>,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        read_ts: Timestamp,
        reverse: bool,
        needed: Vec<usize>,
        limit: Option<usize>,
    ) -> SstSource {
        let mut rgs: VecDeque<usize> = self
            .rg_keys
            .iter()
            .enumerate()
            .filter(|(_, (min, max))| overlaps(min, max, lo, hi))
            .map(|(i, _)| i)
            .collect();
        if reverse {
            rgs = rgs.into_iter().rev().collect();
        }
        // A page more than the limit: the start key may sit at the end of its page.
        let piece = limit
            .filter(|_| !reverse)
            .map(|l| (l.div_ceil(format::PAGE_ROWS) + 1) * format::PAGE_ROWS);
        SstSource {
            sst: self.clone(),
            rgs,
            lo: own(lo),
            hi: own(hi),
            read_ts,
            reverse,
            needed,
            piece,
            pending: None,
            carry: None,
        }
    }
}

fn own(b: Bound<&[u8]>) -> Bound<KeyBytes> {
    b.map(KeyBytes::from)
}

fn column(batch: &RecordBatch, i: usize) -> Result<&ArrayRef> {
    batch
        .columns()
        .get(i)
        .ok_or_else(|| Error::Corrupt("SST batch lacks a column".into()))
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

/// Streams the resolved rows of one SST in key order, one row group at a time.
#[derive(Debug)]
pub struct SstSource {
    sst: Arc<Sst>,
    rgs: VecDeque<usize>,
    lo: Bound<KeyBytes>,
    hi: Bound<KeyBytes>,
    read_ts: Timestamp,
    reverse: bool,
    needed: Vec<usize>,
    /// Rows to read next from a row group, when reading it a piece at a time (forward scans
    /// with a limit); doubles after each piece.
    piece: Option<usize>,
    /// The rows of the current row group not read yet, when it is read in pieces.
    pending: Option<(usize, Range<usize>)>,
    /// The last key returned from the previous piece of the current row group: its older
    /// versions at the start of the next piece are not returned again.
    carry: Option<KeyBytes>,
}

impl SstSource {
    /// The next non-empty chunk, or `None` at the end.
    pub async fn next_chunk(&mut self, storage: &dyn Storage) -> Result<Option<Chunk>> {
        loop {
            let (rg, rows) = match self.pending.take() {
                Some((rg, rest)) => (rg, Some(rest)),
                None => {
                    let Some(rg) = self.rgs.pop_front() else {
                        return Ok(None);
                    };
                    self.carry = None;
                    let rows = self.sst.pages_for_range(
                        rg,
                        crate::key::bound_slice(&self.lo),
                        crate::key::bound_slice(&self.hi),
                    );
                    if rows.as_ref().is_some_and(|r| r.is_empty()) {
                        continue;
                    }
                    // A range inside the row group reads only its pages; a whole one reads
                    // everything (and checks the row group's checksum).
                    (rg, rows.filter(|r| r.start > 0 || r.end != usize::MAX))
                }
            };
            let rows = self.cut(rg, rows);
            let batch = self.sst.read_rg(storage, rg, &self.needed, rows).await?;
            if let Some(chunk) = self.resolve(&batch)? {
                return Ok(Some(chunk));
            }
        }
    }

    /// The rows of row group `rg` to read now out of `rows` (`None`: all of them), keeping the
    /// rest pending when reading in pieces.
    fn cut(&mut self, rg: usize, rows: Option<Range<usize>>) -> Option<Range<usize>> {
        // Without pieces the rows the page index narrowed stay as they are (a `?` here read
        // every unlimited range scan's row groups whole: 7x slower 1% range scans).
        let Some(step) = self.piece else {
            return rows;
        };
        let total = self.sst.rg_rows(rg);
        let r = rows.clone().unwrap_or(0..total);
        let r = r.start..r.end.min(total);
        if r.len() <= step {
            return rows;
        }
        let cut = r.start + step;
        self.pending = Some((rg, cut..r.end));
        self.piece = Some(step.saturating_mul(2));
        Some(r.start..cut)
    }

    /// Keeps, per key within the bounds, the first version at or below the read timestamp
    /// (rows are sorted key asc, ts desc, and a key never spans row groups; a key carried over
    /// from the previous piece of the row group was resolved there).
    fn resolve(&mut self, batch: &RecordBatch) -> Result<Option<Chunk>> {
        let n = self.needed.len();
        let keys = column(batch, n)?.as_binary::<i32>();
        let ts = column(batch, n + 1)?.as_primitive::<UInt64Type>();
        let len = keys.len();
        let start = match &self.lo {
            Bound::Included(l) => partition_point(len, |i| keys.value(i) < l.as_ref()),
            Bound::Excluded(l) => partition_point(len, |i| keys.value(i) <= l.as_ref()),
            Bound::Unbounded => 0,
        };
        let end = match &self.hi {
            Bound::Included(h) => partition_point(len, |i| keys.value(i) <= h.as_ref()),
            Bound::Excluded(h) => partition_point(len, |i| keys.value(i) < h.as_ref()),
            Bound::Unbounded => len,
        };
        let meta = &self.sst.meta;
        let mut picks: Vec<u32> = if meta.distinct_keys == meta.rows && meta.max_ts <= self.read_ts
        {
            // One version per key, all visible: resolution is the identity.
            (start as u32..end.max(start) as u32).collect()
        } else {
            let mut picks = Vec::new();
            let mut last: Option<&[u8]> = self.carry.as_deref();
            for i in start..end.max(start) {
                if ts.value(i) > self.read_ts {
                    continue;
                }
                let k = keys.value(i);
                if last != Some(k) {
                    picks.push(i as u32);
                    last = Some(k);
                }
            }
            picks
        };
        if picks.is_empty() {
            return Ok(None);
        }
        if self.piece.is_some()
            && let Some(&p) = picks.last()
        {
            self.carry = Some(KeyBytes::from(keys.value(p as usize)));
        }
        let contiguous = picks.len() == end.saturating_sub(start) && !self.reverse;
        let cols: Vec<ArrayRef> = if contiguous {
            // Every row in the bounds is its key's only visible version: no copy needed.
            batch
                .columns()
                .iter()
                .map(|c| c.slice(start, end - start))
                .collect()
        } else {
            if self.reverse {
                picks.reverse();
            }
            let idx = UInt32Array::from(picks);
            batch
                .columns()
                .iter()
                .map(|c| take(c.as_ref(), &idx, None))
                .collect::<Result<Vec<_>, _>>()?
        };
        let mut it = cols.into_iter();
        let columns: Vec<ArrayRef> = it.by_ref().take(n).collect();
        let (Some(k), Some(t), Some(tb)) = (it.next(), it.next(), it.next()) else {
            return Err(Error::Corrupt("SST batch lacks bookkeeping columns".into()));
        };
        Ok(Some(Chunk {
            columns,
            keys: k.as_binary::<i32>().clone(),
            ts: t.as_primitive::<UInt64Type>().clone(),
            tomb: tb.as_boolean().clone(),
        }))
    }

    /// The SST this source reads.
    pub fn sst(&self) -> &Arc<Sst> {
        &self.sst
    }
}
