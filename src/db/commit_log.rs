//! Commit groups written to the write-ahead log: one append per group, and the frames of
//! fast-acknowledged commits held back until the next log write. Apart from the pipeline
//! (commit.rs), which only picks the group and hands it here.

use super::Db;
use super::commit::Pending;
use crate::error::{Error, Result};
use crate::key::Timestamp;
use crate::wal::{WalOp, WalWriter, encode_txn};

impl Db {
    /// The WAL frames of `group` at timestamps `ts`.
    fn wal_frames(group: &[Pending], ts: &[Timestamp]) -> Result<Vec<u8>> {
        let mut frames = Vec::new();
        for (p, t) in group.iter().zip(ts) {
            let mut payloads = Vec::new();
            p.op.wal_payload(&mut payloads)?;
            let refs: Vec<(WalOp, &[u8])> =
                payloads.iter().map(|(o, b)| (*o, b.as_slice())).collect();
            encode_txn(&mut frames, *t, *t, &refs);
        }
        Ok(frames)
    }

    /// Fast acknowledgement: applies the group now and leaves its frames for the next log
    /// write (a strict commit, a seal, `sync`, `flush` or `close`).
    pub(super) async fn defer_wal_group(
        &self,
        wal: &mut Option<WalWriter>,
        group: Vec<Pending>,
    ) -> Result<Vec<Timestamp>> {
        let ts = self.assign_group(group.len())?;
        let frames = Self::wal_frames(&group, &ts)?;
        self.raw_state()?.deferred_frames.extend_from_slice(&frames);
        self.apply_group(wal, group, Some(ts)).await
    }

    /// Writes frames deferred by fast acknowledgements. Caller holds the commit lock.
    pub(super) async fn write_deferred(&self, wal: &mut Option<WalWriter>) -> Result<()> {
        let frames = std::mem::take(&mut self.raw_state()?.deferred_frames);
        if frames.is_empty() {
            return Ok(());
        }
        self.write_log(wal, frames.clone(), frames).await
    }

    /// Appends `frames` to the log. On failure the segment is abandoned and `retry` goes back
    /// in front of the deferred frames, so the next log write carries them.
    async fn write_log(
        &self,
        wal: &mut Option<WalWriter>,
        frames: Vec<u8>,
        retry: Vec<u8>,
    ) -> Result<()> {
        let writer = wal
            .as_mut()
            .ok_or_else(|| Error::Internal("WAL mode without a WAL writer".into()))?;
        let now = self.shared.config.clock.now_millis();
        if let Err(e) = writer
            .write(self.shared.wal_storage.as_ref(), frames, now)
            .await
        {
            // The segment may now end in a torn frame: later frames go to a fresh segment so
            // replay, which stops a segment at its first bad frame, still reaches them.
            writer
                .abandon_segment(self.shared.wal_storage.as_ref())
                .await;
            self.restore_deferred(retry);
            return Err(e);
        }
        Ok(())
    }

    /// Puts frames whose write failed back in front of the deferred ones, so the next write
    /// retries them (replaying a frame twice rewrites the same versions).
    fn restore_deferred(&self, mut frames: Vec<u8>) {
        if let Ok(mut st) = self.raw_state() {
            frames.extend_from_slice(&st.deferred_frames);
            st.deferred_frames = frames;
        }
    }

    pub(super) async fn write_wal_group(
        &self,
        wal: &mut Option<WalWriter>,
        group: Vec<Pending>,
    ) -> Result<Vec<Timestamp>> {
        let ts = self.assign_group(group.len())?;
        // Earlier fast commits go first: the log stays in timestamp order.
        let deferred = std::mem::take(&mut self.raw_state()?.deferred_frames);
        let mut frames = deferred.clone();
        frames.extend(Self::wal_frames(&group, &ts)?);
        self.write_log(wal, frames, deferred).await?;
        self.apply_group(wal, group, Some(ts)).await
    }
}
