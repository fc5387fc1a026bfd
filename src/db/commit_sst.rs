//! Seal-every-batch commits: a commit group written as one SST and published by one manifest
//! compare-and-swap, restamped or retried when another writer got in first. Apart from the
//! pipeline (commit.rs) because the object-store path has its own conflict handling.

use std::sync::Arc;

use super::Db;
use super::commit::Pending;
use super::ops::Op;
use crate::error::{Error, Result};
use crate::key::KeyBytes;
use crate::key::Timestamp;
use crate::manifest::{Edit, EditKind, Head};
use crate::memtable::Memtable;
use crate::paths::sst_path;
use crate::sst::SstHandle;
use crate::storage::PutMode;

/// SSTs up to this size are uploaded while their commit is published. Bigger ones go first, then
/// the commit: their upload dominates anyway, and readers would wait long for them.
const OVERLAP_MAX_BYTES: u64 = 8 << 20;

impl Db {
    /// Seal every batch: the group becomes one SST, committed to the manifest before any of
    /// its puts resolves. A concurrent writer that committed first forces new timestamps (ours
    /// must order after theirs), so the SST is rewritten and the commit retried.
    pub(super) async fn write_sst_group(&self, group: Vec<Pending>) -> Result<Vec<Timestamp>> {
        let ops: Vec<Op> = group.into_iter().map(|p| p.op).collect();
        let manifest = &self.shared.manifest;
        let check: Option<(Timestamp, Vec<KeyBytes>)> = ops
            .first()
            .and_then(|o| o.txn_check())
            .map(|(t, k)| (t, k.to_vec()));
        let head: Head = match manifest.cached() {
            // A transaction must see every other writer's commits before it checks.
            Some(h) if check.is_none() => h,
            _ => manifest
                .load()
                .await?
                .ok_or_else(|| Error::Corrupt("the manifest head is missing".into()))?,
        };
        if let Some((read_ts, keys)) = &check {
            {
                let mut st = self.raw_state()?;
                self.install(&mut st, &head, &[]);
            }
            if self.conflicts(*read_ts, keys).await? {
                return Err(self.conflict_of(*read_ts));
            }
        }
        let ts = {
            let mut st = self.raw_state()?;
            self.assign(&mut st, ops.len(), head.state.last_ts)
        };
        let mut mem = Memtable::new();
        for (op, t) in ops.into_iter().zip(&ts) {
            op.apply(&mut mem, *t)?;
        }
        let now = self.shared.config.clock.now_millis();
        let id = crate::codec::random_u64()?;
        let path = sst_path(0, now, id);
        let Some((bytes, mut sst)) = crate::sst::writer::write_sst_owned(
            &self.shared.schema,
            mem,
            id,
            0,
            path.clone(),
            self.shared.config.point_read_blocks,
        )?
        else {
            return Ok(ts);
        };
        let storage = &self.shared.storage;
        // A head whose history tail is full moves its oldest entries into a chunk object in
        // this commit, written beside the SST: no extra round trip, and no commit of its own.
        let archive = async {
            if head.state.history.len() + 1 < crate::manifest::HISTORY_TAIL {
                return None;
            }
            // Bookkeeping: a failure leaves the tail for a later commit to move.
            manifest
                .archive_if_due(&head.state, crate::manifest::HISTORY_TAIL - 1)
                .await
                .ok()
                .flatten()
        };
        // A put sent with its commit gets a name that tells readers its file may be missing for
        // a while (paths::sst_path_in_flight); the file's bytes do not depend on its name.
        let overlap = check.is_none() && bytes.len() as u64 <= OVERLAP_MAX_BYTES;
        let path = if overlap {
            let flight = crate::paths::sst_path_in_flight(0, now, id);
            let mut meta = sst.meta.clone();
            meta.path = flight.clone();
            sst = Arc::new(sst.with_meta(meta));
            flight
        } else {
            path
        };
        let make_edit = |archived| Edit {
            kind: Some(EditKind::Put),
            commit_id: id,
            add: vec![sst.meta.clone()],
            min_ts: ts.first().copied(),
            restamp: true,
            last_ts: ts.last().copied(),
            expect_version: check.as_ref().map(|_| head.state.version),
            born: head.state.version,
            archived,
            ..Edit::default()
        };
        let new_head = if overlap {
            // The upload and the commit go out together: one round trip instead of two. Until
            // the upload lands, readers elsewhere that find the file named wait for it
            // (settle.rs); if it never lands, it is voided and this put fails.
            let clock = &self.shared.config.clock;
            let upload = async {
                let r = storage.put(&path, bytes, PutMode::CreateNew).await;
                (r, clock.now_millis())
            };
            let publish = async {
                let archived = archive.await;
                manifest.commit(&make_edit(archived)).await
            };
            let sent_ms = clock.now_millis();
            let ((put, put_ms), committed) = futures_util::future::join(upload, publish).await;
            let new_head = match committed {
                Ok(h) => h,
                // A failed commit leaves a file no head names, or (its reply lost) one the head
                // does name: GC deletes the first. If the upload failed too, the file is voided
                // so that neither a reader waits for it nor a late landing shows its rows.
                Err(e) => {
                    if let Err(pe) = put {
                        let _ = self.settle_own_upload(&path, pe).await;
                    }
                    return Err(e);
                }
            };
            // A reader voids a file only after waiting the settle budget from when it first saw
            // the commit, which went out after `sent_ms`. An upload answered within that budget
            // (by this machine's clock) landed before any marker could exist; one answered later,
            // or on a clock that went back, may have landed after its file was voided, compacted
            // away and its marker collected: unless the head still names the file, the outcome
            // is not known.
            let late = put_ms < sent_ms || put_ms - sent_ms >= super::settle::settle_budget_ms(0);
            match put {
                Ok(_) if late => {
                    let named = manifest
                        .load()
                        .await?
                        .is_some_and(|h| h.state.ssts.iter().any(|m| m.id == id));
                    if !named {
                        return Err(Error::transient(
                            format!(
                                "the put's upload was answered {} ms after it was sent and its \
                                 file has left the head since, so whether its rows were kept \
                                 cannot be told; read the keys back before retrying",
                                put_ms.saturating_sub(sent_ms)
                            ),
                            None,
                        ));
                    }
                }
                Ok(_) => {}
                Err(e) => self.settle_own_upload(&path, e).await?,
            }
            new_head
        } else {
            let (put, archived) =
                futures_util::future::join(storage.put(&path, bytes, PutMode::CreateNew), archive)
                    .await;
            put?;
            let mut edit = make_edit(archived);
            // The file may be named by the head even if this fails (a lost reply); GC deletes it
            // later if not.
            let mut attempts = 0;
            loop {
                match manifest.commit(&edit).await {
                    Ok(h) => break h,
                    // A transaction's head moved: check the commits that landed meanwhile, then
                    // retry on the new head (or give up with CONFLICT, deleting the file).
                    Err(Error::Conflict(_))
                        if check.is_some() && attempts < self.shared.config.backoff_attempts =>
                    {
                        attempts += 1;
                        let head = manifest
                            .load()
                            .await?
                            .ok_or_else(|| Error::Corrupt("the manifest head is missing".into()))?;
                        {
                            let mut st = self.raw_state()?;
                            self.install(&mut st, &head, &[]);
                        }
                        let (read_ts, keys) = check.as_ref().map_or((0, &[][..]), |(t, k)| (*t, k));
                        if self.conflicts(read_ts, keys).await? {
                            let _ = storage.delete(&path).await;
                            return Err(self.conflict_of(read_ts));
                        }
                        edit.expect_version = Some(head.state.version);
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        // Where our rows landed: a concurrent writer may have made the commit re-stamp them;
        // the head's record of our SST says by how much.
        let shift = match new_head.state.ssts.iter().find(|m| m.id == id) {
            Some(m) => {
                let shift = m.ts_shift;
                sst = Arc::new(sst.with_meta(m.clone()));
                shift
            }
            // Already merged away by a compaction that raced the reply: its history entry
            // still tells where the rows landed.
            None => new_head
                .state
                .history
                .iter()
                .rev()
                .find(|h| h.commit_id == id)
                .map_or(0, |h| h.ts.saturating_sub(ts.last().copied().unwrap_or(0))),
        };
        let stamped: Vec<Timestamp> = ts.iter().map(|t| t + shift).collect();
        {
            let mut st = self.raw_state()?;
            self.install(
                &mut st,
                &new_head,
                &[Arc::new(SstHandle::opened(
                    sst,
                    self.shared.config.block_cache,
                ))],
            );
            if let Some(last) = stamped.last() {
                st.last_ts = st.last_ts.max(*last);
                st.visible_ts = st.visible_ts.max(*last);
            }
        }
        Ok(stamped)
    }
}
