//! Sealing the mutable memtable and reorganizing sealed ones for reads (sorted runs, the
//! newest merged once writes pause). Apart from the commit pipeline, which only asks for a
//! seal when the policy fires.

use std::sync::{Arc, Mutex};

use super::{Db, Sealed};
use crate::error::Result;
use crate::memtable::Memtable;
use crate::options::SealPolicy;
use crate::read::mem_source::{MemRef, lock};
use crate::wal::WalWriter;

/// Rows ingested into the mutable memtable before it is reorganized at the next idle moment
/// (sealed and merged with the sealed runs by [`Db::reorganize`], or under
/// [`SealPolicy::Never`] its batches sorted by [`Memtable::sort_batches`]): big enough that
/// small writes are left as they are, small enough that a scan soon after a bulk load reads
/// one sorted source.
pub(super) const TIDY_ROWS: usize = 8192;

/// How long writes must pause before memtables are reorganized for reads (wasm).
#[cfg(target_arch = "wasm32")]
const QUIET_MS: u64 = 10;

/// How many times that wait is renewed for a writer that does not pause (~1 s at most).
#[cfg(target_arch = "wasm32")]
const MAX_WAITS: usize = 100;

impl Db {
    /// Seals the mutable memtable without flushing it.
    pub async fn seal(&self) -> Result<()> {
        self.check_open()?;
        let mut wal = self.shared.commit.lock().await;
        self.seal_with(&mut wal).await
    }

    /// Seals the mutable memtable (if it holds anything). Caller holds the commit lock.
    pub(super) async fn seal_with(&self, wal: &mut Option<WalWriter>) -> Result<()> {
        // Sorting its batches while the log rotates (an await: idle work may run) would be
        // wasted on a memtable that is about to be sorted into a run.
        let sealing = self.raw_state()?.mutable.clone();
        lock(&sealing)?.set_sealing(true);
        let rotated = self.rotate_for_seal(wal).await;
        let next_segment = match rotated {
            Ok(n) => n,
            Err(e) => {
                if let Ok(mut m) = lock(&sealing) {
                    m.set_sealing(false);
                }
                return Err(e);
            }
        };
        if let Some(old) = self.swap_mutable(Some(next_segment), |_| super::FULL)? {
            self.sort_sealed(old);
        }
        Ok(())
    }

    /// Seals the mutable memtable and starts a fresh one; `next_segment` is where the fresh
    /// one's commits begin (`None`: in the segment being written, which the sealed one's
    /// commits may share; replay tells them apart by timestamp). `fill` rates the sealed
    /// memtable against the seal policy. Returns the sealed memtable, or `None` when there
    /// was nothing to seal.
    fn swap_mutable(
        &self,
        next_segment: Option<u64>,
        fill: impl FnOnce(&Memtable) -> u32,
    ) -> Result<Option<MemRef>> {
        let mut st = self.raw_state()?;
        let fill = {
            let mut mutable = lock(&st.mutable)?;
            if mutable.versions() == 0 {
                mutable.set_sealing(false);
                return Ok(None);
            }
            // Sealed from here on: no more writes reach it.
            mutable.seal();
            fill(&mutable)
        };
        let fresh = Arc::new(Mutex::new(Memtable::new()));
        let old = std::mem::replace(&mut st.mutable, fresh);
        let segment = match next_segment {
            Some(next) => std::mem::replace(&mut st.mutable_segment, next),
            None => st.mutable_segment,
        };
        st.immutables.push(Sealed {
            mem: old.clone(),
            segment,
            fill,
        });
        st.mutable_since_ms = None;
        Ok(Some(old))
    }

    /// How much of the seal policy `mem` used, in thousandths (at least 1). Only early seals
    /// ask, and there are none under `AgeMillis` or `Never` ([`Db::seals_early`]).
    fn fill_of(&self, mem: &Memtable) -> u32 {
        let full = u64::from(super::FULL);
        let part = |have: u64, of: u64| (have.saturating_mul(full) / of.max(1)).clamp(1, full);
        let fill = match self.shared.config.seal {
            SealPolicy::BatchesThreshold { batches } => {
                part(mem.batch_count() as u64, batches as u64)
            }
            SealPolicy::Rows(n) => part(mem.rows() as u64, n as u64),
            SealPolicy::Bytes(n) => part(mem.memory_bytes() as u64, n as u64),
            SealPolicy::AgeMillis(_) | SealPolicy::Never => full,
        };
        fill as u32
    }

