//! Writes sealed memtables as one SST (see [`super::format`]).

use std::cmp::Reverse;
use std::sync::Arc;

use crate::gather::gather as interleave;
use arrow_array::{Array, ArrayRef, BinaryArray, BooleanArray, RecordBatch, UInt64Array};
use arrow_schema::SchemaRef;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::{KeyValue, RowGroupMetaData};

use super::format::{
    BLOCK_MAX_BYTES, BLOCK_ROWS, LargeValues, RG_CRC_KEY, ROW_GROUP_ROWS, file_schema, sst_schema,
    writer_properties,
};
use super::{Sst, SstMeta};
use crate::error::{Error, Result};
use crate::key::Timestamp;
use crate::memtable::{Entry, Memtable};
use crate::schema::TableSchema;

/// Encodes every version held by `mems` as one Parquet file, with point-read blocks when
/// `blocks`. Returns `None` when they are empty.
pub fn write_sst(
    table: &TableSchema,
    mems: &[&Memtable],
    id: u64,
    level: u32,
    path: String,
    blocks: bool,
) -> Result<Option<(Bytes, Arc<Sst>)>> {
    let encoded = encode_versions(table, mems, blocks)?;
    finish_sst(table, encoded, id, level, path)
}

/// [`write_sst`] of a memtable made for this file alone (a commit's rows on object storage),
/// dropped once its rows are encoded and before the last row group is laid into the file: for
/// a file of one row group (up to 32,768 versions, a commit's usual size), the file's buffer is
/// made after the values are freed and can take their place. (A 16 MiB value was held four
/// times at once, the row's own copy beside parquet's page and the file, and wasm memory
/// never shrinks.)
pub fn write_sst_owned(
    table: &TableSchema,
    mem: Memtable,
    id: u64,
    level: u32,
    path: String,
    blocks: bool,
) -> Result<Option<(Bytes, Arc<Sst>)>> {
    let encoded = encode_versions(table, &[&mem], blocks)?;
    drop(mem);
    finish_sst(table, encoded, id, level, path)
}

/// Lays the encoded file down and fills in its own fields.
fn finish_sst(
    table: &TableSchema,
    encoded: Option<(SstFileWriter, SstMeta)>,
    id: u64,
    level: u32,
    path: String,
) -> Result<Option<(Bytes, Arc<Sst>)>> {
    let Some((writer, meta)) = encoded else {
        return Ok(None);
    };
    let (bytes, tail_bytes, tail_crc) = writer.finish()?;
    let meta = SstMeta {
        id,
        level,
        path,
        bytes: bytes.len() as u64,
        tail_bytes,
        tail_crc,
        ..meta
    };
    let sst = Sst::from_written(table, meta, bytes.clone())?;
    Ok(Some((bytes, Arc::new(sst))))
}

