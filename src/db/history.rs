//! History and time travel: the head's history tail archived, retained versions listed, and
//! read views as of an old version or timestamp.

use super::{Db, Snapshot};
use crate::error::{Error, Result};
use crate::key::Timestamp;
use crate::manifest::{Edit, EditKind, Head, HistoryEntry};

impl Db {
    /// Moves the oldest history entries into an archive object when the head's tail is long.
    pub(super) async fn archive_history(&self, head: &Head) -> Result<()> {
        let manifest = &self.shared.manifest;
        let Some(archived) = manifest
            .archive_if_due(&head.state, crate::manifest::ARCHIVE_CHUNK)
            .await?
        else {
            return Ok(());
        };
        let edit = Edit {
            kind: Some(EditKind::Gc),
            commit_id: crate::codec::random_u64()?,
            archived: Some(archived),
            ..Edit::default()
        };
        let head = manifest.commit(&edit).await?;
        let mut st = self.state()?;
        self.install(&mut st, &head, &[]);
        Ok(())
    }

    /// Every retained version, oldest first (reads the head, plus one GET per history chunk,
    /// several at once).
    pub async fn versions(&self) -> Result<Vec<HistoryEntry>> {
        let head = self.fresh_head().await?;
        self.shared.manifest.versions(&head.state).await
    }

    /// The head, read now and installed.
    async fn fresh_head(&self) -> Result<Head> {
        self.check_open()?;
        let head = self
            .shared
            .manifest
            .load()
            .await?
            .ok_or_else(|| Error::Corrupt("the manifest head is missing".into()))?;
        let mut st = self.state()?;
        self.install(&mut st, &head, &[]);
        Ok(head)
    }

    /// A read-only view of the table as of manifest version `version` (reads the head, plus
    /// at most the history chunk holding the version).
    pub async fn at_version(&self, version: u64) -> Result<Snapshot> {
        let head = self.fresh_head().await?;
        let state = &head.state;
        let entry = if version < state.history_floor || version > state.version {
            None
        } else {
            let walked = self
                .shared
                .manifest
                .versions_from(state, version, |h| h.version >= version)
                .await?;
            walked.into_iter().find(|h| h.version == version)
        };
        let entry = entry.ok_or_else(|| {
            Error::NotFound(format!(
                "version {version} is not retained (versions {}..={} are)",
                state.history_floor, state.version
            ))
        })?;
        self.snapshot_at(entry.ts)
    }

    /// A read-only view of the table as of commit timestamp `ts` (everything committed at or
    /// before it). `ts` must not be older than the oldest retained version.
    pub async fn at_timestamp(&self, ts: Timestamp) -> Result<Snapshot> {
        let head = self.fresh_head().await?;
        let oldest = self
            .shared
            .manifest
            .versions_until(&head.state, |_| true)
            .await?
            .first()
            .map_or(0, |h| h.ts);
        let newest = self.state()?.visible_ts;
        if ts < oldest || ts > newest {
            return Err(Error::NotFound(format!(
                "timestamp {ts} is outside the retained history ({oldest}..={newest})"
            )));
        }
        self.snapshot_at(ts)
    }
}
