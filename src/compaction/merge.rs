//! The streaming merge: reads the input SSTs one row group at a time, merges their versions in
//! (key asc, ts desc) order, drops what no reader can see, and writes output files of bounded
//! size as it goes. Memory holds one row group per input plus the output file being built.

use std::sync::Arc;

use crate::gather::gather as interleave;
use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_array::{Array, ArrayRef, BinaryArray, BooleanArray, RecordBatch, UInt64Array};
use arrow_schema::SchemaRef;

use crate::control::Phase;
use crate::error::{Error, Result};
use crate::key::Timestamp;
use crate::schema::TableSchema;
use crate::sst::format::{LargeValues, ROW_GROUP_ROWS};
use crate::sst::writer::SstFileWriter;
use crate::sst::{Sst, SstMeta};
use crate::storage::{PutMode, Storage};

/// What a merge may drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// The oldest read timestamp anyone may still use (retained versions, live snapshots).
    /// Per key, every version above it is kept, plus the newest one at or below it.
    pub horizon: Timestamp,
    /// Whether that newest version at or below the horizon may be dropped when it is a
    /// tombstone: only when no SST outside the inputs can hold an older version of the key.
    pub drop_tombstones: bool,
}

/// Where one output file ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Rows per output file.
    pub max_rows: Option<u64>,
    /// Approximate bytes per output file.
    pub max_bytes: Option<u64>,
    /// Whether output files carry point-read blocks.
    pub blocks: bool,
}

/// What a merge read and wrote.
#[derive(Debug, Default)]
pub struct Merged {
    /// The output files, already stored, in key order.
    pub outputs: Vec<Arc<Sst>>,
    /// Versions read.
    pub rows_in: u64,
    /// Versions written.
    pub rows_out: u64,
    /// Bytes of the inputs.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
}

struct Cursor {
    sst: Arc<Sst>,
    next_rg: usize,
    /// Index of the current batch in the arena.
    slot: usize,
    keys: BinaryArray,
    ts: UInt64Array,
    tomb: BooleanArray,
    row: usize,
}

impl Cursor {
    async fn load(
        &mut self,
        storage: &dyn Storage,
        k: usize,
        arena: &mut Vec<RecordBatch>,
    ) -> Result<bool> {
        while self.next_rg < self.sst.row_groups() {
            let batch = self.sst.read_row_group(storage, self.next_rg).await?;
            self.next_rg += 1;
            if batch.num_rows() == 0 {
                continue;
            }
            let col = |i: usize| {
                batch.columns().get(i).cloned().ok_or_else(|| {
                    Error::Corrupt(format!("{}: no bookkeeping column", self.sst.meta.path))
                })
            };
            self.keys = col(k)?.as_binary::<i32>().clone();
            self.ts = col(k + 1)?.as_primitive::<UInt64Type>().clone();
            self.tomb = col(k + 2)?.as_boolean().clone();
            self.row = 0;
            self.slot = arena.len();
            arena.push(batch);
            return Ok(true);
        }
        Ok(false)
    }

    fn head(&self) -> (&[u8], Timestamp) {
        // `row` is always in bounds for a cursor still in the list.
        (self.keys.value(self.row), self.ts.value(self.row))
    }
}

/// One output file being written.
struct OutFile {
    writer: SstFileWriter,
    id: u64,
    path: String,
    rows: u64,
    tombstones: u64,
    distinct: u64,
    min_key: Option<Vec<u8>>,
    max_key: Vec<u8>,
    min_ts: Timestamp,
    max_ts: Timestamp,
}

