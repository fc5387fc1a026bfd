//! The tail pack's two ends on a handle (`crate::sst::pack`): an open seeds its SST handles
//! from the pack it fetched beside the manifest head, and a handle that compacts rewrites the
//! pack once its round of jobs is over (at most once a second while jobs keep coming, and at
//! close when one was put off), so that the next fresh handle finds the tails of the files
//! compaction just made.

use super::Db;
use crate::error::Result;
use crate::sst::SstMeta;
use crate::sst::pack::{PACK_MAX_BYTES, PACK_PATH, PackEntry, encode};
use crate::storage::PutMode;

/// SSTs up to this size are fetched whole at their first read, in the same round as the data
/// reads, so a pack gains nothing from holding their tails (`sst::open`'s whole-read bound).
const PACKED_MIN_BYTES: u64 = 256 * 1024;

/// While jobs keep coming, the pack is rewritten at most this often (clock ms); a rewrite
/// put off is done after the next job or at close.
const PACK_MIN_INTERVAL_MS: u64 = 1_000;

/// What a pack costs per entry besides the tail: the format's fields and the path.
fn entry_cost(m: &SstMeta) -> u64 {
    18 + m.path.len() as u64 + m.tail_bytes
}

impl Db {
    /// Hands each SST of the view its tail from the pack read at open; entries the head does
    /// not vouch for (stale, damaged or foreign) are dropped here.
    pub(super) fn seed_tails(&self, pack: Vec<PackEntry>) -> Result<()> {
        if pack.is_empty() {
            return Ok(());
        }
        let version = self.state()?.version.clone();
        for entry in pack {
            if let Some(h) = version.ssts.iter().find(|h| h.meta.path == entry.path) {
                h.seed_tail(entry.size, entry.tail);
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

    /// Writes a pack put off by [`Self::pack_after_jobs`], if any (at close).
    pub(super) async fn pack_if_due(&self) {
        let dirty = self.state().is_ok_and(|st| st.compaction.pack_dirty);
        if dirty {
            self.pack_after_jobs(true).await;
        }
    }

    /// Writes the pack for this handle's view: the tails of its SSTs past the whole-read size,
    /// deepest level first (every point read may touch each level) until the size cap. Tails of
    /// the pack this handle wrote last are reused; the others are fetched, all at once.
    async fn write_tail_pack(&self) -> Result<()> {
        let version = self.state()?.version.clone();
        let packed: Vec<&SstMeta> = version
            .ssts
            .iter()
            .map(|h| &h.meta)
            .filter(|m| m.tail_bytes > 0 && m.bytes > PACKED_MIN_BYTES)
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
        let last = self.state()?.compaction.pack.clone();
        let same = last.as_ref().is_some_and(|last| {
            last.len() == metas.len()
                && last
                    .iter()
                    .zip(&metas)
                    .all(|(e, m)| e.path == m.path && e.size == m.bytes)
        });
        let last = last.unwrap_or_default();
        if same {
            self.state()?.compaction.pack_dirty = false;
            return Ok(());
        }
        let storage = self.shared.storage.as_ref();
        let fetches = metas.iter().map(|m| {
            let kept = last
                .iter()
                .find(|e| {
                    e.path == m.path && e.size == m.bytes && crc32c::crc32c(&e.tail) == m.tail_crc
                })
                .cloned();
            async move {
                if let Some(e) = kept {
                    return Some(e);
                }
                // A file compacted away meanwhile by another handle is simply left out.
                let tail = storage
                    .get_range(&m.path, m.bytes - m.tail_bytes..m.bytes)
                    .await
                    .ok()?;
                (tail.len() as u64 == m.tail_bytes && crc32c::crc32c(&tail) == m.tail_crc).then(
                    || PackEntry {
                        path: m.path.clone(),
                        size: m.bytes,
                        tail,
                    },
                )
            }
        });
        let entries: Vec<PackEntry> = futures_util::future::join_all(fetches)
            .await
            .into_iter()
            .flatten()
            .collect();
        storage
            .put(PACK_PATH, encode(&entries), PutMode::Overwrite)
            .await?;
        let now = self.shared.config.clock.now_millis();
        let mut st = self.state()?;
        st.compaction.pack = Some(entries);
        st.compaction.pack_written_ms = now;
        st.compaction.pack_dirty = false;
        Ok(())
    }
}
