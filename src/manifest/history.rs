//! The version history beyond the head: old entries moved into immutable chunk objects, found
//! by version number, and read back for listings, time travel, GC and lost-reply checks.
//!
//! The head keeps a short tail (at most [`HISTORY_TAIL`] entries), so the bytes every commit
//! writes do not grow with history. Chunk `k` holds versions `16k+1 ..= 16k+16` at
//! `manifest/history/{16k+1:020}-{16k+16:020}`; the head records only the newest version
//! archived (`archived_to`), so naming the chunks costs it nothing either. Archives written
//! before chunks (256 entries at any offset) are still listed by the heads that have them.

use std::ops::RangeInclusive;

use bytes::Bytes;
use futures_util::StreamExt;

use super::commit::Manifest;
use super::format::{decode_archive, encode_archive};
use super::state::{ArchiveRef, HistoryEntry, ManifestState};
use crate::error::{Error, Result};
use crate::storage::PutMode;

/// Where archived history lives.
pub const HISTORY_DIR: &str = "manifest/history/";
/// A commit archives once the head holds this many history entries.
pub const HISTORY_TAIL: usize = 24;
/// Versions per history chunk.
pub const ARCHIVE_CHUNK: usize = 16;
/// Entries the head keeps after archiving, at least: a writer whose reply was lost looks for
/// its commit among them first.
pub const HISTORY_KEEP: usize = 8;
/// Chunks read at once.
const CHUNK_READS: usize = 16;

const CHUNK: u64 = ARCHIVE_CHUNK as u64;

/// The chunk holding `version`.
fn chunk_of(version: u64) -> u64 {
    version.saturating_sub(1) / CHUNK
}

/// The path of chunk `k`.
pub fn chunk_path(k: u64) -> String {
    let first = k.saturating_mul(CHUNK).saturating_add(1);
    format!(
        "{HISTORY_DIR}{first:020}-{:020}",
        first.saturating_add(CHUNK - 1)
    )
}

/// Appends the entries of `entries` whose versions are in `versions` to `out`, in order, up to
/// and including the first for which `stop` holds; whether it held.
fn take_until(
    entries: impl IntoIterator<Item = HistoryEntry>,
    versions: RangeInclusive<u64>,
    out: &mut Vec<HistoryEntry>,
    stop: &mut impl FnMut(&HistoryEntry) -> bool,
) -> bool {
    for h in entries {
        if !versions.contains(&h.version) {
            continue;
        }
        let done = stop(&h);
        out.push(h);
        if done {
            return true;
        }
    }
    false
}

impl Manifest {
    /// Moves the head's oldest history entries (those of the chunk its first entry is in) into
    /// that chunk's object and returns the reference the archiving edit carries, when the head
    /// holds at least `min_tail` entries and [`HISTORY_KEEP`] would remain.
    pub async fn archive_if_due(
        &self,
        state: &ManifestState,
        min_tail: usize,
    ) -> Result<Option<ArchiveRef>> {
        if state.history.len() < min_tail.max(HISTORY_KEEP + 1) {
            return Ok(None);
        }
        let Some(first) = state.history.first().map(|h| h.version) else {
            return Ok(None);
        };
        let k = chunk_of(first);
        let last = k.saturating_add(1).saturating_mul(CHUNK);
        let entries: Vec<HistoryEntry> = state
            .history
            .iter()
            .take_while(|h| h.version <= last)
            .cloned()
            .collect();
        if state.history.len() - entries.len() < HISTORY_KEEP {
            return Ok(None);
        }
        let path = chunk_path(k);
        let bytes = Bytes::from(encode_archive(&entries));
        match self.storage.put(&path, bytes, PutMode::CreateNew).await {
            // Another writer archived this chunk first. Its copy may start lower (a lower
            // history floor) but holds every version above it: readers filter by the floor.
            Ok(_) | Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        Ok(Some(ArchiveRef { first, last, path }))
    }

    /// The archived entries of versions `lo..=hi` (chunked part only), oldest first, reading
    /// [`CHUNK_READS`] chunks at once. Stops after the batch in which `stop` first holds.
    async fn chunks(
        &self,
        lo: u64,
        hi: u64,
        out: &mut Vec<HistoryEntry>,
        stop: &mut impl FnMut(&HistoryEntry) -> bool,
    ) -> Result<bool> {
        if lo > hi {
            return Ok(false);
        }
        let ks: Vec<u64> = (chunk_of(lo)..=chunk_of(hi)).collect();
        for batch in ks.chunks(CHUNK_READS) {
            let read: Vec<Result<Bytes>> = futures_util::stream::iter(batch.iter())
                .map(|&k| async move { self.storage.get(&chunk_path(k)).await })
                .buffered(CHUNK_READS)
                .collect()
                .await;
            for bytes in read {
                if take_until(decode_archive(&bytes?)?, lo..=hi, out, stop) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Retained history entries, oldest first, up to and including the first for which `stop`
    /// holds (all of them if it never does). Listed archives and chunks are read only as far
    /// as needed.
    pub async fn versions_until(
        &self,
        state: &ManifestState,
        stop: impl FnMut(&HistoryEntry) -> bool,
    ) -> Result<Vec<HistoryEntry>> {
        self.versions_from(state, 0, stop).await
    }

    /// [`Manifest::versions_until`] starting at version `from` (or the oldest retained):
    /// nothing older is read.
    pub async fn versions_from(
        &self,
        state: &ManifestState,
        from: u64,
        mut stop: impl FnMut(&HistoryEntry) -> bool,
    ) -> Result<Vec<HistoryEntry>> {
        let floor = state.history_floor.max(from);
        let mut out = Vec::new();
        for a in state.archives.iter().filter(|a| a.last >= floor) {
            let bytes = self.storage.get(&a.path).await?;
            if take_until(
                decode_archive(&bytes)?,
                floor..=u64::MAX,
                &mut out,
                &mut stop,
            ) {
                return Ok(out);
            }
        }
        let listed_to = state.archives.iter().map(|a| a.last).max().unwrap_or(0);
        let lo = floor.max(listed_to.saturating_add(1)).max(1);
        if self
            .chunks(lo, state.archived_to, &mut out, &mut stop)
            .await?
        {
            return Ok(out);
        }
        let tail = state.history.iter().cloned();
        take_until(tail, floor..=u64::MAX, &mut out, &mut stop);
        Ok(out)
    }

    /// Every retained version, oldest first: listed archives and chunks (one GET each, chunks
    /// several at once), then the head's tail.
    pub async fn versions(&self, state: &ManifestState) -> Result<Vec<HistoryEntry>> {
        self.versions_until(state, |_| false).await
    }

    /// Whether version `version` of the history moved into chunks was made by commit
    /// `commit_id` (the tail is the caller's to check): a writer whose reply was lost learns
    /// its commit landed although its entry has already left the head. One GET.
    pub async fn archived_commit(
        &self,
        state: &ManifestState,
        version: u64,
        commit_id: u64,
    ) -> Result<bool> {
        if version < state.history_floor || version > state.archived_to {
            return Ok(false);
        }
        let mut found = false;
        self.chunks(version, version, &mut Vec::new(), &mut |h| {
            found = h.commit_id == commit_id;
            true
        })
        .await?;
        Ok(found)
    }
}
