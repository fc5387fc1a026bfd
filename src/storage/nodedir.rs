//! A directory of Node's file system as [`Storage`] (`storage: { kind: "dir", path }`).
//!
//! The file work is done by `js/dir.js`, whose object the Node entry hands over with the
//! options; this side checks paths and turns its answers into typed results. Its calls are
//! synchronous (see that file for why), so every method here finishes within its first poll,
//! and a compare-and-swap cannot interleave with another call of this process. Objects are
//! written to a temporary file, fsynced and renamed into place, which makes the backend
//! file-like (durability default: WAL) with the native disk backend's guarantees.

use std::cell::Cell;
use std::ops::Range;

use bytes::Bytes;
use js_sys::{Array, Function, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

use super::js::get;
use super::{BoxFuture, ObjectMeta, PutMode, Storage, check_relative as check};
use crate::error::{Error, Result};

/// The file system interface of `js/dir.js`, on one directory.
pub struct NodeDir {
    fs: JsValue,
    /// Until `close`: the handle may hold open files and the writer lock, which a drop
    /// without `close` gives up too.
    live: Cell<bool>,
}

impl std::fmt::Debug for NodeDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeDir")
    }
}

impl NodeDir {
    /// The backend over `fs` (made by `js/dir.js`), without the writer lock: for a storage
    /// check, which writes only under a scratch prefix.
    pub fn new(fs: JsValue) -> Result<Self> {
        if !fs.is_object() {
            return Err(Error::InvalidArgument(
                "storage kind \"dir\" is a Node storage: open it from the package's Node entry \
                 (in a browser use \"opfs\")"
                    .into(),
            ));
        }
        Ok(Self {
            fs,
            live: Cell::new(true),
        })
    }

    /// The backend with the directory's writer lock taken; `CONFLICT`, naming the holder,
    /// while another handle or process has it.
    pub fn open(fs: JsValue) -> Result<Self> {
        let dir = Self::new(fs)?;
        let holder = dir.call("lock", "", &[])?;
        if let Some(who) = holder.as_string() {
            return Err(Error::Conflict(format!(
                "the directory is open for writing by {who}; close that handle first (if that \
                 process is gone and runs on another host, delete the directory's LOCK.pid)"
            )));
        }
        Ok(dir)
    }

    /// `fs.method(...args)`: a thrown exception becomes `NOT_FOUND` (a missing file) or
    /// `STORAGE` naming the call and object.
    fn call(&self, method: &str, path: &str, args: &[JsValue]) -> Result<JsValue> {
        let f: Function = get(&self.fs, method)
            .dyn_into()
            .map_err(|_| Error::Internal(format!("the dir storage has no {method}() method")))?;
        let list: Array = args.iter().collect();
        f.apply(&self.fs, &list).map_err(|e| {
            let code = get(&e, "code").as_string().unwrap_or_default();
            // A missing object is NOT_FOUND for the reads; for anything else (a lock or a
            // write under a path that is not a directory) it is the failure it is.
            let read = matches!(method, "read" | "readRange" | "readObject");
            if read && (code == "ENOENT" || code == "ENOTDIR") {
                return Error::NotFound(path.to_owned());
            }
            let detail = get(&e, "message")
                .as_string()
                .unwrap_or_else(|| "unknown error".into());
            Error::storage(format!("dir {method} {path}: {detail}"))
                .with_backend_code(super::js::exception_code(&e))
                .with_cause(Some(super::js::keep_cause(&e)))
                .during(operation(method), path)
        })
    }

    fn meta(v: &JsValue, path: &str) -> Result<ObjectMeta> {
        let size = get(v, "size").as_f64();
        let etag = get(v, "etag").as_string();
        match (size, etag) {
            (Some(size), Some(etag)) if size >= 0.0 => Ok(ObjectMeta {
                path: path.to_owned(),
                size: size as u64,
                etag,
            }),
            _ => Err(Error::Internal(format!(
                "the dir storage described {path} without a size and an etag"
            ))),
        }
    }

    fn bytes(v: &JsValue, path: &str) -> Result<Bytes> {
        v.dyn_ref::<Uint8Array>()
            .map(|a| Bytes::from(a.to_vec()))
            .ok_or_else(|| Error::Internal(format!("the dir storage read {path} as no bytes")))
    }
}

