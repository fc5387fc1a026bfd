//! Files the manifest names before they exist. A seal-every-batch put publishes its manifest
//! commit while its SST is still uploading (one round trip instead of two), so a reader on
//! another handle can find the head naming a file that is not there yet: it waits, and if the
//! file never comes (its writer died or lost its connection), it settles the question for
//! everyone with a void marker (`crate::sst::void`). The marker and the upload are both
//! create-if-absent writes to one path, so exactly one lands, and the writer acknowledges its put
//! only if the upload did. Waiting is bounded by sleeps, never by comparing clocks.

use std::sync::Arc;

use super::Db;
use crate::error::{Error, Result};
use crate::sst::void::{VOID_MAX_BYTES, is_void, void_marker};
use crate::sst::{Sst, SstHandle};
use crate::storage::PutMode;

/// First pause before looking again for a file in flight; each pause doubles up to the cap.
const FIRST_PAUSE_MS: u64 = 5;
const MAX_PAUSE_MS: u64 = 250;

/// How long a reader waits for a named file before voiding it: a base that covers a slow
/// round trip and a writer's retries, plus the upload time of the file at 1 MB/s.
pub(crate) fn settle_budget_ms(bytes: u64) -> u64 {
    5_000 + bytes / 1_000
}

impl Db {
    /// The open SST behind `h`, or `None` when its path holds a void marker (the file never
    /// arrived; it reads as empty). A file its put uploaded while publishing the commit
    /// ([`crate::paths::sst_path_in_flight`]) is waited for; any other missing file is a loss,
    /// reported as `NOT_FOUND`, never read as empty.
    pub(crate) async fn open_sst(&self, h: &SstHandle) -> Result<Option<Arc<Sst>>> {
        if h.is_void() {
            return Ok(None);
        }
        let storage = self.shared.storage.as_ref();
        let table = &self.shared.schema;
        let clock = &self.shared.config.clock;
        let in_flight = crate::paths::is_in_flight_path(&h.meta.path);
        let budget = settle_budget_ms(h.meta.bytes);
        let mut waited = 0u64;
        let mut pause = FIRST_PAUSE_MS;
        let mut named = false;
        let mut marked = false;
        loop {
            match h.open(storage, table, self.shared.config.block_cache).await {
                Ok(sst) => return Ok(Some(sst)),
                // A marker is a few bytes where the manifest promises a Parquet file: it fails
                // the open's checks. Only then are the object's first bytes fetched to tell.
                Err(e @ Error::Corrupt(_)) if in_flight => {
                    let first = 0..VOID_MAX_BYTES as u64 + 1;
                    return match storage.get_range(&h.meta.path, first).await {
                        Ok(bytes) if is_void(&bytes) => {
                            h.mark_void();
                            Ok(None)
                        }
                        _ => Err(e),
                    };
                }
                Err(Error::NotFound(what)) if in_flight => {
                    // Not named by the newest head: compacted away and collected (the caller's
                    // retry on a newer view handles it).
                    if !named {
                        named = self.head_names(h.meta.id).await?;
                        if !named {
                            return Err(Error::NotFound(what));
                        }
                    }
                    if marked {
                        // Our marker lost to something that is gone again: give up.
                        return Err(Error::NotFound(what));
                    }
                    if waited >= budget {
                        // Still named? A view older than a compaction that took the file (and a
                        // GC that collected it) must retry on the newer view, not void it.
                        if !self.head_names(h.meta.id).await? {
                            return Err(Error::NotFound(what));
                        }
                        match storage
                            .put(&h.meta.path, void_marker(), PutMode::CreateNew)
                            .await
                        {
                            Ok(_) => {
                                h.mark_void();
                                return Ok(None);
                            }
                            // The upload landed after all (or another reader's marker did):
                            // the next open tells which.
                            Err(Error::Conflict(_)) => marked = true,
                            Err(e) => return Err(e),
                        }
                        continue;
                    }
                    clock.sleep(pause).await;
                    waited += pause;
                    pause = (pause * 2).min(MAX_PAUSE_MS);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether the newest head names SST `id`.
    async fn head_names(&self, id: u64) -> Result<bool> {
        let head = self.shared.manifest.load().await?;
        Ok(head.is_some_and(|h| h.state.ssts.iter().any(|m| m.id == id)))
    }

    /// Settles a put whose commit landed but whose upload failed with `err`: the writer voids
    /// its own file (so no reader waits for it, and a late landing of the upload cannot make
    /// rows appear after the put reported failure). `Ok(())` when the upload had landed after
    /// all (the put succeeded); else the error to report.
    pub(super) async fn settle_own_upload(&self, path: &str, err: Error) -> Result<()> {
        let storage = self.shared.storage.as_ref();
        match storage.put(path, void_marker(), PutMode::CreateNew).await {
            Ok(_) => Err(err),
            Err(Error::Conflict(_)) => match storage.get(path).await {
                Ok(bytes) if is_void(&bytes) => Err(Error::Conflict(format!(
                    "the put's file did not land before readers gave up waiting for it, so \
                     nothing was written; retry the put ({err})"
                ))),
                Ok(_) => Ok(()),
                Err(_) => Err(err),
            },
            Err(_) => Err(err),
        }
    }
}
