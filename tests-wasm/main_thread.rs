//! The JS API in headless Chromium, on the page's main thread.
#![cfg(target_arch = "wasm32")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod common;
