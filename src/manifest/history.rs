//! The version history beyond the head: moving old entries into immutable archive objects,
//! and listing every retained version.

use bytes::Bytes;

use super::commit::Manifest;
use super::format::{decode_archive, encode_archive};
use super::state::{ArchiveRef, HistoryEntry, ManifestState};
use crate::error::{Error, Result};
use crate::storage::PutMode;

/// Where archived history lives.
pub const HISTORY_DIR: &str = "manifest/history/";
/// History entries the head keeps before a commit archives the oldest [`ARCHIVE_CHUNK`].
pub const HISTORY_TAIL: usize = 512;
/// Entries per archive object.
pub const ARCHIVE_CHUNK: usize = 256;

impl Manifest {
    /// Moves the oldest [`ARCHIVE_CHUNK`] history entries of `state` into an archive object and
    /// returns the edit that records it, when the tail is long enough to need it.
    pub async fn archive_if_due(
        &self,
        state: &ManifestState,
        min_tail: usize,
    ) -> Result<Option<ArchiveRef>> {
        if state.history.len() < min_tail.max(ARCHIVE_CHUNK) {
            return Ok(None);
        }
        let entries: Vec<HistoryEntry> =
            state.history.iter().take(ARCHIVE_CHUNK).cloned().collect();
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Ok(None);
        };
        let path = format!("{HISTORY_DIR}{:020}-{:020}", first.version, last.version);
        let bytes = Bytes::from(encode_archive(&entries));
        match self.storage.put(&path, bytes, PutMode::CreateNew).await {
            // The same entries always make the same object: another writer's copy is as good.
            Ok(_) | Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        Ok(Some(ArchiveRef {
            first: first.version,
            last: last.version,
            path,
        }))
    }

    /// Every retained version, oldest first: archived entries (one GET per archive) then the
    /// head's tail.
    pub async fn versions(&self, state: &ManifestState) -> Result<Vec<HistoryEntry>> {
        let mut out = Vec::new();
        for a in &state.archives {
            let bytes = self.storage.get(&a.path).await?;
            out.extend(
                decode_archive(&bytes)?
                    .into_iter()
                    .filter(|h| h.version >= state.history_floor),
            );
        }
        out.extend(
            state
                .history
                .iter()
                .filter(|h| h.version >= state.history_floor)
                .cloned(),
        );
        Ok(out)
    }
}
