//! L0 backpressure: ingest slowed or stalled while level 0 holds too many files, and the
//! relief job that drains it when nothing else does. Asked by the commit pipeline before a
//! write is queued; apart from the compaction driver, whose jobs it only borrows.

use super::{Control, Db};
use crate::error::{Error, Result};
use crate::options::{CompactionStrategy, Durability};

impl Db {
    /// Holds back ingest while L0 is too full (see [`crate::L0BackpressureConfig`]).
    pub(super) async fn backpressure(&self) -> Result<()> {
        let Some(bp) = self.shared.config.compaction.l0_backpressure else {
            return Ok(());
        };
        let clock = &self.shared.config.clock;
        let mut slowed = false;
        let mut stalled_since = None;
        loop {
            let (files, bytes) = {
                let st = self.state()?;
                st.version
                    .ssts
                    .iter()
                    .filter(|h| h.meta.level == 0)
                    .fold((0usize, 0u64), |(n, b), h| (n + 1, b + h.meta.bytes))
            };
            // Stalling needs someone to compact: this handle's automatic jobs, or on a shared
            // object store another handle's compactor. Otherwise a full L0 only slows ingest.
            let can_drain = self.shared.config.compaction.automatic
                || matches!(self.shared.config.durability, Durability::SealEveryBatch);
            let stop =
                can_drain && (files >= bp.stop_files || bp.stop_bytes.is_some_and(|b| bytes >= b));
            if stop {
                // Measured on this handle's own clock: a duration, not a comparison of clocks.
                let now = clock.now_millis();
                let since = *stalled_since.get_or_insert(now);
                if now.saturating_sub(since) >= bp.stop_timeout_ms {
                    return Err(Error::Busy(format!(
                        "L0 has held {files} files ({bytes} bytes) for {} ms and no compaction \
                         made room (stop at {} files); nothing was written. Retry later, run \
                         compaction, or check that a compactor runs for this table",
                        now.saturating_sub(since),
                        bp.stop_files
                    )));
                }
                self.state()?.compaction.metrics.stalls += 1;
                // Make progress here when nothing else is: a job on this handle, or (on a
                // shared object store) another handle's compactor, seen after a refresh.
                self.relieve_l0().await;
                clock.sleep(bp.stop_recheck_ms).await;
                if matches!(self.shared.config.durability, Durability::SealEveryBatch) {
                    self.refresh().await?;
                }
                continue;
            }
            let slow = files >= bp.slowdown_files || bp.slowdown_bytes.is_some_and(|b| bytes >= b);
            if slow && !slowed {
                self.state()?.compaction.metrics.slowdowns += 1;
                clock.sleep(bp.slowdown_delay_ms).await;
                slowed = true;
                continue;
            }
            return Ok(());
        }
    }

    /// Runs the strategy's next job; when it has none while L0 is full, merges L0 (and the
    /// L1 files it overlaps) into L1, so a stalled ingest always gets unstuck.
    async fn relieve_l0(&self) {
        let opts = self.shared.config.compaction;
        if !opts.automatic {
            return;
        }
        let Ok(Some(_slot)) = self.take_slot(false) else {
            return;
        };
        let task = match self.next_task() {
            Ok(Some(t)) => t,
            Ok(None) => {
                let Ok(metas) = self.live_metas() else { return };
                let relief = crate::options::LeveledOptions {
                    l0_trigger: 2,
                    ..Default::default()
                };
                let Some(t) =
                    crate::compaction::plan(&CompactionStrategy::Leveled(relief), &metas, 0)
                else {
                    return;
                };
                t
            }
            Err(_) => return,
        };
        let _ = self.run_task(&task, &Control::default()).await;
    }
}