/// Writes every version of `mems` into a new SST writer, its last row group encoded but not
/// yet laid into the file (see [`SstFileWriter::encode_group`]), and what the file's metadata
/// says of them (the file's own fields left to fill).
fn encode_versions(
    table: &TableSchema,
    mems: &[&Memtable],
    blocks: bool,
) -> Result<Option<(SstFileWriter, SstMeta)>> {
    let mut versions: Vec<(&[u8], Timestamp, usize, Entry)> = Vec::new();
    for (m, mem) in mems.iter().enumerate() {
        versions.extend(mem.versions_iter().map(|(k, ts, e)| (k, ts, m, e)));
    }
    if versions.is_empty() {
        return Ok(None);
    }
    versions.sort_unstable_by(|a, b| (a.0, Reverse(a.1)).cmp(&(b.0, Reverse(b.1))));

    let schema = sst_schema(table);
    let key_idx = table.key_indices();
    // Per table column: the arrays of every memtable, and where each memtable's start.
    let mut sources: Vec<Vec<ArrayRef>> = Vec::new();
    let mut offsets: Vec<usize> = Vec::new();
    for (c, field) in table.arrow().fields().iter().enumerate() {
        let key_pos = key_idx.iter().position(|&k| k == c);
        let mut col = Vec::new();
        let mut offs = Vec::new();
        for mem in mems {
            offs.push(col.len());
            col.extend(mem.column_sources(c, key_pos, field.data_type()));
        }
        if c == 0 {
            offsets = offs;
        }
        sources.push(col);
    }

    let distinct = 1 + versions
        .windows(2)
        .filter(|w| matches!(w, [a, b] if a.0 != b.0))
        .count();
    // The file is about as big as the rows (less when they compress): reserving that once
    // spares the doublings of a growing buffer, which with one large value held the old and
    // the new copy at once (a 16 MiB value: 48 MiB for the buffer alone).
    // The bytes the arrays hold, not the room their buffers have: a value built with room to
    // spare (see `RowsBuilder::size_string_columns`) must leave a space the file fits in.
    let row_bytes: usize = sources
        .iter()
        .flatten()
        .map(|a| {
            a.to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| a.get_buffer_memory_size())
        })
        .sum();
    // Point-read blocks hold the rows a second time, except rows too large for a block. Both
    // copies are compressed, but an estimate short of the file costs more than one past it: the
    // buffer then doubles, holding the old and the new at once (expecting half the rows again,
    // the bucket ingest of docs/benchmarks.md ran 9% slower).
    let in_blocks = if blocks && row_bytes / versions.len() <= BLOCK_MAX_BYTES / BLOCK_ROWS {
        row_bytes
    } else {
        0
    };
    let capacity = row_bytes
        .saturating_add(in_blocks)
        .saturating_add(versions.len().saturating_mul(64));
    let mut writer = SstFileWriter::new(table, distinct as u64, capacity, blocks)?;
    let mut start = 0;
    while start < versions.len() {
        let mut end = (start + ROW_GROUP_ROWS).min(versions.len());
        // Keep all versions of a key in one row group.
        while end < versions.len()
            && versions.get(end - 1).map(|v| v.0) == versions.get(end).map(|v| v.0)
        {
            end += 1;
        }
        let slice = versions.get(start..end).unwrap_or(&[]);
        let picks: Vec<(usize, usize)> = slice
            .iter()
            .map(|(_, _, m, e)| {
                let (src, row) = mems.get(*m).map_or((0, 0), |mem| mem.locate(*e));
                (offsets.get(*m).copied().unwrap_or(0) + src, row)
            })
            .collect();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        // Rows already in order in one source (a batch put in key order, a single row) are a
        // slice of it: no copy of their values.
        let run = picks.first().and_then(|&(src, row)| {
            picks
                .iter()
                .enumerate()
                .all(|(i, &(s, r))| s == src && r == row + i)
                .then_some((src, row))
        });
        for col in &sources {
            match run.and_then(|(src, row)| col.get(src).map(|a| (a, row))) {
                Some((a, row)) if row + picks.len() <= a.len() => {
                    columns.push(a.slice(row, picks.len()));
                }
                _ => {
                    let refs: Vec<&dyn Array> = col.iter().map(|a| a.as_ref()).collect();
                    columns.push(interleave(&refs, &picks)?);
                }
            }
        }
        columns.push(Arc::new(BinaryArray::from_iter_values(
            slice.iter().map(|v| v.0),
        )));
        columns.push(Arc::new(UInt64Array::from_iter_values(
            slice.iter().map(|v| v.1),
        )));
        columns.push(Arc::new(BooleanArray::from_iter(
            slice
                .iter()
                .map(|v| Some(matches!(v.3, Entry::Tombstone { .. }))),
        )));
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        // Every group but the last is laid into the file at once (its pages are not held
        // while the next group's rows are gathered); the last one by `finish`, after the
        // caller may have dropped the rows.
        if end < versions.len() {
            writer.write_group(&batch)?;
        } else {
            writer.encode_group(&batch)?;
        }
        start = end;
    }
    let (first, last) = match (versions.first(), versions.last()) {
        (Some(f), Some(l)) => (f.0, l.0),
        _ => return Err(Error::Internal("no versions to write".into())),
    };
    let meta = SstMeta {
        id: 0,
        level: 0,
        path: String::new(),
        rows: versions.len() as u64,
        bytes: 0,
        min_key: first.into(),
        max_key: last.into(),
        min_ts: versions.iter().map(|v| v.1).min().unwrap_or(0),
        max_ts: versions.iter().map(|v| v.1).max().unwrap_or(0),
        tombstones: versions
            .iter()
            .filter(|v| matches!(v.3, Entry::Tombstone { .. }))
            .count() as u64,
        distinct_keys: distinct as u64,
        ts_shift: 0,
        tail_bytes: 0,
        tail_crc: 0,
    };
    Ok(Some((writer, meta)))
}

