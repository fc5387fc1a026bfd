//! A scan source over one SST: its row groups in key order, each read whole or (a forward scan
//! with a limit) a piece at a time, resolved to at most one visible version per key.

use std::collections::VecDeque;
use std::ops::{Bound, Range};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow_select::take::take;

use super::Chunk;
use crate::error::{Error, Result};
use crate::key::KeyBytes;
use crate::key::Timestamp;
use crate::sst::{Sst, column, format, overlaps, partition_point};
use crate::storage::Storage;

impl Sst {
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
