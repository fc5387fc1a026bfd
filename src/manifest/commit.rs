//! The manifest handle: the cached head, reading it, and committing an edit by
//! compare-and-swap on the head object, retrying lost races with backoff.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::edit::Edit;
use super::format::{decode_state, encode_state};
use super::state::ManifestState;
use crate::error::{Error, Result};
use crate::runtime::{CasBackoffConfig, Clock};
use crate::storage::{PutMode, Storage};

/// The head object.
pub const HEAD_PATH: &str = "manifest/HEAD";

/// A manifest state and the etag it was read or written with.
#[derive(Debug, Clone)]
pub struct Head {
    /// The state.
    pub state: Arc<ManifestState>,
    /// The storage's version tag of the head object.
    pub etag: String,
}

/// The manifest of one database root: the cached head and the commit loop.
#[derive(Debug)]
pub struct Manifest {
    pub(super) storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    backoff: CasBackoffConfig,
    head: Mutex<Option<Head>>,
    /// Held by each commit of this handle: two of its own commits in flight at once (a put
    /// and a background compaction) would make one lose the race and pay a re-read, a backoff
    /// and a second write; in turn, the later one starts from the head the earlier one wrote.
    turn: futures_util::lock::Mutex<()>,
}

impl Manifest {
    /// The manifest under `storage`'s root.
    pub fn new(
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        backoff: CasBackoffConfig,
    ) -> Self {
        Self {
            storage,
            clock,
            backoff,
            head: Mutex::new(None),
            turn: futures_util::lock::Mutex::new(()),
        }
    }

    /// The head last read or written by this handle.
    pub fn cached(&self) -> Option<Head> {
        self.head.lock().ok().and_then(|h| h.clone())
    }

    fn remember(&self, head: &Head) {
        if let Ok(mut h) = self.head.lock() {
            // Never move the cache backwards (a slow reader must not undo a newer commit).
            let newer = h
                .as_ref()
                .is_none_or(|old| old.state.version <= head.state.version);
            if newer {
                *h = Some(head.clone());
            }
        }
    }

    /// Reads the head from storage (one GET); `None` for a root with no table yet.
    pub async fn load(&self) -> Result<Option<Head>> {
        match self.storage.get_object(HEAD_PATH).await {
            Ok((bytes, meta)) => {
                let state = decode_state(&bytes)?;
                let head = Head {
                    state: Arc::new(state),
                    etag: meta.etag,
                };
                self.remember(&head);
                Ok(Some(head))
            }
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One compare-and-swap attempt of `state` over `base` (`None`: the head must not exist).
    pub async fn try_write(&self, base: Option<&Head>, state: ManifestState) -> Result<Head> {
        let bytes = Bytes::from(encode_state(&state));
        let mode = match base {
            Some(b) => PutMode::IfMatch(b.etag.clone()),
            None => PutMode::CreateNew,
        };
        let meta = self.storage.put(HEAD_PATH, bytes, mode).await?;
        let head = Head {
            state: Arc::new(state),
            etag: meta.etag,
        };
        self.remember(&head);
        Ok(head)
    }

    /// Commits `edit` on the newest head, retrying lost races with backoff while the edit still
    /// applies. `base` is where to start (the cached head, or a fresh read when there is none).
    ///
    /// After any failed write the head is read back before anything is decided: the write may
    /// have landed although its reply was lost (or a retried request saw its own effect as a
    /// conflict), and the handle must not keep building on a head it knows is stale. So a
    /// [`Error::Conflict`] from here always means the edit is not in the head that was read
    /// back, and the cached head is that newer one (the next commit starts from it). When the
    /// read-back itself fails the outcome is unknown and the write's own error is returned:
    /// callers must then not assume the edit is absent.
    pub async fn commit(&self, edit: &Edit) -> Result<Head> {
        let _turn = self.turn.lock().await;
        let mut base = match self.cached() {
            Some(h) => h,
            None => self
                .load()
                .await?
                .ok_or_else(|| Error::NotFound("the manifest head is missing".into()))?,
        };
        let mut attempt = 0u32;
        let mut cached = true;
        loop {
            let next = match edit.apply(&base.state, self.clock.now_millis()) {
                Ok(next) => next,
                // The cached head may be stale: judge the edit against the stored one.
                Err(e) if cached && e.code() == crate::error::ErrorCode::Conflict => {
                    cached = false;
                    match self.load().await? {
                        Some(fresh) => {
                            base = fresh;
                            continue;
                        }
                        None => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            };
            cached = false;
            let err = match self.try_write(Some(&base), next).await {
                Ok(head) => return Ok(head),
                Err(e) => e,
            };
            // A conflict, or a failure the backend calls transient, is worth another attempt:
            // the edit is re-applied to the head read after the backoff (reading it before
            // the sleep would make every attempt start from a head already stale).
            let again = (err.code() == crate::error::ErrorCode::Conflict || err.is_retryable())
                && attempt + 1 < self.backoff.max_attempts;
            if again {
                let random = crate::codec::random_u64().unwrap_or(0);
                self.clock
                    .sleep(self.backoff.delay_ms(attempt, random))
                    .await;
            }
            let fresh = match self.load().await {
                Ok(Some(h)) => h,
                Ok(None) => {
                    return Err(Error::Corrupt(
                        "the manifest head disappeared during a commit".into(),
                    ));
                }
                Err(_) => return Err(err),
            };
            // Our write, had it landed, made version base + 1: its entry is in the tail, or
            // (many commits later) in a history chunk.
            let archived =
                || self.archived_commit(&fresh.state, base.state.version + 1, edit.commit_id);
            if edit.landed_in(&fresh.state) || (edit.commit_id != 0 && archived().await?) {
                return Ok(fresh);
            }
            if !again {
                return Err(err);
            }
            attempt += 1;
            base = fresh;
        }
    }
}