/// Writes rows already in SST layout (the SST schema, sorted by key asc, ts desc) as one SST,
/// cutting row groups only between keys, with point-read blocks when `blocks`. Returns `None`
/// for no rows.
pub fn write_sorted(
    table: &TableSchema,
    rows: &RecordBatch,
    id: u64,
    level: u32,
    path: String,
    blocks: bool,
) -> Result<Option<(Bytes, Arc<Sst>)>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::UInt64Type;

    let n = rows.num_rows();
    if n == 0 {
        return Ok(None);
    }
    let k = table.arrow().fields().len();
    let col = |i: usize| {
        rows.columns()
            .get(i)
            .ok_or_else(|| Error::Internal("compaction rows lack a bookkeeping column".into()))
    };
    let keys = col(k)?.as_binary::<i32>();
    let ts = col(k + 1)?.as_primitive::<UInt64Type>();
    let tomb = col(k + 2)?.as_boolean();
    let distinct = 1
        + (1..n)
            .filter(|&i| keys.value(i) != keys.value(i - 1))
            .count();
    let schema = sst_schema(table);
    let batch = RecordBatch::try_new(schema, rows.columns().to_vec())?;
    let mut writer = SstFileWriter::new(table, distinct as u64, n * 64, blocks)?;
    let mut start = 0;
    while start < n {
        let mut end = (start + ROW_GROUP_ROWS).min(n);
        while end < n && keys.value(end - 1) == keys.value(end) {
            end += 1;
        }
        writer.write_group(&batch.slice(start, end - start))?;
        start = end;
    }
    let (bytes, tail_bytes, tail_crc) = writer.finish()?;
    let meta = SstMeta {
        id,
        level,
        path,
        rows: n as u64,
        bytes: bytes.len() as u64,
        min_key: keys.value(0).to_vec().into(),
        max_key: keys.value(n - 1).to_vec().into(),
        min_ts: ts.values().iter().copied().min().unwrap_or(0),
        max_ts: ts.values().iter().copied().max().unwrap_or(0),
        tombstones: tomb.true_count() as u64,
        distinct_keys: distinct as u64,
        ts_shift: 0,
        tail_bytes,
        tail_crc,
    };
    let sst = Sst::from_written(table, meta, bytes.clone())?;
    Ok(Some((bytes, Arc::new(sst))))
}

/// An SST being written in memory, one row group per [`SstFileWriter::write_group`], keeping
/// the checksums that let readers detect damage: a CRC32C per row group (of its column chunks,
/// in column order) stored in the footer's key-value metadata, and, from
/// [`SstFileWriter::finish`], the CRC32C of the file's tail (blooms, page index, footer) that
/// the manifest records.
pub struct SstFileWriter {
    /// Made at the first row group, whose values choose the columns written without a
    /// dictionary or uncompressed ([`LargeValues`]).
    writer: Option<ArrowWriter<FileBuf>>,
    schema: SchemaRef,
    keys: u64,
    capacity: usize,
    /// Columns written plain or uncompressed whatever the first row group holds.
    inherit: LargeValues,
    crcs: Vec<u32>,
    /// Whether point-read blocks are written.
    blocks: bool,
    /// A row group encoded by [`SstFileWriter::encode_group`] but not yet laid into the file.
    pending: bool,
}

impl SstFileWriter {
    /// A writer for `table`'s SSTs, sizing the bloom filter for `keys` distinct keys, adding
    /// point-read blocks (see [`super::format`]) when `blocks`.
    pub fn new(table: &TableSchema, keys: u64, capacity: usize, blocks: bool) -> Result<Self> {
        Ok(Self {
            writer: None,
            schema: file_schema(table, blocks),
            keys,
            capacity,
            inherit: LargeValues::default(),
            crcs: Vec::new(),
            blocks,
            pending: false,
        })
    }

