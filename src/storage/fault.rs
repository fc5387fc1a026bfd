//! Crash injection for tests: a memory store that fails at the N-th request and can lose or tear
//! what was not yet durable, so recovery is checked at every point a real crash could hit.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::{BoxFuture, MemoryStorage, ObjectMeta, PutMode, Storage};
use crate::error::{Error, Result};

/// What happens at the crash point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// The request fails and writes nothing; bytes appended earlier survive (a process crash:
    /// the OS still has them).
    Fail,
    /// A crashing append writes only a prefix of its bytes (a torn write); a crashing put
    /// writes nothing (object writes are atomic).
    Tear,
    /// The request fails and every appended byte not yet synced is lost, except a prefix of
    /// the unsynced tail of each file (a power cut mid-writeback).
    PowerLoss,
    /// Only that request fails (an append tears as with `Tear`); later ones succeed, as after
    /// a network blip. Checks that a writer recovers from a failed write without a restart.
    Transient,
    /// Only that request fails, after it took effect (the reply was lost, as when a
    /// connection drops after the server applied a write); later ones succeed.
    LostReply,
}

/// Forwards to a [`MemoryStorage`] until request number `crash_at` (1-based), which crashes;
/// every later request fails too. Call [`FaultStorage::after_crash`] for the store a restarted
/// process would find.
#[derive(Debug)]
pub struct FaultStorage {
    inner: MemoryStorage,
    crash_at: u64,
    mode: FaultMode,
    ops: AtomicU64,
    /// Per appended path: bytes known durable.
    synced: Mutex<BTreeMap<String, u64>>,
    seed: u64,
}

impl FaultStorage {
    /// A store over `inner` that crashes at request `crash_at` (`u64::MAX`: never).
    pub fn new(inner: MemoryStorage, crash_at: u64, mode: FaultMode, seed: u64) -> Self {
        Self {
            inner,
            crash_at,
            mode,
            ops: AtomicU64::new(0),
            synced: Mutex::default(),
            seed,
        }
    }

    /// Requests seen so far (the crash point included).
    pub fn ops(&self) -> u64 {
        self.ops.load(Ordering::SeqCst)
    }

    /// Whether the crash point was reached.
    pub fn crashed(&self) -> bool {
        self.ops() >= self.crash_at
    }

    /// Counts a request: `Ok(true)` when it is the crashing one, an error after it.
    fn tick(&self) -> Result<bool> {
        let n = self.ops.fetch_add(1, Ordering::SeqCst) + 1;
        let one_off = matches!(self.mode, FaultMode::Transient | FaultMode::LostReply);
        if n > self.crash_at && !one_off {
            return Err(Error::storage("injected fault: storage is down"));
        }
        Ok(n == self.crash_at)
    }

    fn crash_error(&self) -> Error {
        // The one-off modes stand for a network blip or a lost reply: worth retrying.
        if matches!(self.mode, FaultMode::Transient | FaultMode::LostReply) {
            Error::transient("injected fault: one request failed", None)
        } else {
            Error::storage("injected fault: crash")
        }
    }

    fn synced(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, u64>>> {
        self.synced
            .lock()
            .map_err(|_| Error::Internal("fault storage lock poisoned".into()))
    }

    /// The store a process restarted after the crash sees (a copy; this one stays crashed).
    pub fn after_crash(&self) -> Result<MemoryStorage> {
        let store = self.inner.fork()?;
        if self.mode == FaultMode::PowerLoss && self.crashed() {
            let mut rng = self.seed | 1;
            for (path, durable) in self.synced()?.iter() {
                let Some(meta) = poll_ready(store.head(path))?? else {
                    continue;
                };
                if meta.size > *durable {
                    // xorshift: keep a pseudo-random prefix of the unsynced tail.
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let keep = rng % (meta.size - durable + 1);
                    store.truncate(path, durable + keep)?;
                }
            }
        }
        Ok(store)
    }
}

/// Memory storage futures never wait: one poll finishes them.
fn poll_ready<T>(mut fut: BoxFuture<'_, T>) -> Result<T> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Ok(v),
        std::task::Poll::Pending => Err(Error::Internal("memory storage future waited".into())),
    }
}

impl Storage for FaultStorage {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            if self.tick()? {
                return Err(self.crash_error());
            }
            self.inner.get(path).await
        })
    }

    fn get_range<'a>(&'a self, path: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            if self.tick()? {
                return Err(self.crash_error());
            }
            self.inner.get_range(path, range).await
        })
    }

    fn put<'a>(
        &'a self,
        path: &'a str,
        data: Bytes,
        mode: PutMode,
    ) -> BoxFuture<'a, Result<ObjectMeta>> {
        Box::pin(async move {
            let crash = self.tick()?;
            if crash && self.mode != FaultMode::LostReply {
                return Err(self.crash_error());
            }
            let len = data.len() as u64;
            let meta = self.inner.put(path, data, mode).await?;
            // A whole-object write is durable when it resolves.
            self.synced()?.insert(path.to_owned(), len);
            if crash {
                return Err(self.crash_error());
            }
            Ok(meta)
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move {
            if self.tick()? {
                return Err(self.crash_error());
            }
            self.inner.list(prefix).await
        })
    }

    fn delete<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let crash = self.tick()?;
            if crash && self.mode != FaultMode::LostReply {
                return Err(self.crash_error());
            }
            self.synced()?.remove(path);
            self.inner.delete(path).await?;
            if crash {
                return Err(self.crash_error());
            }
            Ok(())
        })
    }

    fn head<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>>> {
        Box::pin(async move {
            if self.tick()? {
                return Err(self.crash_error());
            }
            self.inner.head(path).await
        })
    }

    fn get_object<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<(Bytes, ObjectMeta)>> {
        Box::pin(async move {
            if self.tick()? {
                return Err(self.crash_error());
            }
            self.inner.get_object(path).await
        })
    }

    fn supports_append(&self) -> bool {
        true
    }
    fn conditional_writes_native(&self) -> bool {
        self.inner.conditional_writes_native()
    }

    fn append<'a>(&'a self, path: &'a str, data: Bytes) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let crash = self.tick()?;
            if crash && self.mode == FaultMode::LostReply {
                self.synced()?.entry(path.to_owned()).or_insert(0);
                self.inner.append(path, data).await?;
                return Err(self.crash_error());
            }
            if crash {
                let tears = matches!(self.mode, FaultMode::Tear | FaultMode::Transient);
                if tears && data.len() > 1 {
                    let cut = (self.seed as usize % (data.len() - 1)) + 1;
                    self.inner.append(path, data.slice(..cut)).await?;
                }
                return Err(self.crash_error());
            }
            self.synced()?.entry(path.to_owned()).or_insert(0);
            self.inner.append(path, data).await
        })
    }

    fn sync<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let crash = self.tick()?;
            if crash && self.mode != FaultMode::LostReply {
                return Err(self.crash_error());
            }
            if let Some(meta) = self.inner.head(path).await? {
                self.synced()?.insert(path.to_owned(), meta.size);
            }
            if crash {
                return Err(self.crash_error());
            }
            Ok(())
        })
    }
}
