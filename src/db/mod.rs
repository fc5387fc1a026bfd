//! The database handle: the builder that opens it and the operations users call.
//!
//! Every method takes `&self` and is `async`; shared state lives behind one mutex held only for
//! short, non-awaiting critical sections. Writes go through one commit pipeline ([`commit`]):
//! concurrent commits queue, and whoever holds the commit lock writes the whole queue at once
//! (group commit) to the WAL or, in seal-every-batch mode, as one SST plus one manifest commit.
//! A read takes a [`Snapshot`] (the read timestamp plus the memtables and SSTs live at that
//! moment) and then reads without the lock.

mod backpressure;
mod builder;
mod catalog;
mod close;
mod commit;
mod commit_log;
mod commit_sst;
mod compact;
mod compact_job;
mod flush;
mod gc;
mod history;
mod keys;
mod open;
mod ops;
mod read;
mod recover;
mod seal;
mod settle;
mod snapshot;
mod stats;
mod stream;
mod tails;
mod txn;
mod view;
mod write;

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use arrow_schema::SchemaRef;

use crate::error::{Error, Result};
use crate::key::Timestamp;
use crate::manifest::Manifest;
use crate::options::{
    Clock, CommitAckMode, CompactionOptions, Durability, MinorCompaction, Retention, SealPolicy,
};
use crate::read::mem_source::MemRef;
use crate::schema::TableSchema;
use crate::sst::SstHandle;
use crate::storage::{CountingStorage, RequestCounts, Storage};
use crate::wal::WalWriter;

pub use crate::control::{Control, Phase, Progress};
pub use builder::{DEFAULT_TABLE_NAME, DbBuilder, ObjectSpec, TableFs};
pub use compact::{CompactReport, CompactionMetrics};
pub use gc::{GC_STEPS, GcReport};
pub use snapshot::Snapshot;
pub use stats::DbStats;
pub use stream::ScanStream;
pub use txn::Transaction;

#[derive(Debug)]
struct Config {
    table_name: String,
    seal: SealPolicy,
    minor: Option<MinorCompaction>,
    clock: Arc<dyn Clock>,
    durability: Durability,
    retention: Retention,
    compaction: CompactionOptions,
    ack: CommitAckMode,
    backoff_attempts: u32,
    /// Id of this writer's log when it is kept outside the table's storage (0 otherwise).
    log_id: u64,
    /// Whether the SSTs this handle writes carry point-read blocks.
    point_read_blocks: bool,
    /// Whether this handle reads the tail pack at open and rewrites it after compactions.
    tail_pack: bool,
    /// Whether this handle's point reads go through the process's block cache.
    block_cache: bool,
}

/// An open table. Cheap to clone; clones share the same data.
#[derive(Debug, Clone)]
pub struct Db {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    schema: TableSchema,
    sst_schema: SchemaRef,
    key_names: Vec<String>,
    storage: Arc<dyn Storage>,
    /// Where WAL segments live (the table's storage unless configured otherwise).
    wal_storage: Arc<dyn Storage>,
    counting: CountingStorage,
    manifest: Manifest,
    config: Config,
    state: Mutex<State>,
    /// Held by whoever writes the commit queue (group-commit leader), and by seals that must
    /// rotate the WAL.
    commit: futures_util::lock::Mutex<Option<WalWriter>>,
    /// When (clock ms) a commit last reached the mutable memtable: work that reorganizes
    /// memtables for reads waits until writes pause.
    last_write_ms: Arc<std::sync::atomic::AtomicU64>,
}

/// The SSTs of one manifest version, newest first.
#[derive(Debug, Default)]
pub(crate) struct Version {
    pub(crate) ssts: Vec<Arc<SstHandle>>,
    pub(crate) manifest_version: u64,
}

/// [`Sealed::fill`] of a memtable the seal policy sealed.
const FULL: u32 = 1000;

/// A sealed memtable and the first WAL segment that may hold its commits.
#[derive(Debug, Clone)]
struct Sealed {
    mem: MemRef,
    segment: u64,
    /// How much of the seal policy it used, in thousandths: 1000 when the policy (or an
    /// explicit seal) sealed it, less when it was sealed early because writes paused. Minor
    /// compaction counts these, so sealing early to reorganize for reads does not make
    /// flushes more frequent or SSTs smaller than the policy asks.
    fill: u32,
}

#[derive(Debug)]
struct State {
    mutable: MemRef,
    mutable_since_ms: Option<u64>,
    /// The first WAL segment that may hold the mutable memtable's commits.
    mutable_segment: u64,
    /// Sealed memtables, oldest first.
    immutables: Vec<Sealed>,
    version: Arc<Version>,
    /// Every version handed out, for GC to see which files live snapshots still read.
    pinned_versions: Vec<Weak<Version>>,
    /// Read timestamps of live snapshots.
    pinned_ts: Vec<(Weak<()>, Timestamp)>,
    /// The highest timestamp assigned.
    last_ts: Timestamp,
    /// The highest timestamp readers may see (every commit at or below it is applied).
    visible_ts: Timestamp,
    /// Commits waiting for the group-commit leader.
    queue: Vec<commit::Pending>,
    next_seq: u64,
    /// Outcomes of commits written by another leader, by sequence number.
    outcomes: std::collections::HashMap<u64, Result<Timestamp>>,
    /// Commits waiting for an outcome, woken whenever a leader records some.
    answer_waiters: Vec<std::task::Waker>,
    flushing: bool,
    closed: bool,
    compaction: compact::CompactionState,
    /// WAL frames of fast-acknowledged commits not yet written.
    deferred_frames: Vec<u8>,
    /// A [`Db::reorganize`] waits for writes to pause (wasm).
    reorganize_pending: bool,
    /// What WAL recovery at open cut: segments and bytes.
    wal_cut: (Vec<u64>, u64),
    /// When (clock ms) the manifest read behind the installed view was issued: a read under
    /// [`Freshness::MaxStalenessMs`](crate::options::Freshness::MaxStalenessMs) skips the
    /// check while this is recent enough.
    checked_ms: Option<u64>,
}

impl Db {
    /// The table's schema and key.
    pub fn schema(&self) -> &TableSchema {
        &self.shared.schema
    }

    /// The table's name.
    pub fn table_name(&self) -> &str {
        &self.shared.config.table_name
    }

    /// The storage the table lives on (wrapped in request accounting).
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.shared.storage
    }

    /// How writes become durable for this handle.
    pub fn durability(&self) -> &Durability {
        &self.shared.config.durability
    }

    /// Storage requests this handle made so far, by kind. Subtract two readings
    /// ([`RequestCounts::since`]) for the cost of the operations between them.
    pub fn request_counts(&self) -> RequestCounts {
        self.shared.counting.counts()
    }

    fn state(&self) -> Result<MutexGuard<'_, State>> {
        let guard = self.raw_state()?;
        if guard.closed {
            return Err(Error::Closed);
        }
        Ok(guard)
    }

    fn check_open(&self) -> Result<()> {
        self.state().map(drop)
    }

    fn raw_state(&self) -> Result<MutexGuard<'_, State>> {
        self.shared
            .state
            .lock()
            .map_err(|_| Error::Internal("state lock poisoned".into()))
    }

    /// Whether commits land in memtables (everything but strict seal-every-batch).
    fn uses_memtable(&self) -> bool {
        !matches!(self.shared.config.durability, Durability::SealEveryBatch)
            || self.shared.config.ack == CommitAckMode::Fast
    }
}
