//! The read entry points on the handle (snapshot, get, scan and their fresh variants): which
//! view a read runs on, and when it checks the manifest first. Reading a view is the
//! snapshot's job (snapshot.rs).

use std::sync::Arc;

use arrow_array::RecordBatch;

use super::{Db, Snapshot};
use crate::error::{Error, Result};
use crate::key::Timestamp;
use crate::options::Freshness;
use crate::read::ScanOptions;
use crate::value::Value;

impl Db {
    /// A consistent view of everything committed so far.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let ts = self.state()?.visible_ts;
        self.snapshot_at(ts)
    }

    /// A view at read timestamp `ts` over the current memtables and SSTs. Correct for any `ts`
    /// from the oldest retained version on: compaction keeps every version such reads need.
    pub(super) fn snapshot_at(&self, ts: Timestamp) -> Result<Snapshot> {
        let mut st = self.state()?;
        let mut mems = vec![st.mutable.clone()];
        mems.extend(st.immutables.iter().rev().map(|s| s.mem.clone()));
        let pin = Arc::new(());
        st.pinned_ts.retain(|(w, _)| w.strong_count() > 0);
        st.pinned_ts.push((Arc::downgrade(&pin), ts));
        Ok(Snapshot::new(
            self.clone(),
            ts,
            mems,
            st.version.clone(),
            pin,
        ))
    }

    /// Runs `read` on the live view. On a missing SST it re-reads the head and, when this
    /// handle's view moved past the one read, runs once more on the new live view: another
    /// handle compacted the file away and a GC (whose clock may run ahead of the committer's,
    /// which dates the drop) deleted it while this handle's head was older. The snapshot's own
    /// read-around (`Snapshot::get`) may already have refreshed the head, so whether the view
    /// moved is judged by its version, not by what this refresh found.
    async fn on_live_view<T, F, Fut>(&self, read: F) -> Result<T>
    where
        F: Fn(Snapshot) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let seen = self.state()?.version.manifest_version;
        match read(self.snapshot()?).await {
            Err(e @ Error::NotFound(_)) => {
                self.refresh().await?;
                if self.state()?.version.manifest_version == seen {
                    return Err(e);
                }
                read(self.snapshot()?).await
            }
            r => r,
        }
    }

    /// The row with this key, as a one-row batch, or `None`.
    pub async fn get(&self, key: &[Value]) -> Result<Option<RecordBatch>> {
        self.on_live_view(|s| async move { s.get(key).await }).await
    }

    /// [`Db::get`] at the given freshness. A strict read checks the manifest and reads the
    /// current view at the same time: on an object store that is one round trip when nothing
    /// changed, the same as a read that does not check.
    pub async fn get_fresh(
        &self,
        key: &[Value],
        freshness: Freshness,
    ) -> Result<Option<RecordBatch>> {
        self.read_fresh(freshness, |s| async move { s.get(key).await })
            .await
    }

    /// [`Db::scan`] at the given freshness (see [`Db::get_fresh`]).
    pub async fn scan_fresh(
        &self,
        opts: &ScanOptions,
        freshness: Freshness,
    ) -> Result<RecordBatch> {
        self.read_fresh(freshness, |s| async move { s.scan(opts).await })
            .await
    }

    /// The batches of a scan at the given freshness, for a caller that encodes them itself.
    #[cfg(target_arch = "wasm32")]
    pub(crate) async fn scan_batches_fresh(
        &self,
        opts: &ScanOptions,
        freshness: Freshness,
    ) -> Result<(arrow_schema::SchemaRef, Vec<RecordBatch>)> {
        self.read_fresh(freshness, |s| async move {
            s.scan_stream(opts).await?.collect_batches().await
        })
        .await
    }

    /// Runs `read` on the live view at `freshness`. A check is made together with the read:
    /// the view is taken before the manifest read is issued, so if the head has not moved when
    /// that read returns, no commit acknowledged before this call is missing from the answer;
    /// if it moved, the read runs again on the new view.
    async fn read_fresh<T, F, Fut>(&self, freshness: Freshness, read: F) -> Result<T>
    where
        F: Fn(Snapshot) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        if !self.needs_check(freshness)? {
            return self.on_live_view(read).await;
        }
        let speculative = self.snapshot()?;
        let (changed, first) = futures_util::future::join(self.refresh(), read(speculative)).await;
        if changed? {
            return self.on_live_view(read).await;
        }
        match first {
            // A file compacted away under the old view: the head did not move, so it is gone.
            Err(Error::NotFound(_)) => self.on_live_view(read).await,
            r => r,
        }
    }

    /// Whether a read at `freshness` must check the manifest first.
    fn needs_check(&self, freshness: Freshness) -> Result<bool> {
        Ok(match freshness {
            Freshness::View => false,
            Freshness::Strict => true,
            Freshness::MaxStalenessMs(ms) => {
                let checked = self.state()?.checked_ms;
                let now = self.shared.config.clock.now_millis();
                // A clock that went back says nothing about age: check.
                checked.is_none_or(|c| now < c || now - c > ms)
            }
        })
    }

    /// The rows selected by `opts`, as one batch.
    pub async fn scan(&self, opts: &ScanOptions) -> Result<RecordBatch> {
        self.on_live_view(|s| async move { s.scan(opts).await })
            .await
    }

    /// The rows selected by `opts` as a stream of bounded batches.
    pub async fn scan_stream(&self, opts: &ScanOptions) -> Result<super::ScanStream> {
        self.on_live_view(|s| async move { s.scan_stream(opts).await })
            .await
    }

    /// [`Db::scan_stream`] at the given freshness. The stream is set up (footers opened,
    /// bounds resolved) while the manifest is checked, as [`Db::scan_fresh`] does; if the head
    /// moved, it is set up again on the new view. Rows are then read as the stream is pulled,
    /// all from the one view, so a strict stream sees every commit acknowledged before the
    /// call.
    pub async fn scan_stream_fresh(
        &self,
        opts: &ScanOptions,
        freshness: Freshness,
    ) -> Result<super::ScanStream> {
        self.read_fresh(freshness, |s| async move { s.scan_stream(opts).await })
            .await
    }
}
