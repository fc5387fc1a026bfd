//! The end of a handle's work: acknowledged commits made durable on demand (sync), and the
//! handle closed. Apart from the commit path, which defers that work.

use std::sync::Arc;

use super::Db;
use crate::error::Result;
use crate::manifest::{Edit, EditKind};
use crate::options::Durability;

impl Db {
    /// Flushes what the memtables hold (so the next open replays nothing), syncs the WAL, and
    /// marks the handle closed; later calls fail with [`crate::ErrorCode::Closed`]. Idempotent.
    pub async fn close(&self) -> Result<()> {
        if self.raw_state()?.closed {
            return Ok(());
        }
        // Background jobs finish first: storage is not used after close.
        self.idle().await?;
        if self.uses_memtable() {
            self.flush().await?;
            // The flush may have started jobs.
            self.idle().await?;
        }
        // A pack rewrite put off by jobs that came too fast is written before the handle goes.
        self.pack_if_due(true).await;
        self.sync_log().await?;
        let log = self.shared.config.log_id;
        if log != 0 {
            // Everything is flushed: other writers may go on.
            self.shared
                .manifest
                .commit(&Edit {
                    kind: Some(EditKind::Claim),
                    commit_id: crate::codec::random_u64()?,
                    release: Some(log),
                    log,
                    ..Edit::default()
                })
                .await?;
        }
        self.raw_state()?.closed = true;
        // Release files and locks (an OPFS writer lock lets the next tab in).
        self.shared.storage.close().await?;
        if !Arc::ptr_eq(&self.shared.storage, &self.shared.wal_storage) {
            self.shared.wal_storage.close().await?;
        }
        Ok(())
    }

    /// Makes every acknowledged commit durable now: writes and syncs the WAL frames of
    /// fast-acknowledged commits, or (seal-every-batch with fast acknowledgement) flushes them
    /// into an SST.
    pub async fn sync(&self) -> Result<()> {
        self.check_open()?;
        if matches!(self.shared.config.durability, Durability::SealEveryBatch) {
            if self.uses_memtable() {
                self.flush().await?;
            }
            return Ok(());
        }
        self.sync_log().await
    }

    /// Writes deferred (fast-acknowledged) WAL frames and syncs the log.
    async fn sync_log(&self) -> Result<()> {
        let mut wal = self.shared.commit.lock().await;
        self.write_deferred(&mut wal).await?;
        if let Some(w) = wal.as_mut() {
            w.sync(
                self.shared.wal_storage.as_ref(),
                self.shared.config.clock.now_millis(),
            )
            .await?;
        }
        Ok(())
    }
}
