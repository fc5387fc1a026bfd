//! The SST file format: a standard Parquet file (any Parquet reader opens it) holding the
//! table's columns plus three bookkeeping columns.
//!
//! Columns, in order: every table column (non-key columns nullable, since tombstone rows carry
//! only the key), then
//! - `_anax_key` (binary, non-null): the memcomparable key, so one column orders and prunes
//!   single and composite keys alike (row-group and page statistics, bloom filter);
//! - `_anax_ts` (uint64, non-null): the commit timestamp of the version;
//! - `_anax_tomb` (bool, non-null): true for a delete.
//!
//! - `_anax_block` (binary, nullable; only in files written for object stores): point-read
//!   blocks. Row `b * 256` of a row group holds rows `b * 256 .. (b + 1) * 256` of that row
//!   group, every column above, as one Arrow IPC stream; the other rows are null. A point
//!   lookup then fetches one page of one column (a few tens of KiB) instead of a page of every
//!   column, which Parquet stores far apart: one ranged read where it took one per column. A
//!   block whose IPC form exceeds [`BLOCK_MAX_BYTES`] is left null and such rows are looked up
//!   column by column. Readers tell the two layouts apart by this column's presence.
//!
//! Rows are sorted by (`_anax_key` asc, `_anax_ts` desc). Every version of one key lives in a
//! single row group (the writer cuts row groups only between keys), so a row group resolves
//! versions on its own in either direction. Pinned by `sst::tests`.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{
    BloomFilterPosition, EnabledStatistics, WriterProperties, WriterVersion,
};
use parquet::schema::types::ColumnPath;

use crate::schema::TableSchema;

/// The encoded-key column.
pub const KEY_COL: &str = "_anax_key";
/// The commit-timestamp column.
pub const TS_COL: &str = "_anax_ts";
/// The tombstone column.
pub const TOMB_COL: &str = "_anax_tomb";
/// Parquet key-value metadata naming the format version.
pub const FORMAT_KEY: &str = "anax.sst.format";
/// The point-read block column.
pub const BLOCK_COL: &str = "_anax_block";
/// Rows per point-read block (a multiple of [`PAGE_ROWS`], so a block's rows start a page).
pub const BLOCK_ROWS: usize = 256;
/// Largest block stored (its IPC bytes, before compression): rows of large values are read
/// column by column, where only the one page per column holding the row is fetched.
pub const BLOCK_MAX_BYTES: usize = 128 * 1024;
/// The current format version.
pub const FORMAT_VERSION: &str = "1";

/// Parquet key-value metadata holding each row group's CRC32C (of its column chunks' bytes in
/// column order), as comma-separated 8-digit hex. Readers check a row group whenever they hold
/// all of its bytes; the footer itself is covered by the tail checksum in the manifest.
pub const RG_CRC_KEY: &str = "anax.rg_crc32c";

/// Rows per row group the writer aims for (it cuts at the next key boundary after this).
pub const ROW_GROUP_ROWS: usize = 32 * 1024;
/// Largest dictionary page per column chunk. A point get decodes the dictionary page of every
/// column it reads (measured in wasm: 195 µs per SST get at 32 KiB, 125 µs at 4 KiB).
pub const DICTIONARY_PAGE_BYTES: usize = 4 * 1024;
/// Rows per data page: small pages make a point get decode little.
pub const PAGE_ROWS: usize = 256;

/// The SST schema for a table: its columns (non-key ones nullable) + the bookkeeping columns.
pub fn sst_schema(table: &TableSchema) -> SchemaRef {
    let key = table.key_indices();
    let mut fields: Vec<Field> = table
        .arrow()
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let f = f.as_ref().clone();
            if key.contains(&i) {
                f
            } else {
                f.with_nullable(true)
            }
        })
        .collect();
    fields.push(Field::new(KEY_COL, DataType::Binary, false));
    fields.push(Field::new(TS_COL, DataType::UInt64, false));
    fields.push(Field::new(TOMB_COL, DataType::Boolean, false));
    Arc::new(Schema::new_with_metadata(fields, HashMap::new()))
}

