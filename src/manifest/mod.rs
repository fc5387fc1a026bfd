//! The manifest: which SSTs are live, the WAL floor, the table's catalog entry and the version
//! history, in one object (`manifest/HEAD`) moved by compare-and-swap.
//!
//! Every committed state is a full checkpoint, so opening reads exactly one object however long
//! the history is. The edit log (one [`HistoryEntry`] per version) rides in the head until it
//! grows past [`HISTORY_TAIL`] entries; older entries move to immutable archive objects
//! (`manifest/history/{first}-{last}`) that only `versions()` and GC read.
//!
//! Commit protocol: build an [`Edit`], apply it to the cached head, write the result with
//! `If-Match` on the head's etag (`If-None-Match: *` for the first commit). A lost race re-reads
//! the head (one GET), re-applies the edit when it still applies (adding SSTs always does;
//! removing SSTs only while they are still live) and retries after [`CasBackoffConfig`]'s
//! backoff; an edit that no longer applies fails with [`Error::Conflict`].
//!
//! [`CasBackoffConfig`]: crate::runtime::CasBackoffConfig
//! [`Error::Conflict`]: crate::error::Error::Conflict

mod commit;
mod dropped;
mod edit;
mod format;
mod history;
mod state;

pub use commit::{HEAD_PATH, Head, Manifest};
pub use dropped::{DROPPED_DIR, NoteRef, note_path};
pub use edit::Edit;
pub use format::{
    decode_archive, decode_note, decode_state, encode_archive, encode_note, encode_state,
};
pub use history::{ARCHIVE_CHUNK, HISTORY_DIR, HISTORY_TAIL};
pub use state::{
    ArchiveRef, Catalog, Condemned, Dropped, EditKind, HistoryEntry, ManifestState, WalFloor,
};

#[cfg(test)]
mod tests;