/// Merges `inputs` under `rules` into files at `level` named by `name(id)`, storing each as it
/// completes. Outputs are never empty; no rows at all yields no outputs. A merge that fails or
/// is stopped by `control` deletes the outputs it had stored (no head names them yet), so they
/// do not wait for GC's orphan sweep.
#[allow(clippy::too_many_arguments)]
pub async fn merge(
    storage: &dyn Storage,
    table: &TableSchema,
    inputs: Vec<Arc<Sst>>,
    rules: Rules,
    limits: Limits,
    level: u32,
    name: &dyn Fn(u64) -> String,
    control: &crate::control::Control,
) -> Result<Merged> {
    let mut out = Merged {
        bytes_in: inputs.iter().map(|s| s.meta.bytes).sum(),
        ..Merged::default()
    };
    let run = merge_into(
        &mut out, storage, table, inputs, rules, limits, level, name, control,
    );
    match run.await {
        Ok(()) => Ok(out),
        Err(e) => {
            for s in &out.outputs {
                let _ = storage.delete(&s.meta.path).await;
            }
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn merge_into(
    out: &mut Merged,
    storage: &dyn Storage,
    table: &TableSchema,
    inputs: Vec<Arc<Sst>>,
    rules: Rules,
    limits: Limits,
    level: u32,
    name: &dyn Fn(u64) -> String,
    control: &crate::control::Control,
) -> Result<()> {
    let schema = crate::sst::format::sst_schema(table);
    let k = table.arrow().fields().len();
    let total = inputs.iter().map(|s| s.meta.rows).sum::<u64>();
    control.step(Phase::Compact, 0, total)?;
    let ndv = inputs.iter().map(|s| s.meta.distinct_keys).sum::<u64>();
    let ndv = limits.max_rows.map_or(ndv, |m| ndv.min(m)).max(1);
    let inherit = LargeValues::of_files(inputs.iter().map(|s| s.parquet_meta()), table);
    let mut arena: Vec<RecordBatch> = Vec::new();
    let mut cursors: Vec<Cursor> = Vec::new();
    for sst in inputs {
        let mut c = Cursor {
            sst,
            next_rg: 0,
            slot: 0,
            keys: BinaryArray::from_iter_values(std::iter::empty::<&[u8]>()),
            ts: UInt64Array::from(Vec::<u64>::new()),
            tomb: BooleanArray::from(Vec::<bool>::new()),
            row: 0,
        };
        if c.load(storage, k, &mut arena).await? {
            cursors.push(c);
        }
    }
    let mut pending: Vec<(usize, usize)> = Vec::with_capacity(ROW_GROUP_ROWS);
    let mut file: Option<OutFile> = None;
    let mut last_key: Vec<u8> = Vec::new();
    let mut have_key = false;
    let mut settled = false;
    loop {
        // The input whose head is smallest in (key asc, ts desc) order.
        let mut best: Option<usize> = None;
        for (i, c) in cursors.iter().enumerate() {
            let better = match best.and_then(|b| cursors.get(b)) {
                None => true,
                Some(b) => {
                    let ((ka, ta), (kb, tb)) = (c.head(), b.head());
                    // A tombstone wins a timestamp tie.
                    ka < kb
                        || (ka == kb
                            && (ta > tb
                                || (ta == tb && c.tomb.value(c.row) && !b.tomb.value(b.row))))
                }
            };
            if better {
                best = Some(i);
            }
        }
        let Some(i) = best else { break };
        let Some(c) = cursors.get(i) else { break };
        out.rows_in += 1;
        if out.rows_in.is_multiple_of(ROW_GROUP_ROWS as u64) {
            control.step(Phase::Compact, out.rows_in, total)?;
        }
        // Cheap handles (shared buffers), so the arena may be compacted below.
        let (keys, row) = (c.keys.clone(), c.row);
        let (ts, tomb) = (c.ts.value(row), c.tomb.value(row));
        let key = keys.value(row);
        let new_key = !have_key || key != last_key.as_slice();
        if new_key {
            // Row groups and files end only between keys: a key's versions stay together.
            let full = file.as_ref().is_some_and(|f| {
                let rows = f.rows + pending.len() as u64;
                let bytes = (f.writer.bytes_written() + f.writer.in_progress_size()) as u64;
                limits.max_rows.is_some_and(|m| rows >= m)
                    || limits.max_bytes.is_some_and(|m| bytes >= m)
            });
            if pending.is_empty() && arena.len() > 2 * cursors.len() {
                // A long run of dropped versions: nothing references the consumed batches.
                let live: Vec<usize> = cursors.iter().map(|c| c.slot).collect();
                compact_arena(&mut arena, &mut cursors, &live);
            }
            if pending.len() >= ROW_GROUP_ROWS || full {
                emit(&schema, &arena, &mut pending, file.as_mut())?;
                let live: Vec<usize> = cursors.iter().map(|c| c.slot).collect();
                compact_arena(&mut arena, &mut cursors, &live);
            }
            if full && let Some(f) = file.take() {
                finish(storage, table, f, level, out).await?;
            }
            last_key.clear();
            last_key.extend_from_slice(key);
            have_key = true;
            settled = false;
        }
        let keep = if settled {
            false
        } else if ts > rules.horizon {
            true
        } else {
            settled = true;
            !(tomb && rules.drop_tombstones)
        };
        if keep {
            if file.is_none() {
                let id = crate::codec::random_u64()?;
                file = Some(OutFile {
                    writer: SstFileWriter::new(table, ndv, 0, limits.blocks)?
                        .inheriting(inherit.clone()),
                    id,
                    path: name(id),
                    rows: 0,
                    tombstones: 0,
                    distinct: 0,
                    min_key: None,
                    max_key: Vec::new(),
                    min_ts: Timestamp::MAX,
                    max_ts: 0,
                });
            }
            if let Some(f) = file.as_mut() {
                if f.min_key.is_none() {
                    f.min_key = Some(key.to_vec());
                }
                if f.max_key.as_slice() != key || f.distinct == 0 {
                    f.distinct += 1;
                    f.max_key.clear();
                    f.max_key.extend_from_slice(key);
                }
                f.min_ts = f.min_ts.min(ts);
                f.max_ts = f.max_ts.max(ts);
                f.tombstones += u64::from(tomb);
            }
            let slot = cursors.get(i).map_or(0, |c| c.slot);
            pending.push((slot, row));
        }
        let Some(c) = cursors.get_mut(i) else { break };
        c.row += 1;
        if c.row >= c.keys.len() && !c.load(storage, k, &mut arena).await? {
            cursors.swap_remove(i);
        }
    }
    emit(&schema, &arena, &mut pending, file.as_mut())?;
    if let Some(f) = file.take() {
        finish(storage, table, f, level, out).await?;
    }
    // The last point to stop: past it the job publishes or fails as a whole (and a stop here
    // still deletes the outputs, in `merge`).
    control.step(Phase::Compact, out.rows_in, total)?;
    Ok(())
}

/// Writes the pending picks as one row group.
fn emit(
    schema: &SchemaRef,
    arena: &[RecordBatch],
    pending: &mut Vec<(usize, usize)>,
    file: Option<&mut OutFile>,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let Some(f) = file else {
        return Err(Error::Internal("merge picks without an output file".into()));
    };
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for c in 0..schema.fields().len() {
        let refs: Vec<&dyn Array> = arena
            .iter()
            .map(|b| b.columns().get(c).map(|a| a.as_ref()))
            .collect::<Option<_>>()
            .ok_or_else(|| Error::Internal("merge input lacks a column".into()))?;
        columns.push(interleave(&refs, pending)?);
    }
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    f.writer.write_group(&batch)?;
    f.rows += pending.len() as u64;
    pending.clear();
    Ok(())
}

/// Keeps only the batches the cursors still read (the picks that used the rest are written).
fn compact_arena(arena: &mut Vec<RecordBatch>, cursors: &mut [Cursor], live: &[usize]) {
    let mut kept = Vec::with_capacity(live.len());
    for (c, &slot) in cursors.iter_mut().zip(live) {
        if let Some(b) = arena.get(slot) {
            c.slot = kept.len();
            kept.push(b.clone());
        }
    }
    *arena = kept;
}

async fn finish(
    storage: &dyn Storage,
    table: &TableSchema,
    f: OutFile,
    level: u32,
    out: &mut Merged,
) -> Result<()> {
    if f.rows == 0 {
        return Ok(());
    }
    let (bytes, tail_bytes, tail_crc) = f.writer.finish()?;
    let meta = SstMeta {
        id: f.id,
        level,
        path: f.path,
        rows: f.rows,
        bytes: bytes.len() as u64,
        min_key: f.min_key.unwrap_or_default().into(),
        max_key: f.max_key.into(),
        min_ts: f.min_ts,
        max_ts: f.max_ts,
        tombstones: f.tombstones,
        distinct_keys: f.distinct,
        ts_shift: 0,
        tail_bytes,
        tail_crc,
    };
    out.rows_out += meta.rows;
    out.bytes_out += meta.bytes;
    let sst = Sst::from_written(table, meta.clone(), bytes.clone())?;
    storage.put(&meta.path, bytes, PutMode::CreateNew).await?;
    out.outputs.push(Arc::new(sst));
    Ok(())
}