/// The [`crate::StorageError::operation`] name of a `js/dir.js` method.
fn operation(method: &str) -> &'static str {
    match method {
        "read" => "get",
        "readRange" => "get_range",
        "readObject" => "get_object",
        "write" => "put",
        "list" => "list",
        "delete" => "delete",
        "head" => "head",
        "append" => "append",
        "sync" => "sync",
        _ => "open",
    }
}

/// `data` copied into a JS buffer for one synchronous call (the crate forbids `unsafe`, so no
/// view of wasm memory: a WAL append's copy is small, an SST's is one memcpy).
fn to_js<T>(data: &[u8], f: impl FnOnce(JsValue) -> T) -> T {
    f(Uint8Array::from(data).into())
}

impl Storage for NodeDir {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            check(path)?;
            Self::bytes(&self.call("read", path, &[path.into()])?, path)
        })
    }

    fn get_range<'a>(&'a self, path: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            check(path)?;
            // Offsets past 2^53 are past the end of any file; clamping keeps them numbers.
            let limit = (1u64 << 53) - 1;
            let (start, end) = (range.start.min(limit), range.end.min(limit));
            let v = self.call(
                "readRange",
                path,
                &[path.into(), (start as f64).into(), (end as f64).into()],
            )?;
            Self::bytes(&v, path)
        })
    }

    fn put<'a>(
        &'a self,
        path: &'a str,
        data: Bytes,
        mode: PutMode,
    ) -> BoxFuture<'a, Result<ObjectMeta>> {
        Box::pin(async move {
            check(path)?;
            let (name, etag) = match &mode {
                PutMode::Overwrite => ("overwrite", JsValue::UNDEFINED),
                PutMode::CreateNew => ("create", JsValue::UNDEFINED),
                PutMode::IfMatch(e) => ("match", JsValue::from_str(e)),
            };
            let v = to_js(&data, |bytes| {
                self.call("write", path, &[path.into(), bytes, name.into(), etag])
            })?;
            if v.is_null() {
                return Err(Error::Conflict(match mode {
                    PutMode::CreateNew => format!("{path} already exists"),
                    _ => format!("{path} changed since it was read"),
                }));
            }
            Self::meta(&v, path)
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move {
            let v = self.call("list", prefix, &[prefix.into()])?;
            let arr: Array = v
                .dyn_into()
                .map_err(|_| Error::Internal("the dir storage listed no array".into()))?;
            let mut out = arr
                .iter()
                .map(|o| {
                    let path = get(&o, "path").as_string().unwrap_or_default();
                    Self::meta(&o, &path)
                })
                .collect::<Result<Vec<_>>>()?;
            out.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(out)
        })
    }

    fn delete<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            check(path)?;
            self.call("delete", path, &[path.into()])?;
            Ok(())
        })
    }

    fn head<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>>> {
        Box::pin(async move {
            check(path)?;
            let v = self.call("head", path, &[path.into()])?;
            if v.is_null() || v.is_undefined() {
                return Ok(None);
            }
            Self::meta(&v, path).map(Some)
        })
    }

    fn get_object<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<(Bytes, ObjectMeta)>> {
        Box::pin(async move {
            check(path)?;
            let v = self.call("readObject", path, &[path.into()])?;
            let bytes = Self::bytes(&Reflect::get(&v, &"bytes".into()).unwrap_or_default(), path)?;
            Ok((bytes, Self::meta(&v, path)?))
        })
    }

    fn supports_append(&self) -> bool {
        true
    }
    fn conditional_writes_native(&self) -> bool {
        true
    }

    fn append<'a>(&'a self, path: &'a str, data: Bytes) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            check(path)?;
            let v = to_js(&data, |bytes| {
                self.call("append", path, &[path.into(), bytes])
            })?;
            v.as_f64()
                .filter(|n| *n >= 0.0)
                .map(|n| n as u64)
                .ok_or_else(|| Error::Internal("the dir storage appended without a length".into()))
        })
    }

    fn sync<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            check(path)?;
            self.call("sync", path, &[path.into()])?;
            Ok(())
        })
    }

    fn close(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if self.live.replace(false) {
                self.call("close", "", &[])?;
            }
            Ok(())
        })
    }
}

impl Drop for NodeDir {
    /// A handle freed without `close()` still closes its files and gives the lock up, as the
    /// native disk backend's are when its files are dropped.
    fn drop(&mut self) {
        if self.live.replace(false) {
            let _ = self.call("close", "", &[]);
        }
    }
}
