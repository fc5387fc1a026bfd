//! The allocation cap every target runs under: the bytes live at once may not exceed
//! `BASE + RATIO × input length`. A decoder that believes a length field in the input and
//! allocates it (a wasm instance would abort on it) then fails the run as a crash.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Slack for fixed costs (schemas, parquet's reader state, the executor).
pub const BASE: usize = 32 << 20;
/// LZ4 expands at most ~255x; every other format here is at most a small multiple.
pub const RATIO: usize = 300;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static CAP: AtomicUsize = AtomicUsize::new(usize::MAX);

pub struct Capped;

unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        if live > CAP.load(Ordering::Relaxed) {
            // Lift the cap so that reporting can allocate, then abort: unwinding out of an
            // allocator is not allowed, and libFuzzer saves the input on the signal.
            CAP.store(usize::MAX, Ordering::Relaxed);
            eprintln!(
                "allocation of {} bytes brings live memory to {live}, over the cap",
                layout.size()
            );
            if std::env::var_os("ANAX_CAP_BACKTRACE").is_some() {
                eprintln!("{}", std::backtrace::Backtrace::force_capture());
            }
            std::process::abort();
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `f` with the cap set for an input of `len` bytes.
pub fn run(len: usize, f: impl FnOnce()) {
    CAP.store(
        LIVE.load(Ordering::Relaxed) + BASE + RATIO.saturating_mul(len),
        Ordering::Relaxed,
    );
    f();
    CAP.store(usize::MAX, Ordering::Relaxed);
}
