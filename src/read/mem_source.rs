//! A scan source over one memtable. The memtable may keep receiving writes (or be sealed and
//! flushed) while a scan runs: each chunk is taken under a short lock (a sorted run's may be
//! long, being a slice of it), resuming after the last
//! key returned, and versions newer than the read timestamp are invisible, so the scan sees one
//! consistent snapshot.

use std::ops::Bound;
use std::sync::{Arc, Mutex};

use crate::gather::gather as interleave;
use arrow_array::{Array, ArrayRef, BinaryArray, BooleanArray, UInt64Array};
use arrow_schema::DataType;

use super::{BATCH_ROWS, Chunk};
use crate::error::{Error, Result};
use crate::key::KeyBytes;
use crate::key::Timestamp;
use crate::memtable::run::{Run, Selection};
use crate::memtable::{Entry, Memtable};

/// A shared memtable: the mutable one, or a sealed one awaiting flush.
pub type MemRef = Arc<Mutex<Memtable>>;

/// Locks a memtable.
pub fn lock(mem: &MemRef) -> Result<std::sync::MutexGuard<'_, Memtable>> {
    mem.lock()
        .map_err(|_| Error::Internal("memtable lock poisoned".into()))
}

/// Streams one memtable's resolved versions in chunks.
#[derive(Debug)]
pub struct MemSource {
    mem: MemRef,
    lo: Bound<KeyBytes>,
    hi: Bound<KeyBytes>,
    read_ts: Timestamp,
    reverse: bool,
    /// (table column, its position in the key, its type) per needed column.
    needed: Vec<(usize, Option<usize>, DataType)>,
    done: bool,
}

impl MemSource {
    /// A source over `mem` for keys in `(lo, hi)` as of `read_ts`.
    pub fn new(
        mem: MemRef,
        lo: Bound<KeyBytes>,
        hi: Bound<KeyBytes>,
        read_ts: Timestamp,
        reverse: bool,
        needed: Vec<(usize, Option<usize>, DataType)>,
    ) -> Self {
        Self {
            mem,
            lo,
            hi,
            read_ts,
            reverse,
            needed,
            done: false,
        }
    }

    /// Up to `max_rows` resolved rows, or `None` when the range is exhausted. A memtable not
    /// (yet) sorted into a run gives at most [`BATCH_ROWS`] whatever `max_rows` says: its
    /// rows are resolved and copied under the memtable's lock, which writers wait for.
    pub fn next_chunk(&mut self, max_rows: usize) -> Result<Option<Chunk>> {
        if self.done {
            return Ok(None);
        }
        let shared = self.mem.clone();
        let mem = lock(&shared)?;
        if let Some(run) = mem.run() {
            let chunk = self.run_chunk(run, max_rows)?;
            drop(mem);
            return Ok(chunk);
        }
        let max_rows = max_rows.min(BATCH_ROWS);
        let entries: Vec<(&[u8], Timestamp, Entry)> = mem
            .resolve_range(
                crate::key::bound_slice(&self.lo),
                crate::key::bound_slice(&self.hi),
                self.read_ts,
                self.reverse,
            )
            .take(max_rows)
            .collect();
        if entries.len() < max_rows {
            self.done = true;
        }
        let Some(last) = entries.last() else {
            return Ok(None);
        };
        let cursor: KeyBytes = last.0.into();
        let picks: Vec<(usize, usize)> = entries.iter().map(|e| mem.locate(e.2)).collect();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.needed.len());
        for (col, key_pos, dt) in &self.needed {
            let sources = mem.column_sources(*col, *key_pos, dt);
            let refs: Vec<&dyn Array> = sources.iter().map(|a| a.as_ref()).collect();
            columns.push(interleave(&refs, &picks)?);
        }
        let chunk = Chunk {
            columns,
            keys: BinaryArray::from_iter_values(entries.iter().map(|e| e.0)),
            ts: UInt64Array::from_iter_values(entries.iter().map(|e| e.1)),
            tomb: BooleanArray::from_iter(
                entries
                    .iter()
                    .map(|e| Some(matches!(e.2, Entry::Tombstone { .. }))),
            ),
        };
        drop(mem);
        if self.reverse {
            self.hi = Bound::Excluded(cursor);
        } else {
            self.lo = Bound::Excluded(cursor);
        }
        Ok(Some(chunk))
    }

    /// The next chunk from a sealed memtable's run: slices of it when its rows need no
    /// resolving, else the visible rows gathered.
    fn run_chunk(&mut self, run: &Run, max_rows: usize) -> Result<Option<Chunk>> {
        let (a, b) = run.bounds(
            crate::key::bound_slice(&self.lo),
            crate::key::bound_slice(&self.hi),
        );
        let sel = run.visible(a, b, self.read_ts, self.reverse, max_rows);
        if sel.len() < max_rows {
            self.done = true;
        }
        let Some(last) = sel.last() else {
            return Ok(None);
        };
        let cursor: KeyBytes = run.keys().value(last).into();
        let column = |c: usize| {
            run.column(c)
                .cloned()
                .ok_or_else(|| Error::Internal("run column out of range".into()))
        };
        let chunk = match &sel {
            Selection::Slice { start, len } => Chunk {
                columns: self
                    .needed
                    .iter()
                    .map(|(c, _, _)| column(*c).map(|a| a.slice(*start, *len)))
                    .collect::<Result<_>>()?,
                keys: run.keys().slice(*start, *len),
                ts: run.timestamps().slice(*start, *len),
                tomb: run.tombstones().slice(*start, *len),
            },
            Selection::Rows(rows) => {
                let picks: Vec<(usize, usize)> = rows.iter().map(|&r| (0, r)).collect();
                let mut columns = Vec::with_capacity(self.needed.len());
                for (c, _, _) in &self.needed {
                    let col = column(*c)?;
                    columns.push(interleave(&[col.as_ref()], &picks)?);
                }
                Chunk {
                    columns,
                    keys: BinaryArray::from_iter_values(rows.iter().map(|&r| run.keys().value(r))),
                    ts: UInt64Array::from_iter_values(
                        rows.iter().map(|&r| run.timestamps().value(r)),
                    ),
                    tomb: BooleanArray::from_iter(
                        rows.iter().map(|&r| Some(run.tombstones().value(r))),
                    ),
                }
            }
        };
        if self.reverse {
            self.hi = Bound::Excluded(cursor);
        } else {
            self.lo = Bound::Excluded(cursor);
        }
        Ok(Some(chunk))
    }
}
