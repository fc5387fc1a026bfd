//! Read views: a timestamp plus the memtables and SSTs that were live when it was taken.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema, SchemaRef};

use super::{Db, ScanStream, Version};
use crate::error::{Error, Result};
use crate::key::Timestamp;
use crate::memtable::Entry;
use crate::read::ScanOptions;
use crate::read::mem_source::{MemRef, MemSource, lock};
use crate::read::merge::{Merge, Source};
use crate::sst::Found;
use crate::value::Value;

/// Turns a read takes on a newer head after a file of its view was collected.
pub(super) const RENEWALS: usize = 3;

/// A consistent read view: everything committed at or before its timestamp, nothing after.
/// It keeps the memtables and SSTs it needs alive (and out of GC's reach) while it exists.
#[derive(Debug, Clone)]
pub struct Snapshot {
    db: Db,
    ts: Timestamp,
    /// Newest first.
    mems: Vec<MemRef>,
    version: Arc<Version>,
    /// A transaction's own writes, newer than everything else (read at any timestamp).
    overlay: Option<MemRef>,
    _pin: Arc<()>,
}

impl Snapshot {
    pub(super) fn new(
        db: Db,
        ts: Timestamp,
        mems: Vec<MemRef>,
        version: Arc<Version>,
        pin: Arc<()>,
    ) -> Self {
        Self {
            db,
            ts,
            mems,
            version,
            overlay: None,
            _pin: pin,
        }
    }

    /// This view with a transaction's private memtable on top.
    pub(super) fn with_overlay(mut self, overlay: MemRef) -> Self {
        self.overlay = Some(overlay);
        self
    }

    /// The read timestamp: commits at or below it are visible.
    pub fn ts(&self) -> Timestamp {
        self.ts
    }

    /// The table this snapshot reads.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// This view's timestamp over the newest head's files, when reading there gives the same
    /// answers: files of this view may be gone (compacted away elsewhere, then collected by a
    /// GC, which waits only the drop grace period, 0 by default), but compaction keeps, for every key,
    /// the newest version at or below any timestamp from the head's history floor on. `None`
    /// when this view is older than that floor: its answers are gone for good.
    pub(super) async fn renewed(&self) -> Result<Option<Snapshot>> {
        self.db.refresh().await?;
        let floor = self
            .db
            .shared
            .manifest
            .cached()
            .map_or(0, |h| h.state.history_floor_ts);
        if floor > self.ts {
            return Ok(None);
        }
        let version = self.db.state()?.version.clone();
        if Arc::ptr_eq(&version, &self.version) {
            return Ok(None);
        }
        Ok(Some(Snapshot {
            version,
            ..self.clone()
        }))
    }

