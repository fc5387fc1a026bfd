//! The JS boundary (wasm-bindgen): converts and validates JS arguments, calls the pure-Rust
//! core, and returns Promises. No engine logic lives here. One file per JS class (`Anax`,
//! `Db`, `Snapshot`, `Transaction`, `ScanCursor`); the three that read share `read`'s body.

mod anax;
mod control;
mod cursor;
mod db;
mod options;
mod read;
mod reply;
mod rows_in;
mod rows_out;
mod scan_options;
mod schema;
mod snapshot;
mod storage;

mod transaction;
mod value;

pub use anax::Anax;
pub use cursor::JsScanCursor;
pub use db::JsDb;
pub use snapshot::JsSnapshot;
pub use transaction::JsTxn;
