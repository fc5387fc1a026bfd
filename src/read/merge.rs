//! Merges resolved chunks from several sources into one stream in key order.
//!
//! Each source already yields one version per key. Across sources the version with the greatest
//! commit timestamp wins (commit timestamps are unique per commit, and one commit lives in one
//! source); a winning tombstone hides the key. Filters are applied to the merged, resolved rows
//! only, never per source: that is what keeps the filter-after-resolution invariant.

use std::sync::Arc;

use crate::gather::gather as interleave;
use arrow_array::{Array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::SchemaRef;

use super::Chunk;
use super::filter::Filter;
use super::mem_source::MemSource;
use super::sst_source::SstSource;
use crate::error::Result;
use crate::key::KeyBytes;
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
    /// The head key's first 8 bytes as a big-endian number (inverted for descending scans), so
    /// most comparisons of heads are one integer comparison.
    prefix: u64,
    /// Whether there is a head row.
    live: bool,
}

impl Input {
    fn refresh(&mut self, reverse: bool) {
        match &self.chunk {
            Some(c) if self.pos < c.len() => {
                let p = crate::key::head(c.keys.value(self.pos));
                self.prefix = if reverse { !p } else { p };
                self.live = true;
            }
            _ => self.live = false,
        }
    }
}

/// Reads chunks into `input` until it has an unread row or is exhausted.
/// `mem_rows` bounds a memtable source's chunk (no I/O there).
async fn load(input: &mut Input, storage: &dyn Storage, mem_rows: usize) -> Result<()> {
    while !input.done && input.chunk.as_ref().is_none_or(|c| input.pos >= c.len()) {
        let next = match &mut input.source {
            Source::Mem(m) => m.next_chunk(mem_rows)?,
            Source::Sst(s) => s.next_chunk(storage).await?,
        };
        match next {
            Some(c) => {
                input.chunk = Some(Arc::new(c));
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

/// Puts `input`'s chunk in `arena` (where picked rows are gathered from) unless it is the
/// chunk `old` already there.
fn register(input: &mut Input, old: Option<*const Chunk>, arena: &mut Vec<Arc<Chunk>>) {
    if let Some(c) = &input.chunk
        && Some(Arc::as_ptr(c)) != old
    {
        input.slot = arena.len();
        arena.push(c.clone());
    }
}

pub use super::BATCH_ROWS;

/// A streaming merge: resolved, filtered, projected batches of bounded size (unless read whole,
/// see [`Merge::read_whole`]) from the sources of
/// one view. It cannot survive a source failing mid-read; `db::ScanStream` wraps it to start a
/// new one after [`Merge::resume_after`] when a file of the view was collected.
pub struct Merge {
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
    /// Set by a caller that collects every batch anyway (`scan`), unless a filter is given:
    /// sorted memtable runs are read in one chunk, and a batch that starts on the last live
    /// input's chunk may run to that chunk's end, past `batch_rows` (a slice of it when every
    /// row is live: no copy). Fewer, larger batches in the answer are cheaper for both the
    /// IPC encoder and the reader's decoder. Batches merged from several inputs, and filtered
    /// ones, stay within `batch_rows`.
    whole: bool,
    /// Inputs with a head row (in no particular order).
    live: Vec<usize>,
    started: bool,
    /// The last key decided (returned, filtered out or hidden): everything up to it in scan
    /// order is settled, so a merge started after it continues this one.
    last_key: Option<KeyBytes>,
}

impl std::fmt::Debug for Merge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Merge")
            .field("inputs", &self.inputs.len())
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl Merge {
    /// A merge over `sources` (any order).
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
                    prefix: 0,
                    live: false,
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
            whole: false,
            live: Vec::new(),
            started: false,
            last_key: None,
        }
    }

    /// Makes sure input `i` has an unread row, unless it is exhausted.
    async fn fill(&mut self, i: usize, arena: &mut Vec<Arc<Chunk>>) -> Result<()> {
        let mem_rows = self.mem_rows();
        let storage = self.storage.clone();
        let reverse = self.reverse;
        let Some(input) = self.inputs.get_mut(i) else {
            return Ok(());
        };
        let old = input.chunk.as_ref().map(Arc::as_ptr);
        load(input, storage.as_ref(), mem_rows).await?;
        register(input, old, arena);
        input.refresh(reverse);
        Ok(())
    }

    /// The head (current row) of input `i`: its key and timestamp.
    fn head(&self, i: usize) -> Option<(&[u8], u64)> {
        let input = self.inputs.get(i)?;
        let c = input.chunk.as_ref()?;
        (input.pos < c.len()).then(|| (c.keys.value(input.pos), c.ts.value(input.pos)))
    }

    /// Whether input `a`'s head comes before input `b`'s: key order (reversed for descending
    /// scans), and for equal keys the newer version first.
    fn before(&self, a: usize, b: usize) -> bool {
        match (self.inputs.get(a), self.inputs.get(b)) {
            (Some(ia), Some(ib)) if ia.live && ib.live && ia.prefix != ib.prefix => {
                return ia.prefix < ib.prefix;
            }
            (Some(ia), _) if !ia.live => return false,
            (_, Some(ib)) if !ib.live => return true,
            _ => {}
        }
        match (self.head(a), self.head(b)) {
            (Some((ka, ta)), Some((kb, tb))) => {
                let ord = if self.reverse { kb.cmp(ka) } else { ka.cmp(kb) };
                ord.is_lt() || (ord.is_eq() && ta > tb)
            }
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// The input whose head comes first, and whether another input's head shares its 8-byte
    /// prefix (only then can another input hold the same key). A linear pass over the live
    /// inputs' prefixes: a scan merges a handful of sources (memtables, a few SSTs), where
    /// this beat a binary heap's bookkeeping (B3's merge of four memtables: ~60 ns a row
    /// spent keeping the heap).
    fn pick_top(&self) -> Option<(usize, bool)> {
        let prefix = |i: usize| self.inputs.get(i).map_or(u64::MAX, |x| x.prefix);
        let mut best = *self.live.first()?;
        let mut best_prefix = prefix(best);
        let mut tie = false;
        for &i in self.live.iter().skip(1) {
            let p = prefix(i);
            if p < best_prefix {
                (best, best_prefix, tie) = (i, p, false);
            } else if p == best_prefix {
                tie = true;
            }
        }
        if tie {
            for &i in &self.live {
                if i != best && prefix(i) == best_prefix && self.before(i, best) {
                    best = i;
                }
            }
        }
        Some((best, tie))
    }

    /// Moves input `i` past its head row, loading its next chunk when needed; an input with
    /// nothing left leaves the live set.
    async fn step(&mut self, i: usize, arena: &mut Vec<Arc<Chunk>>) -> Result<()> {
        let reverse = self.reverse;
        let more = match self.inputs.get_mut(i) {
            Some(input) => {
                input.pos += 1;
                input.refresh(reverse);
                input.live
            }
            None => false,
        };
        if !more {
            self.refill(i, arena).await?;
        }
        Ok(())
    }

    /// Loads input `i`'s next chunk; an input with nothing left leaves the live set.
    async fn refill(&mut self, i: usize, arena: &mut Vec<Arc<Chunk>>) -> Result<()> {
        self.fill(i, arena).await?;
        if self.head(i).is_none() {
            self.live.retain(|&x| x != i);
        }
        Ok(())
    }

    /// Marks this merge as read to its end by a caller that keeps every batch (see `whole`;
    /// a filtered merge keeps bounded batches).
    pub fn read_whole(&mut self) {
        self.whole = self.filter.is_none();
    }

    /// The most rows a memtable source's chunk holds: read whole, what the
    /// limit lets through (a sorted run's chunk is then a slice of it, or one gather of its
    /// visible versions; see `MemSource::next_chunk` for an unsorted memtable's).
    fn mem_rows(&self) -> usize {
        if self.whole {
            self.remaining
        } else {
            self.batch_rows
        }
    }

    /// Rows to pick for the next batch: without a filter every picked row is returned, so no
    /// more than the limit has left; picking past it would read pages (round trips on an
    /// object store) for rows nobody asked for.
    fn cap(&self) -> usize {
        if self.filter.is_none() {
            self.batch_rows.min(self.remaining)
        } else {
            self.batch_rows
        }
    }

    /// The last key this merge decided, if any: a merge resumed after it (exclusive, in scan
    /// order) yields exactly the rows this one has not yet returned.
    pub fn resume_after(&self) -> Option<&[u8]> {
        self.last_key.as_deref()
    }

    /// How many more rows the limit lets through (`usize::MAX` counted down without one).
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// The schema of the batches this stream yields.
    pub fn schema(&self) -> SchemaRef {
        self.output_schema.clone()
    }

    /// The next batch of at most `BATCH_ROWS` rows (unless read whole), or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<RecordBatch>> {
        while self.remaining > 0 {
            let mut arena: Vec<Arc<Chunk>> = Vec::new();
            for input in &mut self.inputs {
                if let Some(c) = &input.chunk {
                    input.slot = arena.len();
                    arena.push(c.clone());
                }
            }
            if !self.started {
                self.started = true;
                // Every input's first chunk at once: on an object store each SST's first read
                // is a round trip, and none depends on another.
                let storage = self.storage.clone();
                let (mem_rows, reverse) = (self.mem_rows(), self.reverse);
                let loads = self
                    .inputs
                    .iter_mut()
                    .map(|input| load(input, storage.as_ref(), mem_rows));
                futures_util::future::try_join_all(loads).await?;
                for i in 0..self.inputs.len() {
                    if let Some(input) = self.inputs.get_mut(i) {
                        register(input, None, &mut arena);
                        input.refresh(reverse);
                    }
                    if self.head(i).is_some() {
                        self.live.push(i);
                    }
                }
            }
            let mut picks: Vec<(usize, usize)> = Vec::new();
            // Read whole, a batch that starts on the last input's chunk runs to the chunk's end
            // (see `whole`); any other batch holds at most `cap` rows.
            let mut cap = self.cap();
            while picks.len() < cap {
                let Some((top, tie)) = self.pick_top() else {
                    break;
                };
                if self.live.len() == 1 {
                    // One input left: its rows need no comparisons, and a batch that ends
                    // where its chunk ends can be a slice of that chunk.
                    if self.whole && picks.is_empty() {
                        cap = self.remaining;
                    }
                    if self.take_rest_of_chunk(top, &mut picks, cap) {
                        self.refill(top, &mut arena).await?;
                        if !picks.is_empty() {
                            break;
                        }
                    }
                    continue;
                }
                // No Arc clone per row: the picked row stays reachable through the arena.
                let (pos, slot, key_prefix, tomb) = match self.inputs.get(top) {
                    Some(Input {
                        chunk: Some(c),
                        pos,
                        slot,
                        prefix,
                        ..
                    }) => (*pos, *slot, *prefix, c.tomb.value(*pos)),
                    _ => {
                        return Err(crate::error::Error::Internal(
                            "merge input out of step".into(),
                        ));
                    }
                };
                if !tomb {
                    picks.push((slot, pos));
                }
                if tie {
                    // Older versions of the same key in other inputs are hidden.
                    let hidden: Vec<usize> = match arena.get(slot) {
                        Some(c) => {
                            let key = c.keys.value(pos);
                            self.live
                                .iter()
                                .copied()
                                .filter(|&i| {
                                    i != top
                                        && self
                                            .inputs
                                            .get(i)
                                            .is_some_and(|x| x.prefix == key_prefix)
                                        && self.head(i).is_some_and(|(k, _)| k == key)
                                })
                                .collect()
                        }
                        None => Vec::new(),
                    };
                    for i in hidden {
                        self.step(i, &mut arena).await?;
                    }
                }
                self.step(top, &mut arena).await?;
            }
            let exhausted = self.live.is_empty();
            let settled = picks.last().and_then(|&(slot, pos)| {
                arena.get(slot).map(|c| KeyBytes::from(c.keys.value(pos)))
            });
            let batch = self.assemble(&arena, &picks)?;
            // Only once the batch is built: a merge resumed after a failed one must not skip
            // the rows that failed batch never returned.
            if settled.is_some() {
                self.last_key = settled;
            }
            if let Some(batch) = batch {
                return Ok(Some(batch));
            }
            if exhausted {
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// Picks the live rows of input `i`'s chunk from its position on, up to `cap` in all.
    /// Returns whether the chunk is used up (the input must then be filled again).
    fn take_rest_of_chunk(
        &mut self,
        i: usize,
        picks: &mut Vec<(usize, usize)>,
        cap: usize,
    ) -> bool {
        let room = cap.saturating_sub(picks.len());
        let reverse = self.reverse;
        let Some(input) = self.inputs.get_mut(i) else {
            return true;
        };
        let Some(c) = &input.chunk else {
            return true;
        };
        let end = input.pos.saturating_add(room).min(c.len());
        let slot = input.slot;
        if c.tomb.false_count() == c.len() {
            picks.extend((input.pos..end).map(|p| (slot, p)));
        } else {
            picks.extend(
                (input.pos..end)
                    .filter(|&p| !c.tomb.value(p))
                    .map(|p| (slot, p)),
            );
        }
        let used_up = end >= c.len();
        input.pos = end;
        input.refresh(reverse);
        used_up
    }

    /// Gathers picked rows, applies the filter and the limit, and projects. Late
    /// materialization: only the filter's columns are gathered for every picked row; the other
    /// output columns only for the rows that pass.
    fn assemble(
        &mut self,
        arena: &[Arc<Chunk>],
        picks: &[(usize, usize)],
    ) -> Result<Option<RecordBatch>> {
        if picks.is_empty() {
            return Ok(None);
        }
        // Rows that come as one stretch of one chunk (a single source, or a source whose keys
        // do not interleave with the others') are a slice of it: no copy. Found once per set
        // of rows, not per column.
        let stretch = |rows: &[(usize, usize)]| -> Option<(usize, usize)> {
            let (&(slot, first), &(last_slot, last)) = (rows.first()?, rows.last()?);
            (slot == last_slot
                && last.checked_sub(first) == Some(rows.len() - 1)
                && rows
                    .windows(2)
                    .all(|w| matches!(w, [a, b] if *b == (a.0, a.1 + 1))))
            .then_some((slot, first))
        };
        let gather = |j: usize,
                      rows: &[(usize, usize)],
                      stretch: Option<(usize, usize)>|
         -> Result<ArrayRef> {
            if let Some((slot, first)) = stretch
                && let Some(col) = arena.get(slot).and_then(|c| c.columns.get(j))
            {
                return Ok(col.slice(first, rows.len()));
            }
            let refs: Vec<&dyn Array> = arena
                .iter()
                .filter_map(|c| c.columns.get(j).map(|a| a.as_ref()))
                .collect();
            Ok(interleave(&refs, rows)?)
        };
        let kept: Vec<(usize, usize)>;
        let mut cached: Vec<Option<ArrayRef>> = vec![None; self.needed_schema.fields().len()];
        let rows: &[(usize, usize)] = match &self.filter {
            None => picks,
            Some(f) => {
                let positions: Vec<usize> = f
                    .columns()
                    .iter()
                    .filter_map(|n| self.needed_schema.index_of(n).ok())
                    .collect();
                let schema = Arc::new(self.needed_schema.project(&positions)?);
                let picks_stretch = stretch(picks);
                let cols = positions
                    .iter()
                    .map(|&j| gather(j, picks, picks_stretch))
                    .collect::<Result<Vec<_>>>()?;
                // A filter may name no column (an empty AND or OR): the row count says how many.
                let batch = RecordBatch::try_new_with_options(
                    schema,
                    cols,
                    &RecordBatchOptions::new().with_row_count(Some(picks.len())),
                )?;
                let mask = f.evaluate(&batch)?;
                let all_pass = mask.true_count() == picks.len();
                if all_pass {
                    for (&j, col) in positions.iter().zip(batch.columns()) {
                        if let Some(slot) = cached.get_mut(j) {
                            *slot = Some(col.clone());
                        }
                    }
                }
                kept = picks
                    .iter()
                    .zip(mask.values().iter())
                    .filter_map(|(p, keep)| keep.then_some(*p))
                    .collect();
                &kept
            }
        };
        if rows.is_empty() {
            return Ok(None);
        }
        let take_n = rows.len().min(self.remaining);
        let rows = rows.get(..take_n).unwrap_or(rows);
        let truncated = take_n < picks.len();
        let rows_stretch = stretch(rows);
        let cols = self
            .output
            .iter()
            .map(|&j| match cached.get(j) {
                Some(Some(col)) if !truncated => Ok(col.clone()),
                _ => gather(j, rows, rows_stretch),
            })
            .collect::<Result<Vec<_>>>()?;
        // `projection: []` asks for rows without columns: the batch carries only their count.
        let batch = RecordBatch::try_new_with_options(
            self.output_schema.clone(),
            cols,
            &RecordBatchOptions::new().with_row_count(Some(rows.len())),
        )?;
        // Counted against the limit only once built, as the resume point is.
        self.remaining -= take_n;
        Ok(Some(batch))
    }
}
