//! `Anax`: the JS API's entry point, which opens tables and checks storage backends.

use std::sync::Arc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::db::JsDb;
use super::reply::{promise, to_js_error};
use super::schema::{to_key_names, to_schema};
use super::value::{exact_string, prop};
use super::{options, storage};
use crate::db::DbBuilder;
use crate::error::Error;
use crate::storage::Storage;

/// Entry point of the JS API.
#[wasm_bindgen]
pub struct Anax;

#[wasm_bindgen]
impl Anax {
    /// Opens a table.
    ///
    /// ```js
    /// const db = await Anax.open({
    ///   schema: { id: "utf8", name: "utf8", score: "float64" },
    ///   key: "id",
    ///   storage: { kind: "memory" },
    /// });
    /// ```
    #[allow(clippy::arc_with_non_send_sync)] // one thread in wasm
    pub fn open(options: JsValue) -> Promise {
        promise(async move {
            if !options.is_object() {
                return Err(Error::InvalidArgument(
                    "Anax.open takes an options object { schema, key, storage }".into(),
                ));
            }
            let key = to_key_names(&prop(&options, "key")?)?;
            let schema = to_schema(&prop(&options, "schema")?, &key)?;
            let names: Vec<&str> = key.iter().map(String::as_str).collect();
            let mut builder = DbBuilder::from_schema_key_names(schema, &names);
            let table = prop(&options, "tableName")?;
            if let Some(t) = exact_string(&table, &|| "tableName".into())? {
                builder = builder.table_name(t);
            } else if !table.is_undefined() {
                return Err(Error::InvalidArgument("tableName must be a string".into()));
            }
            let storage = prop(&options, "storage")?;
            builder = match storage::to_storage(&storage)? {
                storage::Choice::Memory => builder.in_memory("js"),
                storage::Choice::Opfs(path, wait) => builder.opfs_waiting(path, wait),
                storage::Choice::Store(s) => builder.with_storage(s),
                storage::Choice::Dir(fs) => {
                    builder.with_file_storage(Arc::new(crate::storage::NodeDir::open(fs)?))
                }
            };
            let builder = options::apply(&options, builder)?
                .with_control(super::control::from_options(&options, "Anax.open")?);
            let db = builder.open().await?;
            Ok(JsDb::new(db).into())
        })
    }

    /// Test hook: executes a wasm trap, what a Rust panic compiles to, either at once
    /// (`"sync"`) or inside a task of the executor (`"async"`). The JS layer must turn both
    /// into `INTERNAL` rejections and refuse further calls; the tests call this last.
    #[wasm_bindgen(js_name = __trapForTests)]
    pub fn trap_for_tests(mode: JsValue) -> std::result::Result<Promise, JsValue> {
        match mode.as_string().as_deref() {
            Some("sync") => core::arch::wasm32::unreachable(),
            Some("async") => Ok(promise(async { core::arch::wasm32::unreachable() })),
            _ => Err(to_js_error(Error::InvalidArgument(
                "__trapForTests takes \"sync\" or \"async\"".into(),
            ))),
        }
    }

    /// Checks that a storage backend honours Anax's contract (ranged reads, listing, deletes,
    /// create-if-absent and compare-and-swap races between two clients) by running the
    /// conformance suite under a scratch prefix it removes afterwards. Resolves to the number
    /// of cases passed; rejects with the first broken expectation.
    #[wasm_bindgen(js_name = checkStorage)]
    #[allow(clippy::arc_with_non_send_sync)] // one thread in wasm
    pub fn check_storage(storage: JsValue) -> Promise {
        promise(async move {
            let (a, b): (Arc<dyn Storage>, Arc<dyn Storage>) = match (
                storage::to_storage(&storage)?,
                storage::to_storage(&storage)?,
            ) {
                (storage::Choice::Store(a), storage::Choice::Store(b)) => (a, b),
                (storage::Choice::Dir(fs), _) => {
                    // Without the writer lock: the check writes only under its scratch
                    // prefix, so it can run beside a handle open on the directory.
                    let d: Arc<dyn Storage> = Arc::new(crate::storage::NodeDir::new(fs)?);
                    (d.clone(), d)
                }
                (storage::Choice::Opfs(path, _), _) => {
                    // One writer lock per database: both clients share the handle and
                    // race through it (the Web Lock per object still serializes them).
                    let o: Arc<dyn Storage> =
                        Arc::new(crate::storage::Opfs::open(&format!("{path}.check")).await?);
                    (o.clone(), o)
                }
                _ => {
                    let m = Arc::new(crate::storage::MemoryStorage::new());
                    (m.clone(), m)
                }
            };
            let root = format!("conformance/{:016x}", crate::codec::random_u64()?);
            let passed = crate::storage::conformance::run(a.as_ref(), Some(b.as_ref()), &root)
                .await
                .map_err(|m| Error::storage(format!("storage check failed: {m}")))?;
            Ok(JsValue::from_f64(passed as f64))
        })
    }
}
