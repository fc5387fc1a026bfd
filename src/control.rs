//! Cancellation and progress for the long calls (open with WAL replay, compaction, GC).
//!
//! A [`Control`] is checked at points where stopping leaves stored data as a failure there
//! would: between WAL segments, between row groups of a merge (before anything is published)
//! and between GC's deletions. A merge stopped before its manifest commit deletes the output
//! files it had stored (no head names them); a GC pass stopped midway deletes the rest on its
//! next run; a stopped open releases what it took, as any failed open does. Nothing
//! acknowledged is lost by stopping.

// One Arc code path everywhere; in wasm the callbacks hold JS values and there is one thread.
#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::runtime::MaybeSendSync;

/// Which long call a [`Progress`] report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Open: WAL segments replayed into the memtable.
    Replay,
    /// Compaction: versions merged out of the inputs.
    Compact,
    /// Garbage collection: the pass's steps (history, dropped files, notes, orphans, WAL,
    /// commit, archives).
    Gc,
}

impl Phase {
    /// The stable name JS callers see (`"replay"`, `"compact"`, `"gc"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Replay => "replay",
            Phase::Compact => "compact",
            Phase::Gc => "gc",
        }
    }
}

/// One progress report: `done` of `total` units of `phase` (segments, versions or steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The call reporting.
    pub phase: Phase,
    /// Units finished.
    pub done: u64,
    /// Units in all, as known when the call started (a merge's total counts the inputs'
    /// versions, some of which it may drop).
    pub total: u64,
}

// Native calls may run on the background compaction thread; wasm has one thread and JS
// callbacks, which are not Send.
#[cfg(not(target_arch = "wasm32"))]
type AbortProbe = Box<dyn Fn() -> Option<String> + Send + Sync>;
#[cfg(not(target_arch = "wasm32"))]
type ProgressSink = Box<dyn Fn(&Progress) + Send + Sync>;
#[cfg(target_arch = "wasm32")]
type AbortProbe = Box<dyn Fn() -> Option<String>>;
#[cfg(target_arch = "wasm32")]
type ProgressSink = Box<dyn Fn(&Progress)>;

#[derive(Default)]
struct Inner {
    cancelled: AtomicBool,
    /// Asked at each check as well as the flag: a JS `AbortSignal` is read, not listened to,
    /// so no callback into wasm outlives the call. Answers the reason when stopped.
    probe: Option<AbortProbe>,
    progress: Option<ProgressSink>,
}

/// Stops a long call and watches its progress. Cheap to clone; clones share one state.
/// [`Control::default`] never stops and reports nowhere.
#[derive(Clone, Default)]
pub struct Control {
    inner: Option<Arc<Inner>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl Control {
    /// A control that stops when [`Control::cancel`] is called (from any clone).
    pub fn new() -> Control {
        Control {
            inner: Some(Arc::new(Inner::default())),
        }
    }

    /// A control that also stops when `probe` answers a reason (it is asked at each check).
    pub fn with_probe(probe: impl Fn() -> Option<String> + MaybeSendSync + 'static) -> Control {
        Control {
            inner: Some(Arc::new(Inner {
                probe: Some(Box::new(probe)),
                ..Inner::default()
            })),
        }
    }

    /// The same control, reporting progress to `sink`. Reports come at most once per row group,
    /// segment or step, from the task running the call.
    pub fn on_progress(self, sink: impl Fn(&Progress) + MaybeSendSync + 'static) -> Control {
        let inner = match self.inner {
            Some(inner) => match Arc::try_unwrap(inner) {
                Ok(inner) => inner,
                // Shared already: keep the flag shared by linking the new sink to the old state.
                Err(shared) => {
                    return Control {
                        inner: Some(Arc::new(Inner {
                            probe: Some(Box::new(move || {
                                shared
                                    .stopped()
                                    .map(|r| r.to_owned())
                                    .or_else(|| shared.probe.as_ref().and_then(|p| p()))
                            })),
                            progress: Some(Box::new(sink)),
                            ..Inner::default()
                        })),
                    };
                }
            },
            None => Inner::default(),
        };
        Control {
            inner: Some(Arc::new(Inner {
                progress: Some(Box::new(sink)),
                ..inner
            })),
        }
    }

    /// Asks the call to stop at its next check; it then fails with `ABORTED`.
    pub fn cancel(&self) {
        if let Some(i) = &self.inner {
            i.cancelled.store(true, Ordering::SeqCst);
        }
    }

    /// Whether [`Control::cancel`] was called or the probe reports a stop.
    pub fn is_cancelled(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| {
            i.stopped().is_some() || i.probe.as_ref().is_some_and(|p| p().is_some())
        })
    }

    /// `ABORTED` if the call should stop now.
    pub fn check(&self) -> Result<()> {
        let Some(i) = &self.inner else { return Ok(()) };
        if let Some(r) = i.stopped() {
            return Err(Error::Aborted(r.into()));
        }
        match i.probe.as_ref().and_then(|p| p()) {
            Some(reason) => Err(Error::Aborted(reason)),
            None => Ok(()),
        }
    }

    /// Reports progress, then checks for a stop.
    pub fn step(&self, phase: Phase, done: u64, total: u64) -> Result<()> {
        if let Some(sink) = self.inner.as_ref().and_then(|i| i.progress.as_ref()) {
            sink(&Progress { phase, done, total });
        }
        self.check()
    }
}

impl Inner {
    fn stopped(&self) -> Option<&'static str> {
        self.cancelled
            .load(Ordering::SeqCst)
            .then_some("the call was cancelled")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn default_never_stops() {
        let c = Control::default();
        c.cancel();
        assert!(c.check().is_ok());
        assert!(c.step(Phase::Gc, 1, 7).is_ok());
    }

    #[test]
    fn cancel_reaches_every_clone_and_a_later_sink() {
        let c = Control::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let watched = c
            .clone()
            .on_progress(move |p| s.lock().unwrap().push(p.done));
        watched.step(Phase::Compact, 5, 10).unwrap();
        c.cancel();
        let e = watched.step(Phase::Compact, 10, 10).unwrap_err();
        assert_eq!(e.code().as_str(), "ABORTED");
        assert_eq!(*seen.lock().unwrap(), vec![5, 10]);
    }

    #[test]
    fn probe_reason_is_the_message() {
        let c = Control::with_probe(|| Some("user left".into()));
        let e = c.check().unwrap_err();
        assert!(e.to_string().contains("user left"), "{e}");
        assert!(c.is_cancelled());
    }
}
