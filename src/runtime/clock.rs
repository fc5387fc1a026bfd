//! Time: the one place engine code learns the time or waits, so tests move time by hand and
//! wasm32 never reaches `std::time` (which panics there).

/// Milliseconds since the Unix epoch, and timers. Engine code never reads the system clock
/// directly, so tests control time and wasm32 never reaches `std::time` (which panics there).
pub trait Clock: std::fmt::Debug + super::MaybeSendSync {
    /// Now, in milliseconds since the epoch.
    fn now_millis(&self) -> u64;

    /// Resolves after `ms` milliseconds without blocking the thread.
    fn sleep(&self, ms: u64) -> super::BoxFuture<'static, ()>;
}

/// The platform clock: `Date.now()` in wasm, the system time natively.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[cfg(target_arch = "wasm32")]
    fn now_millis(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[allow(clippy::disallowed_methods)] // the one sanctioned read of the system clock
    fn now_millis(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn sleep(&self, ms: u64) -> super::BoxFuture<'static, ()> {
        Box::pin(futures_timer::Delay::new(std::time::Duration::from_millis(
            ms,
        )))
    }

    #[cfg(target_arch = "wasm32")]
    fn sleep(&self, ms: u64) -> super::BoxFuture<'static, ()> {
        Box::pin(super::timer::sleep(ms))
    }
}

/// A clock tests move by hand.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicU64);

impl ManualClock {
    /// A clock at `ms`.
    pub fn new(ms: u64) -> Self {
        Self(std::sync::atomic::AtomicU64::new(ms))
    }

    /// Moves the clock forward.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Moves the clock forward by `ms` and resolves at once, so backoff is instant in tests.
    fn sleep(&self, ms: u64) -> super::BoxFuture<'static, ()> {
        self.advance(ms);
        Box::pin(std::future::ready(()))
    }
}
