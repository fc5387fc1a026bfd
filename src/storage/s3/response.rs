//! Reading a response: a failure as a typed error (never carrying credentials), a success as
//! the object's metadata.

use super::client::S3Storage;
use super::http::HttpResponse;
use super::xml::xml_tag;
use crate::error::{Error, Result};
use crate::storage::ObjectMeta;

impl S3Storage {
    /// Maps a non-success response to a typed error (never including credentials).
    pub(super) fn fail(&self, method: &str, key: &str, r: &HttpResponse) -> Error {
        let code = xml_tag(&r.body, "Code").unwrap_or_default();
        let what = format!(
            "{method} s3://{}/{key}: HTTP {} {code}",
            self.spec.bucket, r.status
        );
        match r.status {
            404 => Error::NotFound(key.to_owned()),
            409 | 412 => Error::Conflict(what),
            400 | 401 | 403 => Error::Storage(crate::error::StorageError {
                message: format!("{what}: check the bucket, region, endpoint and credentials"),
                operation: None,
                path: None,
                status: Some(r.status),
                retryable: false,
                code: None,
                cause: None,
            }),
            408 | 429 | 500..=599 => Error::transient(what, Some(r.status)),
            _ => Error::Storage(crate::error::StorageError {
                message: what,
                operation: None,
                path: None,
                status: Some(r.status),
                retryable: false,
                code: None,
                cause: None,
            }),
        }
        .with_backend_code(Some(code))
    }

    /// What a response says about the object. An ETag is required: without it a later
    /// compare-and-swap could not name the version it read.
    pub(super) fn meta(&self, path: &str, r: &HttpResponse, size: u64) -> Result<ObjectMeta> {
        let etag = r.header("etag").filter(|e| !e.is_empty()).ok_or_else(|| {
            Error::storage(format!(
                "s3://{}/{}: the response has no ETag header; if this runs in a browser, \
                 expose ETag in the bucket's CORS configuration",
                self.spec.bucket,
                self.key(path)
            ))
        })?;
        Ok(ObjectMeta {
            path: path.to_owned(),
            size,
            etag: etag.to_owned(),
        })
    }
}
