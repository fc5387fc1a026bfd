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

    /// Every retained version, oldest first (reads the head, plus one GET per history
    /// archive).
    pub async fn versions(&self) -> Result<Vec<HistoryEntry>> {
        self.check_open()?;
        let head = self
            .shared
            .manifest
            .load()
            .await?
            .ok_or_else(|| Error::Corrupt("the manifest head is missing".into()))?;
        {
            let mut st = self.state()?;
            self.install(&mut st, &head, &[]);
        }
        self.shared.manifest.versions(&head.state).await
    }

    /// A read-only view of the table as of manifest version `version`.
    pub async fn at_version(&self, version: u64) -> Result<Snapshot> {
        let versions = self.versions().await?;
        let entry = versions
            .iter()
            .find(|h| h.version == version)
            .ok_or_else(|| {
                let oldest = versions.first().map_or(0, |h| h.version);
                let newest = versions.last().map_or(0, |h| h.version);
                Error::NotFound(format!(
                    "version {version} is not retained (versions {oldest}..={newest} are)"
                ))
            })?;
        self.snapshot_at(entry.ts)
    }

    /// A read-only view of the table as of commit timestamp `ts` (everything committed at or
    /// before it). `ts` must not be older than the oldest retained version.
    pub async fn at_timestamp(&self, ts: Timestamp) -> Result<Snapshot> {
        let versions = self.versions().await?;
        let oldest = versions.first().map_or(0, |h| h.ts);
        let newest = self.state()?.visible_ts;
        if ts < oldest || ts > newest {
            return Err(Error::NotFound(format!(
                "timestamp {ts} is outside the retained history ({oldest}..={newest})"
            )));
        }
        self.snapshot_at(ts)
    }
}
