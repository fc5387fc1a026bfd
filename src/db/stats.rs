//! Diagnostics: where a handle's rows are now (memtables, SSTs per level, compaction
//! counters) and the paths of its live SSTs.

use super::{CompactionMetrics, Db};
use crate::error::Result;
use crate::key::Timestamp;
use crate::read::mem_source::lock;

/// Where rows are, for diagnostics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbStats {
    /// Sealed memtables waiting for a flush.
    pub immutable_memtables: usize,
    /// How many of them are already one sorted run (the rest still answer from their index:
    /// in wasm sealed memtables are sorted and merged into one run once writes pause).
    pub sorted_memtables: usize,
    /// Versions in the mutable memtable.
    pub mutable_rows: usize,
    /// Rows of the mutable memtable's batches not yet put in key order (in wasm, once there
    /// are 8,192 and writes pause, the memtable is sealed and merged into the sealed run; under
    /// `SealPolicy::Never` or `AgeMillis` its batches are sorted instead).
    pub mutable_unsorted_rows: usize,
    /// SST count.
    pub ssts: usize,
    /// Versions in SSTs.
    pub sst_rows: u64,
    /// Bytes of SSTs.
    pub sst_bytes: u64,
    /// The newest commit timestamp visible to reads.
    pub last_ts: Timestamp,
    /// The manifest version this handle reads.
    pub manifest_version: u64,
    /// SSTs per level, `(level, count, bytes)`, lowest level first.
    pub levels: Vec<(u32, usize, u64)>,
    /// Versions (rows) stored per level, in the order of `levels`.
    pub level_rows: Vec<u64>,
    /// Compaction counters.
    pub compaction: CompactionMetrics,
    /// WAL segments whose tail recovery cut at a bad frame when this handle opened (a torn
    /// last write after a crash, or damage: under `TruncateTail` an older segment is cut
    /// too, and whatever followed the damage in it is not replayed).
    pub wal_cut_segments: Vec<u64>,
    /// Bytes those cuts left out.
    pub wal_cut_bytes: u64,
}

impl Db {
    /// Where rows are now.
    pub fn stats(&self) -> Result<DbStats> {
        let st = self.state()?;
        let mut levels: Vec<(u32, usize, u64)> = Vec::new();
        for h in &st.version.ssts {
            match levels.iter_mut().find(|l| l.0 == h.meta.level) {
                Some(l) => {
                    l.1 += 1;
                    l.2 += h.meta.bytes;
                }
                None => levels.push((h.meta.level, 1, h.meta.bytes)),
            }
        }
        levels.sort_unstable();
        let level_rows = levels
            .iter()
            .map(|l| {
                st.version
                    .ssts
                    .iter()
                    .filter(|h| h.meta.level == l.0)
                    .map(|h| h.meta.rows)
                    .sum()
            })
            .collect();
        let (mutable_rows, mutable_unsorted_rows) = {
            let m = lock(&st.mutable)?;
            (m.rows(), m.unsorted_rows())
        };
        Ok(DbStats {
            immutable_memtables: st.immutables.len(),
            sorted_memtables: st
                .immutables
                .iter()
                .map(|s| lock(&s.mem).map(|m| usize::from(m.run().is_some())))
                .sum::<Result<usize>>()?,
            mutable_rows,
            mutable_unsorted_rows,
            ssts: st.version.ssts.len(),
            sst_rows: st.version.ssts.iter().map(|s| s.meta.rows).sum(),
            sst_bytes: st.version.ssts.iter().map(|s| s.meta.bytes).sum(),
            last_ts: st.visible_ts,
            manifest_version: st.version.manifest_version,
            levels,
            level_rows,
            compaction: CompactionMetrics {
                running: st.compaction.running as u64,
                ..st.compaction.metrics.clone()
            },
            wal_cut_segments: st.wal_cut.0.clone(),
            wal_cut_bytes: st.wal_cut.1,
        })
    }

    /// The paths of the live SSTs, newest first.
    pub fn sst_paths(&self) -> Result<Vec<String>> {
        Ok(self
            .state()?
            .version
            .ssts
            .iter()
            .map(|s| s.meta.path.clone())
            .collect())
    }
}
