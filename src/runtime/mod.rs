//! The ground floor: what the engine needs from the platform it runs on, and nothing else.
//! Time ([`Clock`]), retry backoff, boxed futures, and in wasm the executor glue (`task`:
//! spawning and promises on wasm-bindgen's microtask queue; `timer`: `setTimeout` as a future).
//! Everything above imports this module; it imports nothing of the crate but errors, so the
//! engine never reaches up into the JS bindings for a spawn or a sleep.

use std::future::Future;
use std::pin::Pin;

mod backoff;
mod clock;
#[cfg(target_arch = "wasm32")]
pub(crate) mod task;
#[cfg(target_arch = "wasm32")]
pub(crate) mod timer;

pub use backoff::CasBackoffConfig;
pub use clock::{Clock, ManualClock, SystemClock};

/// `Send + Sync` natively, where handles may cross threads; nothing in wasm, where JS-backed
/// backends cannot be.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSendSync: Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + Sync + ?Sized> MaybeSendSync for T {}
/// `Send + Sync` natively, where handles may cross threads; nothing in wasm, where JS-backed
/// backends cannot be.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSendSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSendSync for T {}

/// A boxed, non-`Send` future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;
