//! Minor compaction: sealed memtables written into one SST and committed with the new WAL
//! floor. Apart from major compaction (compact.rs), which merges SSTs already written.

use std::sync::Arc;

use super::Db;
use crate::error::Result;
use crate::manifest::{Edit, EditKind, WalFloor};
use crate::memtable::Memtable;
use crate::options::Durability;
use crate::paths::sst_path;
use crate::read::mem_source::lock;
use crate::sst::SstHandle;
use crate::storage::PutMode;

impl Db {
    /// Flushes when minor compaction is due; returns whether it flushed.
    pub(super) async fn maybe_flush(&self) -> Result<bool> {
        let due = match self.shared.config.minor {
            Some(m) => {
                let filled: u64 = self.state()?.immutables.iter().map(|s| s.fill as u64).sum();
                filled >= m.segment_threshold as u64 * u64::from(super::FULL)
            }
            None => false,
        };
        if due {
            self.flush_immutables().await?;
        }
        Ok(due)
    }

    /// Seals the mutable memtable and writes everything sealed into an SST now (then runs
    /// compaction if the strategy wants it).
    pub async fn flush(&self) -> Result<()> {
        self.seal().await?;
        self.flush_immutables().await?;
        self.maybe_compact(true).await;
        Ok(())
    }

    /// Writes every sealed memtable into one SST and commits it with the new WAL floor. Sealed
    /// memtables stay readable until the new head replaces them in one step.
    pub(super) async fn flush_immutables(&self) -> Result<()> {
        let (sealed, floor_segment) = {
            let mut st = self.state()?;
            if st.flushing || st.immutables.is_empty() {
                return Ok(());
            }
            st.flushing = true;
            (st.immutables.clone(), st.mutable_segment)
        };
        // Reset even when this future is dropped mid-flush, or flushing would stop for good.
        struct Done<'a>(&'a Db);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                if let Ok(mut st) = self.0.shared.state.lock() {
                    st.flushing = false;
                }
            }
        }
        let _done = Done(self);
        self.write_flush(&sealed, floor_segment).await
    }

    async fn write_flush(&self, sealed: &[super::Sealed], floor_segment: u64) -> Result<()> {
        let born = self.shared.manifest.cached().map_or(0, |h| h.state.version);
        let level = self.shared.config.minor.map_or(0, |m| m.target_level);
        let now = self.shared.config.clock.now_millis();
        let id = crate::codec::random_u64()?;
        let path = sst_path(level, now, id);
        let (written, max_ts) = {
            let guards = sealed
                .iter()
                .map(|s| lock(&s.mem))
                .collect::<Result<Vec<_>>>()?;
            let refs: Vec<&Memtable> = guards.iter().map(|g| &**g).collect();
            let max_ts = refs.iter().filter_map(|m| m.max_ts()).max().unwrap_or(0);
            let w = crate::sst::writer::write_sst(
                &self.shared.schema,
                &refs,
                id,
                level,
                path.clone(),
                self.shared.config.point_read_blocks,
            )?;
            (w, max_ts)
        };
        let mut fresh = Vec::new();
        let mut edit = Edit {
            kind: Some(EditKind::Flush),
            commit_id: id,
            last_ts: Some(max_ts),
            born,
            ..Edit::default()
        };
        edit.log = self.shared.config.log_id;
        if matches!(self.shared.config.durability, Durability::Wal(_)) {
            edit.wal_floor = Some(WalFloor {
                segment: floor_segment,
                ts: max_ts,
            });
        }
        let seb = matches!(self.shared.config.durability, Durability::SealEveryBatch);
        let mut opened = None;
        if let Some((bytes, sst)) = written {
            self.shared
                .storage
                .put(&path, bytes, PutMode::CreateNew)
                .await?;
            if seb {
                // Fast-acknowledged commits on a shared store: order after every other
                // writer's commits that landed since (re-stamped, like a put).
                edit.min_ts = Some(sst.meta.min_ts);
                edit.restamp = true;
            }
            edit.add.push(sst.meta.clone());
            opened = Some(sst);
        }
        let head = self.shared.manifest.commit(&edit).await?;
        if let Some(sst) = opened {
            let sst = match head.state.ssts.iter().find(|m| m.id == id) {
                Some(m) if m.ts_shift != 0 => Arc::new(sst.with_meta(m.clone())),
                _ => sst,
            };
            fresh.push(Arc::new(SstHandle::opened(
                sst,
                self.shared.config.block_cache,
            )));
        }
        let mut st = self.state()?;
        self.install(&mut st, &head, &fresh);
        st.immutables
            .retain(|m| !sealed.iter().any(|f| Arc::ptr_eq(&f.mem, &m.mem)));
        Ok(())
    }
}