    /// Writes the deferred commits (they belong in the segments the sealed memtable covers)
    /// and starts a new WAL segment; returns its number (0 without a WAL).
    async fn rotate_for_seal(&self, wal: &mut Option<WalWriter>) -> Result<u64> {
        self.write_deferred(wal).await?;
        Ok(match wal.as_mut() {
            Some(w) => {
                let now = self.shared.config.clock.now_millis();
                w.rotate(self.shared.wal_storage.as_ref(), now).await?
            }
            None => 0,
        })
    }

    /// A sealed memtable is reorganized for reads: natively it becomes one sorted run at once
    /// (see [`Memtable::sort_into_run`]), outside the state lock; in wasm every sealed
    /// memtable is sorted and merged into one run once writes pause ([`Db::reorganize`]).
    fn sort_sealed(&self, mem: MemRef) {
        if cfg!(target_arch = "wasm32") {
            drop(mem);
            self.reorganize_when_idle();
        } else if let Ok(mut m) = lock(&mem) {
            m.sort_into_run(&self.shared.schema);
        }
    }

    /// Schedules one reorganization for when writes pause (one at a time). Should writes
    /// not pause within the wait's limit, the sealed memtables are only sorted into runs (work
    /// they need anyway) and the rest waits for the next pause.
    pub(super) fn reorganize_when_idle(&self) {
        match self.raw_state() {
            Ok(mut st) if !st.reorganize_pending => st.reorganize_pending = true,
            _ => return,
        }
        self.when_idle(|db, quiet| {
            if let Ok(mut st) = db.raw_state() {
                st.reorganize_pending = false;
            }
            match quiet {
                true => {
                    let _ = db.reorganize();
                }
                // Tried again at the next pause: no later commit may come to ask for it.
                false => {
                    let _ = db.sort_sealed_runs();
                    db.reorganize_when_idle();
                }
            }
        });
    }

    /// Reorganizes the memtables for reads. A mutable memtable of 8,192 rows or more is
    /// sealed (not under [`SealPolicy::Never`] or [`SealPolicy::AgeMillis`], and not while a
    /// commit is in flight), every sealed memtable becomes one sorted run, and the newest runs
    /// are merged while each older one is at most twice their total: after a bulk load one
    /// run (a scan then slices one contiguous source instead of interleaving several row by
    /// row: B3, 100,000 rows in Chromium, ~31 ms from two runs and a mutable memtable, ~12 ms
    /// from one run), after many small pauses a few runs of geometrically growing size (each
    /// row is copied O(log n) times, not at every pause). Answers do not change, snapshots
    /// included. An early seal counts for its share of the seal policy toward minor
    /// compaction, and the fresh mutable memtable starts in the WAL segment being written.
    ///
    /// In wasm this runs by itself once writes pause; natively, call it after a bulk load
    /// that will be scanned.
    pub fn reorganize(&self) -> Result<()> {
        self.check_open()?;
        if !self.uses_memtable() {
            return Ok(());
        }
        if self.seals_early()
            && let Some(commit) = self.shared.commit.try_lock()
        {
            let rows = lock(&self.raw_state()?.mutable)?.rows();
            if rows >= TIDY_ROWS {
                // Every commit of the fresh memtable lands in this segment or a later one,
                // so a flush of the sealed ones moves the WAL floor past their segments.
                let next = commit.as_ref().map(WalWriter::segment);
                self.swap_mutable(next, |m| self.fill_of(m))?;
            }
        }
        let parts = self.sort_sealed_runs()?;
        self.merge_newest(&parts)
    }

    /// Whether [`Db::reorganize`] may seal the mutable memtable early. Not under `Never`, nor
    /// under an age policy: it bounds how long rows wait in memory, which an early seal's
    /// share cannot express (a burst's age says nothing of the pauses between bursts).
    pub(super) fn seals_early(&self) -> bool {
        !matches!(
            self.shared.config.seal,
            SealPolicy::Never | SealPolicy::AgeMillis(_)
        )
    }

