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
//! first attempt landed and the put succeeded; an object already gone again (deleted as an
//! orphan meanwhile) is a conflict, so the caller writes again under a new name.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use super::{BoxFuture, ObjectMeta, PutMode, Storage};
use crate::error::{Error, Result};
use crate::runtime::{CasBackoffConfig, Clock};

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
                    match self.run(|| self.inner.get_object(path)).await.0 {
                        Ok((found, meta)) if found == data => Ok(meta),
                        Ok(_) => Err(Error::Conflict(msg)),
                        // It existed a moment ago and is gone: deleted as an orphan (a slow
                        // write whose name garbage collection judged old). Whoever made it,
                        // the caller cannot rely on it; a fresh write under a new name can.
                        Err(Error::NotFound(_)) => Err(Error::Conflict(format!(
                            "{path} was created and then deleted before this write could \
                             confirm it (garbage collection of a write slower than its grace \
                             period); write again"
                        ))),
                        Err(e) => Err(e),
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
    fn conditional_writes_native(&self) -> bool {
        self.inner.conditional_writes_native()
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use futures::executor::block_on;

    use super::*;
    use crate::ErrorCode;
    use crate::runtime::ManualClock;
    use crate::storage::MemoryStorage;

    /// Lands its first write and reports it failed (a lost reply); on the second, finds the
    /// object there and, before answering, lets "garbage collection" delete it.
    #[derive(Debug)]
    struct SweptAfterLostReply {
        inner: MemoryStorage,
        puts: AtomicU32,
    }

    impl Storage for SweptAfterLostReply {
        fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Bytes>> {
            self.inner.get(path)
        }
        fn get_range<'a>(
            &'a self,
            path: &'a str,
            range: Range<u64>,
        ) -> BoxFuture<'a, Result<Bytes>> {
            self.inner.get_range(path, range)
        }
        fn put<'a>(
            &'a self,
            path: &'a str,
            data: Bytes,
            mode: PutMode,
        ) -> BoxFuture<'a, Result<ObjectMeta>> {
            Box::pin(async move {
                let n = self.puts.fetch_add(1, Ordering::SeqCst);
                let out = self.inner.put(path, data, mode).await;
                match n {
                    0 => {
                        out?;
                        Err(Error::transient("reply lost", Some(503)))
                    }
                    _ => {
                        self.inner.delete(path).await?;
                        out
                    }
                }
            })
        }
        fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
            self.inner.list(prefix)
        }
        fn delete<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
            self.inner.delete(path)
        }
        fn head<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>>> {
            self.inner.head(path)
        }
    }

    #[test]
    fn a_created_object_deleted_before_its_retry_confirms_it_is_a_conflict() {
        let inner = Arc::new(SweptAfterLostReply {
            inner: MemoryStorage::new(),
            puts: AtomicU32::new(0),
        });
        let store = Retrying::new(
            inner.clone(),
            Arc::new(ManualClock::new(0)),
            CasBackoffConfig {
                base_ms: 1,
                max_ms: 1,
                max_attempts: 3,
            },
        );
        let path = "sst/L0/1-00000000000000aa.parquet";
        let err =
            block_on(store.put(path, Bytes::from_static(b"rows"), PutMode::CreateNew)).unwrap_err();
        // Callers write again under a new name on CONFLICT; NOT_FOUND from a put would
        // tell them nothing and failed the writer's put in the fault matrix.
        assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
        assert!(err.to_string().contains("deleted"), "{err}");
        assert_eq!(inner.puts.load(Ordering::SeqCst), 2);
    }
}
