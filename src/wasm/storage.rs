//! JS `storage` options -> a storage backend.
//!
//! ```js
//! { kind: "memory" }                                   // default
//! { kind: "dir", path }                                // Node: a directory
//! { kind: "bucket", bucket: env.MY_BUCKET, prefix }    // an R2 binding (or same shape)
//! { kind: "s3", bucket, prefix, endpoint, region, accessKeyId, secretAccessKey,
//!   sessionToken, kmsKey, signPayload, checksum, versioned, pathStyle, s3Express,
//!   maxRetries }
//! ```

use std::sync::Arc;

use wasm_bindgen::JsValue;

use super::value::prop;
use crate::error::{Error, Result};
use crate::storage::s3::{AwsCreds, S3Spec, S3Storage};
use crate::storage::{JsBucket, Storage};

fn opt_string(o: &JsValue, name: &str) -> Result<Option<String>> {
    let v = prop(o, name)?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    super::value::exact_string(&v, &|| format!("storage.{name}"))?
        .map(Some)
        .ok_or_else(|| Error::InvalidArgument(format!("storage.{name} must be a string")))
}

fn string(o: &JsValue, name: &str) -> Result<String> {
    opt_string(o, name)?.ok_or_else(|| {
        Error::InvalidArgument(format!("storage.{name} is required for this storage kind"))
    })
}

fn flag(o: &JsValue, name: &str) -> Result<Option<bool>> {
    let v = prop(o, name)?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_bool()
        .map(Some)
        .ok_or_else(|| Error::InvalidArgument(format!("storage.{name} must be true or false")))
}

/// What a `storage` option selects.
pub(super) enum Choice {
    /// The builder's volatile memory store.
    Memory,
    /// OPFS under this directory (opened, with its writer lock, by the builder), and how
    /// long to wait for that lock (ms).
    Opfs(String, u32),
    /// A ready storage.
    Store(Arc<dyn Storage>),
    /// A file-like storage (it hosts a WAL): Node's `dir`, as the file system interface the
    /// Node entry attached (`js/dir.js`); opened, with its writer lock, by the caller.
    Dir(JsValue),
}

/// Where the Node entry attaches the file system interface of a `dir` storage: a symbol, so
/// that it is no option a caller could name (or misspell).
fn dir_fs(storage: &JsValue) -> JsValue {
    js_sys::Reflect::get(storage, &js_sys::Symbol::for_("anax.dirFs").into())
        .unwrap_or(JsValue::UNDEFINED)
}

/// The backend `storage` names.
// wasm has one thread; storage holding JS values is not Send, and the engine takes an Arc.
#[allow(clippy::arc_with_non_send_sync)]
pub(super) fn to_storage(storage: &JsValue) -> Result<Choice> {
    if storage.is_undefined() {
        return Ok(Choice::Memory);
    }
    if !storage.is_object() {
        return Err(Error::InvalidArgument(
            "storage must be an object such as { kind: \"memory\" }".into(),
        ));
    }
    let kind = opt_string(storage, "kind")?.ok_or_else(|| {
        Error::InvalidArgument(
            "storage.kind must be one of \"memory\", \"dir\", \"opfs\", \"bucket\", \"s3\"".into(),
        )
    })?;
    let allowed: &[&str] = match kind.as_str() {
        "memory" => &["kind"],
        "opfs" => &["kind", "path", "lockWaitMs"],
        "dir" => &["kind", "path"],
        "bucket" => &["kind", "bucket", "prefix"],
        "s3" => &[
            "kind",
            "bucket",
            "prefix",
            "endpoint",
            "region",
            "accessKeyId",
            "secretAccessKey",
            "sessionToken",
            "kmsKey",
            "signPayload",
            "checksum",
            "versioned",
            "s3Express",
            "pathStyle",
            "maxRetries",
        ],
        _ => &[],
    };
    if !allowed.is_empty() {
        super::value::refuse_unknown(storage, allowed, &|k, list| {
            format!("unknown option 'storage.{k}' for kind \"{kind}\"; it takes {list}")
        })?;
    }
    Ok(match kind.as_str() {
        "memory" => Choice::Memory,
        "opfs" => {
            let wait = prop(storage, "lockWaitMs")?;
            let wait = if wait.is_undefined() {
                0
            } else {
                wait.as_f64()
                    .filter(|n| (0.0..=3_600_000.0).contains(n) && n.fract() == 0.0)
                    .ok_or_else(|| {
                        Error::InvalidArgument(
                            "storage.lockWaitMs must be an integer of milliseconds from 0 to \
                             3600000"
                                .into(),
                        )
                    })? as u32
            };
            Choice::Opfs(string(storage, "path")?, wait)
        }
        "dir" => {
            if string(storage, "path")?.is_empty() {
                return Err(Error::InvalidArgument(
                    "storage.path must name a directory for kind \"dir\"".into(),
                ));
            }
            Choice::Dir(dir_fs(storage))
        }
        "bucket" => {
            let bucket = prop(storage, "bucket")?;
            let prefix = opt_string(storage, "prefix")?.unwrap_or_default();
            Choice::Store(Arc::new(JsBucket::new(bucket, &prefix)?))
        }
        "s3" => {
            let creds = AwsCreds {
                access_key: string(storage, "accessKeyId")?,
                secret_key: string(storage, "secretAccessKey")?,
                session_token: opt_string(storage, "sessionToken")?,
            };
            let mut spec = S3Spec::new(string(storage, "bucket")?, creds);
            spec.prefix = opt_string(storage, "prefix")?.unwrap_or_default();
            spec.endpoint = opt_string(storage, "endpoint")?;
            if let Some(r) = opt_string(storage, "region")? {
                spec.region = r;
            }
            spec.kms_key = opt_string(storage, "kmsKey")?;
            spec.sign_payload = flag(storage, "signPayload")?.unwrap_or(false);
            spec.checksum = flag(storage, "checksum")?.unwrap_or(false);
            spec.versioned = flag(storage, "versioned")?.unwrap_or(false);
            spec.s3_express = flag(storage, "s3Express")?.unwrap_or(false);
            spec.path_style = flag(storage, "pathStyle")?;
            let retries = prop(storage, "maxRetries")?;
            if let Some(n) = retries.as_f64() {
                if !(0.0..=20.0).contains(&n) || n.fract() != 0.0 {
                    return Err(Error::InvalidArgument(
                        "storage.maxRetries must be an integer from 0 to 20".into(),
                    ));
                }
                spec.max_retries = n as u32;
            } else if !retries.is_undefined() {
                return Err(Error::InvalidArgument(
                    "storage.maxRetries must be a number".into(),
                ));
            }
            Choice::Store(Arc::new(S3Storage::new(spec)?))
        }
        other => {
            return Err(Error::InvalidArgument(format!(
                "storage kind '{other}' is not supported; use \"memory\", \"dir\", \"opfs\", \"bucket\" or \"s3\""
            )));
        }
    })
}