    /// Sorts every sealed memtable into a run; returns the sealed memtables (none while a
    /// flush is writing them).
    fn sort_sealed_runs(&self) -> Result<Vec<Sealed>> {
        let parts = {
            let st = self.state()?;
            if st.flushing {
                return Ok(Vec::new());
            }
            st.immutables.clone()
        };
        for p in &parts {
            lock(&p.mem)?.sort_into_run(&self.shared.schema);
        }
        Ok(parts)
    }

    /// Merges the newest sealed memtables of `parts` (all of them, oldest first) into one:
    /// going from the newest, an older one joins while it holds at most twice the versions
    /// gathered so far. Readers that took the memtables before keep reading them; the merged
    /// one replaces them only if no flush took or removed them meanwhile.
    fn merge_newest(&self, parts: &[Sealed]) -> Result<()> {
        let sizes = parts
            .iter()
            .map(|p| lock(&p.mem).map(|m| m.versions()))
            .collect::<Result<Vec<_>>>()?;
        let mut from = sizes.len();
        let mut gathered = 0usize;
        while let Some(&older) = from.checked_sub(1).and_then(|i| sizes.get(i)) {
            if gathered > 0 && older > gathered.saturating_mul(2) {
                break;
            }
            gathered += older;
            from -= 1;
        }
        let Some(window) = parts.get(from..).filter(|w| w.len() >= 2) else {
            return Ok(());
        };
        let merged = {
            let guards = window
                .iter()
                .map(|p| lock(&p.mem))
                .collect::<Result<Vec<_>>>()?;
            let refs: Vec<&Memtable> = guards.iter().map(|g| &**g).collect();
            match Memtable::merge_sealed(&refs, &self.shared.schema)? {
                Some(m) => m,
                None => return Ok(()),
            }
        };
        let mut st = self.state()?;
        // Memtables sealed meanwhile (natively, by another thread) are newer: they stay after
        // the merged one.
        let unchanged = !st.flushing
            && st.immutables.len() >= parts.len()
            && st
                .immutables
                .iter()
                .zip(parts)
                .all(|(a, b)| Arc::ptr_eq(&a.mem, &b.mem));
        if unchanged {
            let sealed = Sealed {
                mem: Arc::new(Mutex::new(merged)),
                segment: window.iter().map(|p| p.segment).min().unwrap_or(0),
                fill: window.iter().fold(0u32, |f, p| f.saturating_add(p.fill)),
            };
            st.immutables.splice(from..parts.len(), [sealed]);
        }
        Ok(())
    }

    /// Runs `work` once writes pause: in wasm, at the first turn of the event loop at least
    /// `QUIET_MS` after the last commit (or after `MAX_WAITS` tries, for a writer that never
    /// pauses; `work` is then told writes did not pause), unless the database was dropped
    /// by then. Reorganizing memtables for reads (~25k B1 rows: ~15% of a bulk load on OPFS
    /// when it ran at the first turn) then costs a write burst nothing; reads meanwhile get
    /// the same answers. Natively it runs at once.
    pub(super) fn when_idle(&self, work: impl FnOnce(&Db, bool) + 'static) {
        #[cfg(not(target_arch = "wasm32"))]
        work(self, true);
        #[cfg(target_arch = "wasm32")]
        {
            let weak = Arc::downgrade(&self.shared);
            let last_write = self.shared.last_write_ms.clone();
            let clock = self.shared.config.clock.clone();
            crate::runtime::task::spawn(async move {
                let mut wait = QUIET_MS;
                let mut paused = false;
                for _ in 0..MAX_WAITS {
                    crate::runtime::timer::sleep(wait).await;
                    let quiet = clock
                        .now_millis()
                        .saturating_sub(last_write.load(std::sync::atomic::Ordering::Relaxed));
                    if quiet >= QUIET_MS {
                        paused = true;
                        break;
                    }
                    wait = QUIET_MS - quiet;
                }
                if let Some(shared) = weak.upgrade() {
                    work(&Db { shared }, paused);
                }
            });
        }
    }
}