/// The Parquet file's schema: the SST schema, plus the point-read block column when `blocks`.
pub fn file_schema(table: &TableSchema, blocks: bool) -> SchemaRef {
    let sst = sst_schema(table);
    if !blocks {
        return sst;
    }
    let mut fields: Vec<Field> = sst.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(BLOCK_COL, DataType::Binary, true));
    Arc::new(Schema::new_with_metadata(fields, HashMap::new()))
}

/// Values at least this large are stored uncompressed when they make up most of their column's
/// bytes (see [`LargeValues`]).
pub const RAW_VALUE_BYTES: usize = 1 << 20;

/// Columns of an SST whose values are too large for the usual encoding.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LargeValues {
    /// Byte columns holding a value larger than a dictionary page ([`DICTIONARY_PAGE_BYTES`]),
    /// written without a dictionary. Such a value never stays in the dictionary, but parquet's
    /// writer first copies it into its interner, a dictionary page and that page's compression
    /// buffer: a 16 MiB value cost 64 MiB more at the peak of its put.
    pub plain: Vec<String>,
    /// Byte columns whose values of [`RAW_VALUE_BYTES`] or more make up at least half their
    /// bytes, written uncompressed: LZ4 sizes its output for the worst case and parquet grows
    /// that buffer by doubling, so a 16 MiB page held 32 MiB more while it was compressed.
    /// Values that large are mostly compressed already (media, archives); the cost is the
    /// bytes LZ4 would have saved on the ones that are not.
    pub raw: Vec<String>,
}

impl LargeValues {
    /// Adds `other`'s columns to this one's.
    pub fn union(mut self, other: &Self) -> Self {
        for (mine, theirs) in [(&mut self.plain, &other.plain), (&mut self.raw, &other.raw)] {
            for name in theirs {
                if !mine.contains(name) {
                    mine.push(name.clone());
                }
            }
        }
        self
    }

    /// The choices to carry from a compaction's input files (their footers) into its outputs,
    /// whose first row group may not hold the large values: a top-level byte column stored
    /// without a dictionary page in any input stays plain; one stored uncompressed stays so
    /// only while such chunks hold at least half of that column's bytes across the inputs, so
    /// that one large value merged into a table of small ones does not leave the whole column
    /// uncompressed.
    pub fn of_files<'a>(
        files: impl IntoIterator<Item = &'a parquet::file::metadata::ParquetMetaData>,
        table: &TableSchema,
    ) -> Self {
        let mut out = Self::default();
        // Per column: bytes in uncompressed chunks, bytes in all chunks.
        let mut sizes: HashMap<String, (i64, i64)> = HashMap::new();
        let bytes_column = |name: &str| {
            table.arrow().field_with_name(name).is_ok_and(|f| {
                matches!(
                    f.data_type(),
                    DataType::Utf8
                        | DataType::Binary
                        | DataType::LargeUtf8
                        | DataType::LargeBinary
                        | DataType::Utf8View
                        | DataType::BinaryView
                )
            })
        };
        for meta in files {
            for rg in meta.row_groups() {
                for cc in rg.columns() {
                    let [name] = cc.column_path().parts() else {
                        continue;
                    };
                    if !bytes_column(name) {
                        continue;
                    }
                    if cc.dictionary_page_offset().is_none() && !out.plain.contains(name) {
                        out.plain.push(name.clone());
                    }
                    let size = cc.uncompressed_size();
                    let entry = sizes.entry(name.clone()).or_insert((0, 0));
                    if cc.compression() == Compression::UNCOMPRESSED {
                        entry.0 = entry.0.saturating_add(size);
                    }
                    entry.1 = entry.1.saturating_add(size);
                }
            }
        }
        let mut raw: Vec<String> = sizes
            .into_iter()
            .filter(|(_, (raw, all))| *raw > 0 && raw.saturating_mul(2) >= *all)
            .map(|(name, _)| name)
            .collect();
        raw.sort();
        out.raw = raw;
        out
    }

    /// The columns of `batch` (a first row group) that need either treatment.
    pub fn of(batch: &arrow_array::RecordBatch) -> Self {
        use arrow_array::cast::AsArray;
        use arrow_array::{Array, OffsetSizeTrait};
        fn spans<O: OffsetSizeTrait>(offsets: &[O]) -> Vec<usize> {
            offsets
                .windows(2)
                .filter_map(|w| match w {
                    [a, b] => Some(b.as_usize().saturating_sub(a.as_usize())),
                    _ => None,
                })
                .collect()
        }
        let lengths = |a: &dyn Array| -> Vec<usize> {
            match a.data_type() {
                DataType::Utf8 => spans(a.as_string::<i32>().offsets()),
                DataType::Binary => spans(a.as_binary::<i32>().offsets()),
                DataType::LargeUtf8 => spans(a.as_string::<i64>().offsets()),
                DataType::LargeBinary => spans(a.as_binary::<i64>().offsets()),
                DataType::Utf8View => a.as_string_view().lengths().map(|n| n as usize).collect(),
                DataType::BinaryView => a.as_binary_view().lengths().map(|n| n as usize).collect(),
                _ => Vec::new(),
            }
        };
        let mut out = Self::default();
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            let lens = lengths(column.as_ref());
            if lens.iter().any(|&n| n > DICTIONARY_PAGE_BYTES) {
                out.plain.push(field.name().clone());
            }
            let total: usize = lens.iter().sum();
            let large: usize = lens.iter().filter(|&&n| n >= RAW_VALUE_BYTES).sum();
            if large > 0 && large.saturating_mul(2) >= total {
                out.raw.push(field.name().clone());
            }
        }
        out
    }
}

