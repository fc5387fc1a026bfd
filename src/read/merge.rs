//! Merges resolved chunks from several sources into one stream in key order.
//!
//! Each source already yields one version per key. Across sources the version with the greatest
//! commit timestamp wins (commit timestamps are unique per commit, and one commit lives in one
//! source); a winning tombstone hides the key. Filters are applied to the merged, resolved rows
//! only, never per source: that is what keeps the filter-after-resolution invariant.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use arrow_select::filter::filter_record_batch;
use arrow_select::interleave::interleave;

use super::Chunk;
use super::filter::Filter;
use super::mem_source::MemSource;
use crate::error::Result;
use crate::sst::SstSource;
use crate::storage::Storage;

/// One input of a merge.
#[derive(Debug)]
pub enum Source {
    /// A memtable.
    Mem(MemSource),
    /// An SST.
    Sst(SstSource),
}

#[derive(Debug)]
struct Input {
    source: Source,
    chunk: Option<Arc<Chunk>>,
    slot: usize,
    pos: usize,
    done: bool,
}

/// Rows per output batch of a scan.
pub const BATCH_ROWS: usize = 8192;

/// A streaming scan: merged, resolved, filtered, projected batches of bounded size.
pub struct ScanStream {
    inputs: Vec<Input>,
    storage: Arc<dyn Storage>,
    reverse: bool,
    filter: Option<Filter>,
    /// Schema of the needed columns (what chunks carry), used to evaluate the filter.
    needed_schema: SchemaRef,
    /// Positions within the needed columns of the output columns.
    output: Vec<usize>,
    output_schema: SchemaRef,
    remaining: usize,
    batch_rows: usize,
}

impl std::fmt::Debug for ScanStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanStream")
            .field("inputs", &self.inputs.len())
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl ScanStream {
    /// A stream over `sources` (any order).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sources: Vec<Source>,
        storage: Arc<dyn Storage>,
        reverse: bool,
        filter: Option<Filter>,
        needed_schema: SchemaRef,
        output: Vec<usize>,
        output_schema: SchemaRef,
        limit: Option<usize>,
    ) -> Self {
        Self {
            inputs: sources
                .into_iter()
                .map(|source| Input {
                    source,
                    chunk: None,
                    slot: 0,
                    pos: 0,
                    done: false,
                })
                .collect(),
            storage,
            reverse,
            filter,
            needed_schema,
            output,
            output_schema,
            remaining: limit.unwrap_or(usize::MAX),
            batch_rows: BATCH_ROWS,
        }
    }

    /// Makes sure input `i` has an unread row, unless it is exhausted.
    async fn fill(&mut self, i: usize, arena: &mut Vec<Arc<Chunk>>) -> Result<()> {
        let batch_rows = self.batch_rows;
        let storage = self.storage.clone();
        let Some(input) = self.inputs.get_mut(i) else {
            return Ok(());
        };
        while !input.done && input.chunk.as_ref().is_none_or(|c| input.pos >= c.len()) {
            let next = match &mut input.source {
                Source::Mem(m) => m.next_chunk(batch_rows)?,
                Source::Sst(s) => s.next_chunk(storage.as_ref()).await?,
            };
            match next {
                Some(c) => {
                    let c = Arc::new(c);
                    input.slot = arena.len();
                    arena.push(c.clone());
                    input.chunk = Some(c);
                    input.pos = 0;
                }
                None => {
                    input.done = true;
                    input.chunk = None;
                }
            }
        }
        Ok(())
    }

    /// The next batch of at most `BATCH_ROWS` rows, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<RecordBatch>> {
        while self.remaining > 0 {
            let mut arena: Vec<Arc<Chunk>> = Vec::new();
            for input in &mut self.inputs {
                if let Some(c) = &input.chunk {
                    input.slot = arena.len();
                    arena.push(c.clone());
                }
            }
            let mut picks: Vec<(usize, usize)> = Vec::new();
            let mut exhausted = false;
            while picks.len() < self.batch_rows {
                for i in 0..self.inputs.len() {
                    self.fill(i, &mut arena).await?;
                }
                // The next key: smallest (largest when reverse); among equal keys, newest ts.
                let mut best: Option<(usize, &[u8], u64)> = None;
                for (i, input) in self.inputs.iter().enumerate() {
                    let Some(c) = &input.chunk else { continue };
                    if input.pos >= c.len() {
                        continue;
                    }
                    let k = c.keys.value(input.pos);
                    let t = c.ts.value(input.pos);
                    let better = match best {
                        None => true,
                        Some((_, bk, bt)) => {
                            let ord = if self.reverse { bk.cmp(k) } else { k.cmp(bk) };
                            ord.is_lt() || (ord.is_eq() && t > bt)
                        }
                    };
                    if better {
                        best = Some((i, k, t));
                    }
                }
                let Some((winner, key, _)) = best else {
                    exhausted = true;
                    break;
                };
                let key = key.to_vec();
                let mut pick = None;
                for (i, input) in self.inputs.iter_mut().enumerate() {
                    let Some(c) = &input.chunk else { continue };
                    if input.pos < c.len() && c.keys.value(input.pos) == key.as_slice() {
                        if i == winner && !c.tomb.value(input.pos) {
                            pick = Some((input.slot, input.pos));
                        }
                        input.pos += 1;
                    }
                }
                if let Some(p) = pick {
                    picks.push(p);
                }
            }
            if let Some(batch) = self.assemble(&arena, &picks)? {
                return Ok(Some(batch));
            }
            if exhausted {
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// Gathers picked rows, applies the filter and the limit, and projects.
    fn assemble(
        &mut self,
        arena: &[Arc<Chunk>],
        picks: &[(usize, usize)],
    ) -> Result<Option<RecordBatch>> {
        if picks.is_empty() {
            return Ok(None);
        }
        let ncols = self.needed_schema.fields().len();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(ncols);
        for j in 0..ncols {
            let refs: Vec<&dyn Array> = arena
                .iter()
                .filter_map(|c| c.columns.get(j).map(|a| a.as_ref()))
                .collect();
            columns.push(interleave(&refs, picks)?);
        }
        let mut batch = RecordBatch::try_new(self.needed_schema.clone(), columns)?;
        if let Some(f) = &self.filter {
            let mask = f.evaluate(&batch)?;
            batch = filter_record_batch(&batch, &mask)?;
        }
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        if batch.num_rows() > self.remaining {
            batch = batch.slice(0, self.remaining);
        }
        self.remaining -= batch.num_rows();
        let cols = self
            .output
            .iter()
            .filter_map(|&i| batch.columns().get(i).cloned())
            .collect();
        Ok(Some(RecordBatch::try_new(
            self.output_schema.clone(),
            cols,
        )?))
    }

    /// Reads the rest of the stream into one batch.
    pub async fn collect(mut self) -> Result<RecordBatch> {
        let mut batches = Vec::new();
        while let Some(b) = self.next().await? {
            batches.push(b);
        }
        Ok(arrow_select::concat::concat_batches(
            &self.output_schema,
            &batches,
        )?)
    }
}
