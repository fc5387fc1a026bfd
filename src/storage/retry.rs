//! Retries storage calls that failed transiently (an error whose [`Error::is_retryable`] is
//! true: a 5xx or 429 answer, no answer at all, a bucket binding that threw), with backoff.
//!
//! Backends that talk to a network without retrying on their own (the JS bucket binding, a
//! user's `Storage`) sit behind this, so a store that drops one call in ten still serves
//! nearly every operation: without it one failed call failed the put, the compaction job or
//! the GC pass that made it, and a stalled writer could wait on a compaction that never
//! finished.
//!
//! A retried write may have landed the first time (its reply was lost). For a compare-and-swap
//! (`IfMatch`) the retry then fails as a conflict and the manifest's commit loop reads the head
//! back to tell. For create-if-absent the object is read back here: the same bytes mean the
//! first attempt landed and the put succeeded.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use super::{BoxFuture, ObjectMeta, PutMode, Storage};
use crate::error::{Error, Result};
use crate::options::{CasBackoffConfig, Clock};

/// Storage whose transient failures are retried.
#[derive(Debug)]
pub struct Retrying {
    inner: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    backoff: CasBackoffConfig,
}

/// Attempts per call, and their backoff (50 ms doubling to 1 s, half jitter): with one call in
/// ten failing at random, a call fails for good about once in 10,000.
pub const DEFAULT_RETRY: CasBackoffConfig = CasBackoffConfig {
    base_ms: 50,
    max_ms: 1_000,
    max_attempts: 4,
};

impl Retrying {
    /// Wraps `inner`; `backoff.max_attempts` counts the first try.
    pub fn new(inner: Arc<dyn Storage>, clock: Arc<dyn Clock>, backoff: CasBackoffConfig) -> Self {
        Self {
            inner,
            clock,
            backoff,
        }
    }

    /// Runs `call` until it succeeds, fails for good, or the attempts are spent. Returns the
    /// outcome and whether an earlier attempt failed transiently.
    async fn run<'a, T>(
        &'a self,
        call: impl Fn() -> BoxFuture<'a, Result<T>>,
    ) -> (Result<T>, bool) {
        let mut attempt = 0u32;
        loop {
            match call().await {
                Err(e) if e.is_retryable() && attempt + 1 < self.backoff.max_attempts.max(1) => {
                    let random = crate::codec::random_u64().unwrap_or(0);
                    self.clock
                        .sleep(self.backoff.delay_ms(attempt, random))
                        .await;
                    attempt += 1;
                }
                outcome => return (outcome, attempt > 0),
            }
        }
    }
}

impl Storage for Retrying {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move { self.run(|| self.inner.get(path)).await.0 })
    }

    fn get_range<'a>(&'a self, path: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            self.run(|| self.inner.get_range(path, range.clone()))
                .await
                .0
        })
    }

    fn get_object<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<(Bytes, ObjectMeta)>> {
        Box::pin(async move { self.run(|| self.inner.get_object(path)).await.0 })
    }

    fn put<'a>(
        &'a self,
        path: &'a str,
        data: Bytes,
        mode: PutMode,
    ) -> BoxFuture<'a, Result<ObjectMeta>> {
        Box::pin(async move {
            let (outcome, retried) = self
                .run(|| self.inner.put(path, data.clone(), mode.clone()))
                .await;
            match outcome {
                // Did the first attempt create it? Only identical bytes say yes.
                Err(Error::Conflict(msg)) if retried && mode == PutMode::CreateNew => {
                    let (found, meta) = self.run(|| self.inner.get_object(path)).await.0?;
                    if found == data {
                        Ok(meta)
                    } else {
                        Err(Error::Conflict(msg))
                    }
                }
                other => other,
            }
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move { self.run(|| self.inner.list(prefix)).await.0 })
    }

    fn delete<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.run(|| self.inner.delete(path)).await.0 })
    }

    fn head<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>>> {
        Box::pin(async move { self.run(|| self.inner.head(path)).await.0 })
    }

    fn supports_append(&self) -> bool {
        self.inner.supports_append()
    }

    // Appends are not retried: a failed append may have written part of its bytes, and the
    // WAL writer already answers that by abandoning the segment.
    fn append<'a>(&'a self, path: &'a str, data: Bytes) -> BoxFuture<'a, Result<u64>> {
        self.inner.append(path, data)
    }

    fn sync<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        self.inner.sync(path)
    }

    fn close(&self) -> BoxFuture<'_, Result<()>> {
        self.inner.close()
    }
}