/// How much of a key page statistics keep (see [`writer_properties`]).
pub const KEY_STATS_BYTES: usize = 256;

/// Writer settings: LZ4 (raw) compression, page-level statistics of the encoded key and the page
/// index for pruning, a bloom filter on the encoded key, small pages; `large` names the
/// columns written without a dictionary or uncompressed (see [`LargeValues`]).
pub fn writer_properties(expected_keys: u64, large: &LargeValues) -> WriterProperties {
    let key = ColumnPath::from(KEY_COL);
    let mut builder = WriterProperties::builder();
    for name in &large.plain {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(name.as_str()), false);
    }
    for name in &large.raw {
        builder = builder
            .set_column_compression(ColumnPath::from(name.as_str()), Compression::UNCOMPRESSED);
    }
    builder
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::LZ4_RAW)
        // Only the encoded key's statistics are read (to find a key's row groups and pages).
        // Other columns get none: a cold open would fetch and decode their column index for
        // nothing, and the writer copies a value whole to keep it as a min or max before
        // truncating it (a 16 MiB value cost 32 MiB more while its SST was written).
        .set_statistics_enabled(EnabledStatistics::None)
        .set_column_statistics_enabled(key.clone(), EnabledStatistics::Page)
        // Parquet cuts minima and maxima at 64 bytes by default: keys sharing a longer prefix
        // (URLs, tenant paths) then all fall in every page's range, and a point read fetches
        // whole column chunks. Kept up to KEY_STATS_BYTES, the cut only costs tail bytes for
        // keys that long.
        .set_column_index_truncate_length(Some(KEY_STATS_BYTES))
        .set_statistics_truncate_length(Some(KEY_STATS_BYTES))
        .set_max_row_group_row_count(None)
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_write_batch_size(PAGE_ROWS)
        // A point get must read a column's dictionary page: keep it small, so high-cardinality
        // columns fall back to plain encoding early while low-cardinality ones still benefit.
        .set_dictionary_page_size_limit(DICTIONARY_PAGE_BYTES)
        .set_column_dictionary_enabled(key.clone(), false)
        .set_column_dictionary_enabled(ColumnPath::from(TS_COL), false)
        // Blooms at the end, next to the page index and footer: one tail read opens an SST.
        .set_bloom_filter_position(BloomFilterPosition::End)
        .set_column_bloom_filter_enabled(key.clone(), true)
        .set_column_bloom_filter_fpp(key.clone(), 0.01)
        .set_column_bloom_filter_ndv(key, expected_keys.max(1))
        // Blocks are opaque bytes: no dictionary, no statistics worth keeping.
        .set_column_dictionary_enabled(ColumnPath::from(BLOCK_COL), false)
        .set_column_statistics_enabled(ColumnPath::from(BLOCK_COL), EnabledStatistics::None)
        .set_key_value_metadata(Some(vec![KeyValue::new(
            FORMAT_KEY.to_owned(),
            FORMAT_VERSION.to_owned(),
        )]))
        .build()
}