    /// Also writes `columns`' choices (a compaction's inputs', see
    /// [`LargeValues::of_files`]): the output's first row group may not hold their large values.
    pub fn inheriting(mut self, columns: LargeValues) -> Self {
        self.inherit = columns;
        self
    }

    /// The file's writer, its settings chosen from `first`, the file's first row group.
    fn new_writer(&self, first: &RecordBatch) -> Result<ArrowWriter<FileBuf>> {
        Ok(ArrowWriter::try_new(
            FileBuf::new(self.capacity),
            self.schema.clone(),
            Some(writer_properties(
                self.keys,
                &LargeValues::of(first).union(&self.inherit),
            )),
        )?)
    }

    /// Writes `batch` (rows in the SST schema) as one whole row group and records its
    /// checksum.
    pub fn write_group(&mut self, batch: &RecordBatch) -> Result<()> {
        self.encode_group(batch)?;
        self.lay_down()
    }

    /// Encodes `batch` as the next row group, whose pages parquet then holds in memory until
    /// [`SstFileWriter::finish`] (or the next group) lays them into the file: the caller may
    /// drop the rows in between, and their memory can then hold the file.
    pub fn encode_group(&mut self, batch: &RecordBatch) -> Result<()> {
        self.lay_down()?;
        let with_blocks;
        let batch = if self.blocks {
            let mut columns = batch.columns().to_vec();
            columns.push(block_column(batch)?);
            with_blocks = RecordBatch::try_new(self.schema.clone(), columns)?;
            &with_blocks
        } else {
            batch
        };
        let writer = match self.writer.take() {
            Some(w) => w,
            None => self.new_writer(batch)?,
        };
        self.writer.insert(writer).write(batch)?;
        self.pending = true;
        Ok(())
    }

    /// Lays the encoded row group, if any, into the file and records its checksum.
    fn lay_down(&mut self) -> Result<()> {
        if !std::mem::take(&mut self.pending) {
            return Ok(());
        }
        let blocks = self.blocks;
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| Error::Internal("an encoded row group has no writer".into()))?;
        writer.flush()?;
        // The row group's bytes may still sit in parquet's write buffer.
        writer
            .sync()
            .map_err(|e| Error::Internal(format!("writing an SST in memory: {e}")))?;
        let rg = writer
            .flushed_row_groups()
            .last()
            .ok_or_else(|| Error::Internal("a flushed row group is missing".into()))?;
        let buf = &writer.inner().buf;
        let crc = row_group_crc(rg, blocks, |start, len| {
            let start = usize::try_from(start).ok()?;
            buf.get(start..start.checked_add(usize::try_from(len).ok()?)?)
        })
        .ok_or_else(|| Error::Internal("a row group lies outside the file written".into()))?;
        self.crcs.push(crc);
        Ok(())
    }

    /// Bytes of the row groups written so far.
    pub fn bytes_written(&self) -> usize {
        self.writer.as_ref().map_or(0, ArrowWriter::bytes_written)
    }

    /// Bytes buffered for a row group not yet written.
    pub fn in_progress_size(&self) -> usize {
        self.writer
            .as_ref()
            .map_or(0, ArrowWriter::in_progress_size)
    }

    /// Closes the file: its bytes, then the length and CRC32C of its tail (everything after the
    /// last row group).
    pub fn finish(mut self) -> Result<(Bytes, u64, u32)> {
        self.lay_down()?;
        let list: Vec<String> = self.crcs.iter().map(|c| format!("{c:08x}")).collect();
        let mut writer = match self.writer.take() {
            Some(w) => w,
            None => self.new_writer(&RecordBatch::new_empty(self.schema.clone()))?,
        };
        let data_end = writer.bytes_written();
        writer.append_key_value_metadata(KeyValue::new(RG_CRC_KEY.to_owned(), list.join(",")));
        let buf = writer.into_inner()?.buf;
        let tail = buf.get(data_end..).unwrap_or(&[]);
        let tail_crc = crc32c::crc32c(tail);
        let tail_bytes = tail.len() as u64;
        Ok((Bytes::from(buf), tail_bytes, tail_crc))
    }
}

