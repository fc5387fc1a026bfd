//! Recovery at open: replaying the write-ahead log above the manifest's floor into the
//! memtables and setting up the log writer. Runs once per open, apart from the commit path it
//! feeds.

use arrow_array::RecordBatch;
use bytes::Bytes;

use super::Db;
use super::commit::Pending;
use super::ops::Op;
use crate::error::{Error, Result};
use crate::key::encode_rows;
use crate::manifest::Head;
use crate::options::Durability;
use crate::wal::{WalOp, WalWriter, replay};

impl Db {
    /// Rebuilds the memtables from the WAL above the manifest's floor and sets up the writer.
    pub(super) async fn recover(&self, head: &Head, control: &super::Control) -> Result<()> {
        let Durability::Wal(config) = &self.shared.config.durability else {
            return Ok(());
        };
        // A floor counted in another log's segments says nothing about this one's: replay
        // them all, skipping commits at or below what SSTs hold (see `Edit::claim`).
        let floor = if head.state.wal_log == self.shared.config.log_id {
            head.state.wal_floor
        } else {
            crate::manifest::WalFloor {
                segment: 0,
                ts: head.state.last_ts,
            }
        };
        let replayed = replay(
            self.shared.wal_storage.as_ref(),
            &config.dir,
            floor.segment,
            floor.ts,
            config.recovery,
            control,
        )
        .await?;
        let mut none: Option<WalWriter> = None;
        for txn in replayed.txns {
            let mut group = Vec::with_capacity(txn.ops.len());
            for (op, ipc) in txn.ops {
                group.push(Pending {
                    seq: 0,
                    op: self.decode_wal_op(op, &ipc)?,
                });
            }
            // One transaction = one timestamp, whatever the number of operations.
            let n = group.len();
            self.apply_group(&mut none, group, Some(vec![txn.ts; n]))
                .await?;
            let mut st = self.raw_state()?;
            st.last_ts = st.last_ts.max(txn.ts);
        }
        // Never below the floor: replay and GC ignore segments under it.
        let next = replayed
            .last_segment
            .map_or(1, |s| s + 1)
            .max(floor.segment.max(1));
        let now = self.shared.config.clock.now_millis();
        {
            let mut st = self.raw_state()?;
            st.wal_cut = (replayed.cut_segments.clone(), replayed.cut_bytes);
            // The clock resumes above every replayed commit, even ones below the floor.
            st.last_ts = st.last_ts.max(replayed.max_ts);
            st.visible_ts = st.last_ts;
            st.mutable_segment = floor.segment.max(1);
            for s in &mut st.immutables {
                s.segment = floor.segment.max(1);
            }
        }
        let mut writer = WalWriter::new(config.clone(), next, now);
        // A torn last segment is an ordinary crash: the new segment says so, or the next
        // recovery would find that damage before newer segments and `Strict` would refuse.
        if let Some(last) = replayed.last_segment
            && replayed.cut_segments.contains(&last)
        {
            writer.announce_abandoned(last);
        }
        *self.shared.commit.lock().await = Some(writer);
        Ok(())
    }

    fn decode_wal_op(&self, op: WalOp, ipc: &Bytes) -> Result<Op> {
        let (schema, batches) = crate::ipc::decode_stream(ipc)
            .map_err(|e| Error::Corrupt(format!("WAL payload: {e}")))?;
        let batch = arrow_select::concat::concat_batches(&schema, &batches)?;
        Ok(match op {
            WalOp::Put => {
                self.shared.schema.check_compatible(&schema)?;
                let cols: Vec<_> = self
                    .shared
                    .schema
                    .key_indices()
                    .iter()
                    .filter_map(|&i| batch.columns().get(i).cloned())
                    .collect();
                let keys = encode_rows(&cols, &self.key_name_refs())?;
                let batch = RecordBatch::try_new(
                    self.shared.schema.arrow().clone(),
                    batch.columns().to_vec(),
                )?;
                Op::Put(batch, keys)
            }
            WalOp::Delete => {
                let keys = encode_rows(batch.columns(), &self.key_name_refs())?;
                let batch = RecordBatch::try_new(
                    self.shared.schema.key_schema(),
                    batch.columns().to_vec(),
                )?;
                Op::Delete(batch, keys)
            }
        })
    }
}