    /// Runs `read` on this view and, if a file of it was deleted meanwhile, again on the
    /// newest head at this view's timestamp (see `renewed`); with [`ScanStream`]'s own
    /// resumption, the places snapshot reads recover from a collected file.
    async fn read_around<T, F, Fut>(&self, read: F) -> Result<T>
    where
        F: Fn(Snapshot) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut failure = match read(self.clone()).await {
            Err(Error::NotFound(what)) => what,
            r => return r,
        };
        let mut view = self.clone();
        // A newer head can lose a file too (another compaction and GC while this read ran):
        // a few more turns, each on a head that moved, then the loss is reported.
        for _ in 0..RENEWALS {
            let Some(next) = view.renewed().await? else {
                break;
            };
            view = next;
            failure = match read(view.clone()).await {
                Err(Error::NotFound(what)) => what,
                r => return r,
            };
        }
        Err(Error::NotFound(failure))
    }

    /// The row with this key as of this snapshot, or `None`. A file of this view deleted
    /// meanwhile is read around on the newest head (see `renewed`).
    pub async fn get(&self, key: &[Value]) -> Result<Option<RecordBatch>> {
        self.read_around(|s| async move { s.get_once(key).await })
            .await
    }

    async fn get_once(&self, key: &[Value]) -> Result<Option<RecordBatch>> {
        let db = &self.db;
        let (key, _) = db.encode_key(key, false)?;
        let table = db.shared.schema.arrow();
        let overlay = self.overlay.iter().map(|m| (m, Timestamp::MAX));
        for (mem, read_ts) in overlay.chain(self.mems.iter().map(|m| (m, self.ts))) {
            let mem = lock(mem)?;
            match mem.get(&key, read_ts) {
                Some((_, entry @ Entry::Row { .. })) => return mem.row(entry, table),
                Some((_, Entry::Tombstone { .. })) => return Ok(None),
                None => {}
            }
        }
        let all: Vec<usize> = (0..table.fields().len()).collect();
        let storage = db.shared.storage.as_ref();
        // Every SST that may hold the key is probed at once: on an object store each probe is
        // a round trip (or two when the footer is not cached yet), and a lookup through ten
        // overlapping L0 files must not cost ten. The newest version found wins; a file whose
        // bloom filter rules the key out costs no read.
        let key_ref = key.as_ref();
        let candidates = self.version.ssts.iter().filter(|h| {
            h.meta.min_ts <= self.ts
                && key_ref >= h.meta.min_key.as_ref()
                && key_ref <= h.meta.max_key.as_ref()
        });
        let probes = candidates.map(|h| {
            let all = &all;
            async move {
                match db.open_sst(h).await? {
                    Some(sst) => sst.get(storage, key_ref, self.ts, all).await,
                    None => Ok(None),
                }
            }
        });
        let mut best: Option<(Timestamp, Option<RecordBatch>)> = None;
        for found in futures_util::future::try_join_all(probes).await? {
            let found = match found {
                Some(Found::Row(batch, t)) => Some((t, Some(batch))),
                Some(Found::Deleted(t)) => Some((t, None)),
                None => None,
            };
            if let Some((t, b)) = found
                && best.as_ref().is_none_or(|(bt, _)| t > *bt)
            {
                best = Some((t, b));
            }
        }
        match best {
            Some((_, Some(batch))) => Ok(Some(RecordBatch::try_new(
                table.clone(),
                batch.columns().to_vec(),
            )?)),
            _ => Ok(None),
        }
    }

    /// The rows selected by `opts` as of this snapshot, as one batch.
    pub async fn scan(&self, opts: &ScanOptions) -> Result<RecordBatch> {
        self.scan_stream(opts).await?.collect().await
    }

    /// The rows selected by `opts` as of this snapshot, as a stream of bounded batches. Files
    /// deleted before the stream is set up, or while it is read, are read around on the
    /// newest head (see `renewed`): the stream goes on after the last key it settled.
    pub async fn scan_stream(&self, opts: &ScanOptions) -> Result<ScanStream> {
        self.read_around(|s| async move {
            let merge = s.merge(opts, None, opts.limit).await?;
            Ok(ScanStream::new(s, opts.clone(), merge))
        })
        .await
    }

    /// The merge of this view's sources for `opts`, starting after `resume` (in scan order)
    /// and returning at most `limit` rows.
    pub(super) async fn merge(
        &self,
        opts: &ScanOptions,
        resume: Option<&[u8]>,
        limit: Option<usize>,
    ) -> Result<Merge> {
        let db = &self.db;
        let table = db.shared.schema.arrow();
        let projection: Vec<usize> = match &opts.projection {
            None => (0..table.fields().len()).collect(),
            Some(names) => names
                .iter()
                .map(|n| db.column_index(n, "projection"))
                .collect::<Result<_>>()?,
        };
        let filter_cols: Vec<usize> = match &opts.filter {
            None => Vec::new(),
            Some(f) => f
                .columns()
                .iter()
                .map(|n| db.column_index(n, "filter"))
                .collect::<Result<_>>()?,
        };
        let mut needed: Vec<usize> = projection.iter().chain(&filter_cols).copied().collect();
        needed.sort_unstable();
        needed.dedup();
        let sst_fields = db.shared.sst_schema.fields();
        let needed_schema: SchemaRef = Arc::new(Schema::new(
            needed
                .iter()
                .filter_map(|&c| {
                    sst_fields
                        .get(c)
                        .map(|f| f.as_ref().clone().with_nullable(true))
                })
                .collect::<Vec<Field>>(),
        ));
        if let Some(f) = &opts.filter {
            f.validate(&needed_schema)?;
        }
        let output: Vec<usize> = projection
            .iter()
            .filter_map(|c| needed.iter().position(|n| n == c))
            .collect();
        let output_schema = Arc::new(table.project(&projection)?);
        let key_idx = db.shared.schema.key_indices();
        let mem_needed: Vec<_> = needed
            .iter()
            .map(|&c| {
                (
                    c,
                    key_idx.iter().position(|&k| k == c),
                    table.field(c).data_type().clone(),
                )
            })
            .collect();

        let mut sources = Vec::new();
        let range = db.key_range(opts)?.map(|r| match resume {
            Some(k) => r.after(k, opts.reverse),
            None => r,
        });
        if let Some(range) = range {
            let (lo, hi) = range.as_slices();
            let overlay = self.overlay.iter().map(|m| (m, Timestamp::MAX));
            for (mem, read_ts) in overlay.chain(self.mems.iter().map(|m| (m, self.ts))) {
                sources.push(Source::Mem(MemSource::new(
                    mem.clone(),
                    range.start.clone(),
                    range.end.clone(),
                    read_ts,
                    opts.reverse,
                    mem_needed.clone(),
                )));
            }
            // Footers not cached yet are fetched together: one round trip, not one per file.
            let opening = self
                .version
                .ssts
                .iter()
                .filter(|h| h.overlaps(lo, hi) && h.meta.min_ts <= self.ts)
                .map(|h| db.open_sst(h));
            // A scan with a limit and no filter reads its first pages a few at a time.
            let hint = limit.filter(|_| opts.filter.is_none());
            for sst in futures_util::future::try_join_all(opening)
                .await?
                .into_iter()
                .flatten()
            {
                sources.push(Source::Sst(sst.scan(
                    lo,
                    hi,
                    self.ts,
                    opts.reverse,
                    needed.clone(),
                    hint,
                )));
            }
        }
        Ok(Merge::new(
            sources,
            db.shared.storage.clone(),
            opts.reverse,
            opts.filter.clone(),
            needed_schema,
            output,
            output_schema,
            limit,
        ))
    }
}
