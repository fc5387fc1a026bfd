//! A JS object store as [`Storage`]: anything with the shape of a Cloudflare R2 binding
//! (`get(key, {range})`, `put(key, body, {onlyIf})`, `list({prefix, cursor})`, `delete(key)`,
//! `head(key)`), so a Worker uses `env.MY_BUCKET` with no credentials. Create-if-absent is
//! `onlyIf: { etagDoesNotMatch: "*" }` and compare-and-swap `onlyIf: { etagMatches }`; a
//! failed condition (put resolves to `null`) is a conflict.

use std::ops::Range;

use bytes::Bytes;
use js_sys::{Function, Object, Promise, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::js::{get, set};
use super::{BoxFuture, ObjectMeta, PutMode, Storage};
use crate::error::{Error, Result};

/// Storage on a JS bucket object (an R2 binding or anything shaped like one).
#[derive(Debug, Clone)]
pub struct JsBucket {
    bucket: JsValue,
    prefix: String,
}

fn err(what: &str, path: &str, e: &JsValue) -> Error {
    super::js::error("bucket", what, path, e)
}

impl JsBucket {
    /// Wraps `bucket`; every key is placed under `prefix` (may be empty). Fails when `bucket`
    /// lacks one of the methods.
    pub fn new(bucket: JsValue, prefix: &str) -> Result<Self> {
        for m in ["get", "put", "list", "delete", "head"] {
            if !get(&bucket, m).is_function() {
                return Err(Error::InvalidArgument(format!(
                    "storage.bucket must look like an R2 binding: it has no {m}() method"
                )));
            }
        }
        Ok(Self {
            bucket,
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }

    fn key(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            path.to_owned()
        } else {
            format!("{}/{path}", self.prefix)
        }
    }

    async fn call(&self, method: &str, path: &str, args: &[JsValue]) -> Result<JsValue> {
        self.call_retrying(method, path, args).await.0
    }

    /// Calls `method`, retrying what the binding threw (R2: "internal error, try again", a
    /// network blip) with backoff. A binding retries nothing by itself, and one failed call
    /// would otherwise fail the put, compaction job or GC pass that made it. Returns the
    /// outcome and whether an attempt failed before it. (Natively, stores passed in by the
    /// caller get the same from `storage::Retrying`; here it costs one loop, not a wrapper.)
    async fn call_retrying(
        &self,
        method: &str,
        path: &str,
        args: &[JsValue],
    ) -> (Result<JsValue>, bool) {
        let policy = super::DEFAULT_RETRY;
        let mut attempt = 0u32;
        loop {
            match super::js::call("bucket", &self.bucket, method, args, path).await {
                Err(e) if e.is_retryable() && attempt + 1 < policy.max_attempts => {
                    let random = crate::codec::random_u64().unwrap_or(0);
                    crate::runtime::timer::sleep(policy.delay_ms(attempt, random)).await;
                    attempt += 1;
                }
                out => return (out, attempt > 0),
            }
        }
    }

    fn meta(path: &str, obj: &JsValue) -> ObjectMeta {
        ObjectMeta {
            path: path.to_owned(),
            size: get(obj, "size").as_f64().unwrap_or(0.0) as u64,
            etag: get(obj, "etag").as_string().unwrap_or_default(),
        }
    }

    /// `{ range: { offset, length } }`, the options of a ranged R2 `get`.
    fn range_options(offset: u64, length: u64) -> JsValue {
        let opts = Object::new();
        let range = Object::new();
        set(&range, "offset", &JsValue::from_f64(offset as f64));
        set(&range, "length", &JsValue::from_f64(length as f64));
        set(&opts, "range", &range);
        opts.into()
    }

    /// A ranged read clamped to the size `head` reports (two calls, each retried).
    async fn get_range_clamped(
        &self,
        path: &str,
        key: JsValue,
        range: Range<u64>,
    ) -> Result<Bytes> {
        let head = self.call("head", path, std::slice::from_ref(&key)).await?;
        if head.is_null() || head.is_undefined() {
            return Err(Error::NotFound(path.to_owned()));
        }
        let size = get(&head, "size").as_f64().unwrap_or(0.0) as u64;
        let r = super::clamp(range, size);
        if r.start >= r.end {
            return Ok(Bytes::new());
        }
        let opts = Self::range_options(r.start, r.end - r.start);
        let obj = self.call("get", path, &[key, opts]).await?;
        if obj.is_null() || obj.is_undefined() {
            return Err(Error::NotFound(path.to_owned()));
        }
        Self::body(path, &obj).await
    }

    async fn body(path: &str, obj: &JsValue) -> Result<Bytes> {
        let f: Function = get(obj, "arrayBuffer")
            .dyn_into()
            .map_err(|e| err("read", path, &e))?;
        let p: Promise = f
            .call0(obj)
            .map_err(|e| err("read", path, &e))?
            .dyn_into()
            .map_err(|e| err("read", path, &e))?;
        let buf = JsFuture::from(p).await.map_err(|e| err("read", path, &e))?;
        Ok(Bytes::from(Uint8Array::new(&buf).to_vec()))
    }
}

impl Storage for JsBucket {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move { Ok(self.get_object(path).await?.0) })
    }

    fn get_object<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<(Bytes, ObjectMeta)>> {
        Box::pin(async move {
            let obj = self
                .call("get", path, &[JsValue::from_str(&self.key(path))])
                .await?;
            if obj.is_null() || obj.is_undefined() {
                return Err(Error::NotFound(path.to_owned()));
            }
            let meta = Self::meta(path, &obj);
            Ok((Self::body(path, &obj).await?, meta))
        })
    }

    fn get_range<'a>(&'a self, path: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            if range.start >= range.end {
                return Ok(Bytes::new());
            }
            let key = JsValue::from_str(&self.key(path));
            // One call, no `head` first: callers know the object's size (an SST's is in the
            // manifest), and R2 cuts a length that runs past the end. It throws only for a
            // start past the end (or a failure); then the range is clamped against the size
            // `head` reports, with retries, as the contract asks.
            let opts = Self::range_options(range.start, range.end - range.start);
            match super::js::call("bucket", &self.bucket, "get", &[key.clone(), opts], path).await {
                Ok(obj) if obj.is_null() || obj.is_undefined() => {
                    Err(Error::NotFound(path.to_owned()))
                }
                Ok(obj) => Self::body(path, &obj).await,
                Err(_) => self.get_range_clamped(path, key, range).await,
            }
        })
    }

    fn put<'a>(
        &'a self,
        path: &'a str,
        data: Bytes,
        mode: PutMode,
    ) -> BoxFuture<'a, Result<ObjectMeta>> {
        Box::pin(async move {
            let opts = Object::new();
            let cond = Object::new();
            match &mode {
                PutMode::Overwrite => {}
                PutMode::CreateNew => {
                    set(&cond, "etagDoesNotMatch", &JsValue::from_str("*"));
                    set(&opts, "onlyIf", &cond);
                }
                PutMode::IfMatch(etag) => {
                    set(&cond, "etagMatches", &JsValue::from_str(etag));
                    set(&opts, "onlyIf", &cond);
                }
            }
            let body = Uint8Array::from(data.as_ref());
            let (out, retried) = self
                .call_retrying(
                    "put",
                    path,
                    &[JsValue::from_str(&self.key(path)), body.into(), opts.into()],
                )
                .await;
            let out = out?;
            if (out.is_null() || out.is_undefined()) && retried && mode == PutMode::CreateNew {
                // The attempt that threw may have created it: identical bytes say it did.
                let (found, meta) = self.get_object(path).await?;
                if found == data {
                    return Ok(meta);
                }
            }
            if out.is_null() || out.is_undefined() {
                return Err(Error::Conflict(format!(
                    "{path}: the bucket's precondition failed (created or changed concurrently)"
                )));
            }
            Ok(Self::meta(path, &out))
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move {
            let full = self.key(prefix);
            let strip = if self.prefix.is_empty() {
                0
            } else {
                self.prefix.len() + 1
            };
            let mut out = Vec::new();
            let mut cursor = JsValue::UNDEFINED;
            loop {
                let opts = Object::new();
                set(&opts, "prefix", &JsValue::from_str(&full));
                if !cursor.is_undefined() {
                    set(&opts, "cursor", &cursor);
                }
                let page = self.call("list", prefix, &[opts.into()]).await?;
                let objects = get(&page, "objects");
                let objects: js_sys::Array = objects.dyn_into().unwrap_or_default();
                for o in objects.iter() {
                    let key = get(&o, "key").as_string().unwrap_or_default();
                    if let Some(p) = key.get(strip..) {
                        out.push(Self::meta(p, &o));
                    }
                }
                if get(&page, "truncated").as_bool() != Some(true) {
                    break;
                }
                cursor = get(&page, "cursor");
                if cursor.is_undefined() || cursor.is_null() {
                    break;
                }
            }
            out.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(out)
        })
    }

    fn delete<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.call("delete", path, &[JsValue::from_str(&self.key(path))])
                .await
                .map(drop)
        })
    }

    fn head<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>>> {
        Box::pin(async move {
            let obj = self
                .call("head", path, &[JsValue::from_str(&self.key(path))])
                .await?;
            if obj.is_null() || obj.is_undefined() {
                return Ok(None);
            }
            Ok(Some(Self::meta(path, &obj)))
        })
    }
}