/// The bytes of an SST being written. Its first large write (a row group's column chunks)
/// reserves the size the writer expects for the whole file, plus room for the footer, in one
/// allocation: reserved up front it stood beside parquet's encoder and page buffers of a large
/// value (four copies of it at once; wasm memory never shrinks), and grown by doubling it held
/// the old and the new buffer.
struct FileBuf {
    buf: Vec<u8>,
    /// The expected file size, reserved at the first write that needs more than a little.
    expect: usize,
}

impl FileBuf {
    /// Writes below this size grow the buffer as usual.
    const SMALL: usize = 64 << 10;

    fn new(expect: usize) -> Self {
        Self {
            buf: Vec::new(),
            expect,
        }
    }
}

impl std::io::Write for FileBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let need = self.buf.len().saturating_add(data.len());
        if need > self.buf.capacity() && need > Self::SMALL {
            let target = if self.buf.capacity() < self.expect {
                need.max(self.expect).saturating_add(Self::SMALL)
            } else {
                need.max(self.buf.capacity().saturating_mul(2))
            };
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// CRC32C of a row group's column chunks in column order, reading each chunk's bytes with
/// `bytes(start, len)`; `None` when a chunk is out of reach. The point-read block column, when
/// `blocks`, is left out: each block carries its own checksum, and readers that never fetch
/// blocks (scans, compaction) must still be able to check the rest.
pub(crate) fn row_group_crc<B: AsRef<[u8]>>(
    rg: &RowGroupMetaData,
    blocks: bool,
    bytes: impl Fn(u64, u64) -> Option<B>,
) -> Option<u32> {
    let mut crc = 0;
    let leaves = rg.columns().len() - usize::from(blocks && !rg.columns().is_empty());
    for col in rg.columns().iter().take(leaves) {
        let (start, len) = col.byte_range();
        crc = crc32c::crc32c_append(crc, bytes(start, len)?.as_ref());
    }
    Some(crc)
}

/// The point-read block column of one row group: at row `b * BLOCK_ROWS`, rows
/// `b * BLOCK_ROWS ..` of `batch` as an IPC stream followed by its CRC32C (4 bytes, little
/// endian), or null when larger than [`BLOCK_MAX_BYTES`]; null at every other row.
fn block_column(batch: &RecordBatch) -> Result<ArrayRef> {
    let n = batch.num_rows();
    let schema = batch.schema();
    let mut blocks: Vec<Option<Vec<u8>>> = Vec::with_capacity(n.div_ceil(BLOCK_ROWS));
    for start in (0..n).step_by(BLOCK_ROWS) {
        let len = BLOCK_ROWS.min(n - start);
        let slice = batch.slice(start, len);
        // Bound the slice before encoding it: 256 rows of megabyte values must not be copied
        // into a block only to be thrown away.
        let mut bytes = 0usize;
        for c in slice.columns() {
            bytes = bytes.saturating_add(c.to_data().get_slice_memory_size().unwrap_or(usize::MAX));
        }
        let block = if bytes > 2 * BLOCK_MAX_BYTES {
            None
        } else {
            let mut ipc = crate::ipc::encode_stream(&schema, &[slice])?;
            let crc = crc32c::crc32c(&ipc);
            ipc.extend_from_slice(&crc.to_le_bytes());
            Some(ipc).filter(|b| b.len() <= BLOCK_MAX_BYTES)
        };
        blocks.push(block);
    }
    let mut builder = arrow_array::builder::BinaryBuilder::with_capacity(
        n,
        blocks.iter().flatten().map(Vec::len).sum(),
    );
    for (i, block) in blocks.iter().enumerate() {
        match block {
            Some(b) => builder.append_value(b),
            None => builder.append_null(),
        }
        let rest = BLOCK_ROWS.min(n - i * BLOCK_ROWS) - 1;
        for _ in 0..rest {
            builder.append_null();
        }
    }
    Ok(Arc::new(builder.finish()))
}
