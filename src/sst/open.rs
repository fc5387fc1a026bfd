//! Opening an SST: its tail fetched and checked against the manifest's checksum (or its footer
//! walked when no checksum vouches for it), the footer and page index parsed and checked to
//! lie inside the file, and the bloom filters, key ranges and row-group checksums cached.

use std::sync::Arc;

use bytes::Bytes;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::bloom_filter::Sbbf;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::statistics::Statistics;

use super::sparse::SparseFile;
use super::{Sst, SstMeta, corrupt, footer_shape, format, writer};
use crate::error::Result;
use crate::schema::TableSchema;
use crate::storage::Storage;

/// SSTs up to this size are fetched whole when opened.
const WHOLE_READ_BYTES: u64 = 256 * 1024;
/// First guess of the footer size when opening a larger SST.
const TAIL_READ_BYTES: u64 = 64 * 1024;

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

    /// Opens an SST from its tail (the last `meta.tail_bytes` bytes), fetched by a ranged read
    /// or found in the tail pack: checked against the manifest's checksum, then parsed.
    pub fn from_tail(table: &TableSchema, meta: SstMeta, tail: Bytes) -> Result<Self> {
        let size = meta.bytes;
        if meta.tail_bytes == 0 || meta.tail_bytes > size || tail.len() as u64 != meta.tail_bytes {
            return Err(corrupt(
                &meta.path,
                "its tail is not the length the manifest says",
            ));
        }
        check_tail(&meta, &tail, size)?;
        let start = size - meta.tail_bytes;
        let mut reader =
            ParquetMetaDataReader::new().with_page_index_policy(PageIndexPolicy::Required);
        reader
            .try_parse_sized(&tail, size)
            .map_err(|e| corrupt(&meta.path, &format!("its checked tail does not parse: {e}")))?;
        let md = reader.finish()?;
        let mut file = SparseFile::new(size);
        file.add(start, tail);
        let arrow_meta = arrow_metadata(table, md)?;
        Self::from_metadata(table, meta, arrow_meta, &file)
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
            return Self::from_tail(table, meta, tail);
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
    pub(super) fn check_row_group(&self, file: &SparseFile, rg: usize) -> Result<()> {
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
            cache_blocks: false.into(),
        })
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
            cache_blocks: self.cache_blocks().into(),
        }
    }
}
