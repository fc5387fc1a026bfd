//! A write as the commit pipeline carries it, and the error a transaction gets when it loses
//! a conflict: what both the pipeline (commit.rs) and transactions (txn.rs) speak, kept here
//! so neither imports the other.

use arrow_array::RecordBatch;

use crate::error::{Error, Result};
use crate::key::KeyBytes;
use crate::key::Timestamp;
use crate::memtable::Memtable;
use crate::wal::WalOp;

/// One write.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// Rows (table schema) and their encoded keys.
    Put(RecordBatch, Vec<KeyBytes>),
    /// Key columns and their encoded keys.
    Delete(RecordBatch, Vec<KeyBytes>),
    /// A transaction: its writes (one timestamp for all), the snapshot it read at, and the
    /// keys it wrote, which must have no version newer than that snapshot.
    Txn {
        /// The writes.
        ops: Vec<Op>,
        /// The transaction's snapshot.
        read_ts: Timestamp,
        /// Every key written.
        keys: Vec<KeyBytes>,
    },
}

impl Op {
    pub(super) fn apply(self, mem: &mut Memtable, ts: Timestamp) -> Result<()> {
        match self {
            Op::Put(b, k) => mem.insert_batch(b, k, ts),
            Op::Delete(b, k) => mem.delete_batch(b, k, ts),
            Op::Txn { ops, .. } => ops.into_iter().try_for_each(|op| op.apply(mem, ts)),
        }
    }

    pub(super) fn wal_payload(&self, out: &mut Vec<(WalOp, Vec<u8>)>) -> Result<()> {
        let (op, batch) = match self {
            Op::Put(b, _) => (WalOp::Put, b),
            Op::Delete(b, _) => (WalOp::Delete, b),
            Op::Txn { ops, .. } => {
                for op in ops {
                    op.wal_payload(out)?;
                }
                return Ok(());
            }
        };
        let ipc = crate::ipc::encode_stream(&batch.schema(), std::slice::from_ref(batch))?;
        out.push((op, ipc));
        Ok(())
    }

    /// The conflict check a transaction needs before it may commit.
    pub(super) fn txn_check(&self) -> Option<(Timestamp, &[KeyBytes])> {
        match self {
            Op::Txn { read_ts, keys, .. } => Some((*read_ts, keys)),
            _ => None,
        }
    }
}

pub(super) fn conflict_error(read_ts: Timestamp) -> Error {
    Error::Conflict(format!(
        "another commit wrote a key this transaction wrote after its snapshot (ts {read_ts}); \
         retry the transaction"
    ))
}

/// The `CONFLICT` of a transaction whose snapshot fell below the history floor: nobody need
/// have written its keys, but the versions that would tell are no longer kept.
pub(super) fn floor_conflict_error(read_ts: Timestamp) -> Error {
    Error::Conflict(format!(
        "this transaction's snapshot (ts {read_ts}) fell below the table's history floor while \
         it ran, so its keys can no longer be checked; retry the transaction"
    ))
}
