//! The tail pack's two ends on a handle (`crate::sst::pack`): an open seeds its SST handles
//! from the pack it fetched beside the manifest head, and a handle that compacts rewrites the
//! pack once its round of jobs is over (at most once every 5 seconds while jobs keep coming,
//! and at close when one was put off), so that the next fresh handle finds the tails of the files
//! compaction just made.

use std::collections::HashMap;

use bytes::Bytes;

use super::Db;
use crate::error::Result;
use crate::sst::pack::{PACK_MAX_BYTES, PACK_PATH, PackEntry, decode, encode};
use crate::sst::{SstHandle, SstMeta};
use crate::storage::{PutMode, Storage};

/// The stored pack's entries, or none: the pack is only a shortcut, so a missing, oversized,
/// damaged or unreadable one is read as empty (each SST's tail is then fetched from the SST).
pub(super) async fn read_pack(storage: &dyn Storage) -> Vec<PackEntry> {
    match storage.get_range(PACK_PATH, 0..PACK_MAX_BYTES + 1).await {
        Ok(bytes) if bytes.len() as u64 <= PACK_MAX_BYTES => decode(&bytes).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// SSTs up to this size are fetched whole at their first read, in the same round as the data
/// reads, so a pack gains nothing from holding their tails (`sst::open`'s whole-read bound).
const PACKED_MIN_BYTES: u64 = 256 * 1024;

/// While jobs keep coming, the pack is rewritten at most this often (clock ms); a rewrite
/// put off is done on a later trigger once the interval has passed, or at close. (At one a
/// second, a bulk load of 1M rows in 1,000-row puts rewrote a 1.2 MiB pack 259 times: the
/// interval must hold for triggers without jobs too.)
const PACK_MIN_INTERVAL_MS: u64 = 5_000;

/// Tails fetched at once when a rewrite needs tails the stored pack lacks.
const FETCHES_AT_ONCE: usize = 8;

/// What a pack costs per entry besides the tail: the format's fields and the path.
fn entry_cost(m: &SstMeta) -> u64 {
    (18 + m.path.len() as u64).saturating_add(m.tail_bytes)
}

impl Db {
    /// Hands each SST of the view its tail from the pack read at open; entries the head does
    /// not vouch for (stale, damaged or foreign) are dropped here.
    pub(super) fn seed_tails(&self, pack: Vec<PackEntry>) -> Result<()> {
        if pack.is_empty() {
            return Ok(());
        }
        let version = self.state()?.version.clone();
        let by_path: HashMap<&str, &SstHandle> = version
            .ssts
            .iter()
            .map(|h| (h.meta.path.as_str(), h.as_ref()))
            .collect();
        for entry in pack {
            if let Some(h) = by_path.get(entry.path.as_str()) {
                // A copy: a slice would keep the whole pack alive until every SST is read.
                h.seed_tail(entry.size, Bytes::copy_from_slice(&entry.tail));
            }
        }
        Ok(())
    }

    /// After a round of compaction jobs: rewrites the pack now if `force` or if the last
    /// rewrite is old enough, else notes that one is due. Failures are not the jobs' failure
    /// (the pack only saves round trips); the next round tries again.
    pub(super) async fn pack_after_jobs(&self, force: bool) {
        if !self.shared.config.tail_pack {
            return;
        }
        let now = self.shared.config.clock.now_millis();
        let due = {
            let Ok(mut st) = self.state() else { return };
            let c = &mut st.compaction;
            let due = force || now.saturating_sub(c.pack_written_ms) >= PACK_MIN_INTERVAL_MS;
            c.pack_dirty = !due;
            due
        };
        if due
            && self.write_tail_pack().await.is_err()
            && let Ok(mut st) = self.state()
        {
            st.compaction.pack_dirty = true;
        }
    }

    /// Writes a pack put off by [`Self::pack_after_jobs`], if any: at once when `force` (at
    /// close), else once the interval has passed.
    pub(super) async fn pack_if_due(&self, force: bool) {
        let dirty = self.state().is_ok_and(|st| st.compaction.pack_dirty);
        if dirty {
            self.pack_after_jobs(force).await;
        }
    }

    /// Writes the pack for this handle's view: the tails of its SSTs past the whole-read size,
    /// deepest level first (every point read may touch each level) until the size cap. The
    /// stored pack is read first: when it already holds exactly these files nothing is written,
    /// and its tails that still match the head are reused, so only new files' tails are
    /// fetched (a few at a time: a Worker's subrequests are counted).
    async fn write_tail_pack(&self) -> Result<()> {
        let version = self.state()?.version.clone();
        let packed: Vec<&SstMeta> = version
            .ssts
            .iter()
            .map(|h| &h.meta)
            .filter(|m| m.tail_bytes > 0 && m.tail_bytes <= m.bytes && m.bytes > PACKED_MIN_BYTES)
            .collect();
        // Deepest level first, in the head's order within a level (levels are few: no sort,
        // whose generic code would cost the wasm more than this loop).
        let mut metas: Vec<&SstMeta> = Vec::with_capacity(packed.len());
        let mut next = packed.iter().map(|m| m.level).max();
        while let Some(level) = next {
            metas.extend(packed.iter().filter(|m| m.level == level));
            next = packed.iter().map(|m| m.level).filter(|&l| l < level).max();
        }
        let mut room = PACK_MAX_BYTES.saturating_sub(16);
        metas.retain(|m| {
            let fits = entry_cost(m) <= room;
            if fits {
                room -= entry_cost(m);
            }
            fits
        });
        let storage = self.shared.storage.as_ref();
        let stored = read_pack(storage).await;
        let holds =
            |e: &PackEntry, m: &SstMeta| e.path == m.path && m.vouches_for_tail(e.size, &e.tail);
        let same =
            stored.len() == metas.len() && stored.iter().zip(&metas).all(|(e, m)| holds(e, m));
        if same {
            let now = self.shared.config.clock.now_millis();
            let mut st = self.state()?;
            st.compaction.pack_written_ms = now;
            // A view that moved meanwhile (another job) leaves a rewrite due.
            st.compaction.pack_dirty = st.version.manifest_version != version.manifest_version;
            return Ok(());
        }
        let missing: Vec<&SstMeta> = metas
            .iter()
            .filter(|m| !stored.iter().any(|e| holds(e, m)))
            .copied()
            .collect();
        let mut fetched: Vec<PackEntry> = Vec::with_capacity(missing.len());
        for group in missing.chunks(FETCHES_AT_ONCE) {
            let fetches = group.iter().map(|m| async move {
                // A file compacted away meanwhile by another handle is simply left out.
                let tail = storage
                    .get_range(&m.path, m.bytes - m.tail_bytes..m.bytes)
                    .await
                    .ok()?;
                let entry = PackEntry {
                    path: m.path.clone(),
                    size: m.bytes,
                    tail,
                };
                holds(&entry, m).then_some(entry)
            });
            fetched.extend(
                futures_util::future::join_all(fetches)
                    .await
                    .into_iter()
                    .flatten(),
            );
        }
        // In the head's order (deepest level first), as the next rewrite compares it.
        let entries: Vec<PackEntry> = metas
            .iter()
            .filter_map(|m| stored.iter().chain(&fetched).find(|e| holds(e, m)).cloned())
            .collect();
        storage
            .put(PACK_PATH, encode(&entries), PutMode::Overwrite)
            .await?;
        let now = self.shared.config.clock.now_millis();
        let mut st = self.state()?;
        st.compaction.pack_written_ms = now;
        st.compaction.pack_dirty = st.version.manifest_version != version.manifest_version;
        Ok(())
    }
}
