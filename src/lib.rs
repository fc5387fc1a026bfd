//! Anax: an embedded LSM database for browsers and edge runtimes, compiled to WebAssembly.
//!
//! Rows are Arrow RecordBatches keyed by a primary key; writes are upserts, deletes are
//! tombstones, and every commit carries a timestamp so reads see a consistent snapshot
//! (MVCC). See `docs/architecture.md` for the layers and their invariants.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{Int64Array, RecordBatch, StringArray};
//! use arrow_schema::{DataType, Field, Schema};
//! use anax::{DbBuilder, ScanOptions};
//!
//! # futures::executor::block_on(async {
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("id", DataType::Utf8, false),
//!     Field::new("v", DataType::Int64, true),
//! ]));
//! let db = DbBuilder::from_schema_key_name(schema.clone(), "id")
//!     .in_memory("demo")
//!     .open()
//!     .await?;
//! let rows = RecordBatch::try_new(schema, vec![
//!     Arc::new(StringArray::from(vec!["b", "a"])),
//!     Arc::new(Int64Array::from(vec![2, 1])),
//! ])?;
//! db.put(rows).await?;
//! let a = db.get(&["a".into()]).await?.expect("a was written");
//! assert_eq!(a.num_rows(), 1);
//! let all = db.scan(&ScanOptions::default()).await?;
//! assert_eq!(all.num_rows(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod codec;
pub mod compaction;
pub mod control;
pub mod db;
pub mod error;
// Also built for unit tests, which replay the inputs the fuzzer found.
#[cfg(all(any(test, feature = "fuzz"), not(target_arch = "wasm32")))]
#[doc(hidden)]
pub mod fuzz;
mod gather;
pub mod ipc;
pub mod key;
pub mod manifest;
pub mod memtable;
pub mod options;
mod paths;
pub mod read;
pub mod rows;
pub mod runtime;
pub mod schema;
pub mod sst;
pub mod storage;
pub mod value;
pub mod wal;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use db::{
    CompactReport, CompactionMetrics, Control, Db, DbBuilder, DbStats, GcReport, ObjectSpec, Phase,
    Progress, ScanStream, Snapshot, TableFs, Transaction,
};
pub use error::{CauseId, Error, ErrorCode, Result, StorageError};
pub use manifest::HistoryEntry;
pub use options::{
    CasBackoffConfig, CascadeConfig, Clock, CommitAckMode, CompactionOptions, CompactionStrategy,
    Durability, Freshness, L0BackpressureConfig, LeveledOptions, ManualClock, MinorCompaction,
    Retention, SealPolicy, SystemClock, TieredOptions, TimeWindowOptions, WalConfig,
    WalRecoveryMode, WalSyncPolicy,
};
pub use read::ScanOptions;
pub use read::filter::Filter;
pub use schema::{KeySpec, TableSchema};
pub use storage::RequestCounts;
pub use value::Value;
