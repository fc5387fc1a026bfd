//! A scan read as it is pulled, that outlives the files of its view.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use super::Snapshot;
use super::snapshot::RENEWALS;
use crate::error::{Error, Result};
use crate::key::KeyBytes;
use crate::read::ScanOptions;
use crate::read::merge::Merge;

/// A streaming scan: merged, resolved, filtered, projected batches of bounded size, all at the
/// timestamp of the view it was opened on.
///
/// Another handle may compact this view's files away and collect them while the stream is
/// read (GC deletes dropped files without waiting for readers elsewhere). The stream then goes
/// on from the newest head at the same timestamp, after the last key it settled, which gives
/// the rows it would have given: compaction keeps, for every key, the newest version at or
/// below any timestamp from the head's history floor on. Only a view older than that floor,
/// or a file missing from the head that still names it, fails the stream with `NOT_FOUND`.
pub struct ScanStream {
    view: Snapshot,
    opts: ScanOptions,
    merge: Merge,
    /// The merge failed mid-batch (its inputs may have moved past rows it never returned):
    /// the next call starts a new one after the last key it settled.
    broken: bool,
    /// Read to its end by a caller that keeps every batch ([`Merge::read_whole`]).
    whole: bool,
}

impl std::fmt::Debug for ScanStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanStream")
            .field("ts", &self.view.ts())
            .field("merge", &self.merge)
            .finish()
    }
}

impl ScanStream {
    pub(super) fn new(view: Snapshot, opts: ScanOptions, merge: Merge) -> Self {
        Self {
            view,
            opts,
            merge,
            broken: false,
            whole: false,
        }
    }

    /// The schema of the batches this stream yields.
    pub fn schema(&self) -> SchemaRef {
        self.merge.schema()
    }

    /// The next batch of at most [`crate::read::merge::BATCH_ROWS`] rows, or `None` at the end.
    /// An error leaves the stream usable: a later call goes on after the last row returned.
    pub async fn next(&mut self) -> Result<Option<RecordBatch>> {
        // A file of the view gone (`NOT_FOUND`), or the merge broken by an earlier error.
        let mut gone = if self.broken {
            None
        } else {
            match self.merge.next().await {
                Err(Error::NotFound(what)) => Some(what),
                Err(e) => {
                    self.broken = true;
                    return Err(e);
                }
                r => return r,
            }
        };
        // The failed merge's state is not trusted past the last key it settled: a new merge
        // starts after it, with what the limit has left, on this view after another error and
        // on the newest head (at the same timestamp) after a missing file.
        self.broken = true;
        let mut renewals = 0;
        loop {
            let view = match &gone {
                None => self.view.clone(),
                Some(what) => {
                    let renewed = if renewals < RENEWALS {
                        self.view.renewed().await?
                    } else {
                        None
                    };
                    let Some(view) = renewed else {
                        return Err(Error::NotFound(what.clone()));
                    };
                    renewals += 1;
                    view
                }
            };
            let (resume, limit) = self.resume_point();
            let whole = self.whole;
            let attempt = async {
                let mut merge = view.merge(&self.opts, resume.as_deref(), limit).await?;
                if whole {
                    merge.read_whole();
                }
                let batch = merge.next().await?;
                Ok::<_, Error>((merge, batch))
            }
            .await;
            self.view = view;
            match attempt {
                Ok((merge, batch)) => {
                    self.merge = merge;
                    self.broken = false;
                    return Ok(batch);
                }
                Err(Error::NotFound(what)) => gone = Some(what),
                Err(e) => return Err(e),
            }
        }
    }

    /// Where a new merge continues this stream: after the last key settled, with what the
    /// limit has left.
    fn resume_point(&self) -> (Option<KeyBytes>, Option<usize>) {
        (
            self.merge.resume_after().map(KeyBytes::from),
            self.opts.limit.map(|_| self.merge.remaining()),
        )
    }

    /// Reads the rest of the stream into one batch.
    pub async fn collect(self) -> Result<RecordBatch> {
        let (schema, batches) = self.collect_batches().await?;
        Ok(arrow_select::concat::concat_batches(&schema, &batches)?)
    }

    /// Reads the rest of the stream as its batches (no copy into one), with their schema. An
    /// empty result is one empty batch, as [`ScanStream::collect`] gives: an IPC reader then
    /// always finds a batch.
    pub async fn collect_batches(mut self) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        self.whole = true;
        self.merge.read_whole();
        let mut batches = Vec::new();
        while let Some(b) = self.next().await? {
            batches.push(b);
        }
        let schema = self.schema();
        if batches.is_empty() {
            batches.push(RecordBatch::new_empty(schema.clone()));
        }
        Ok((schema, batches))
    }
}
