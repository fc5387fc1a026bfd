//! S3 over HTTP (AWS S3, R2's S3 API, MinIO, moto): SigV4 signing with session tokens, custom
//! endpoints and regions, path-style or virtual-hosted addressing, ranged GETs, conditional
//! PUTs (`If-None-Match: *`, `If-Match`), retries with backoff and jitter on 5xx/429/network
//! failures (never on a conflict), multipart upload for large objects, SSE-KMS and CRC32C
//! checksums. The same code runs in the browser, in workerd and natively; only the transport
//! differs ([`http`]). Credentials never appear in errors.

pub mod http;
mod sigv4;

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use super::{BoxFuture, ObjectMeta, PutMode, Storage};
use crate::error::{Error, Result};
use crate::options::{Clock, SystemClock};
use http::{DefaultHttp, HttpClient, HttpRequest, HttpResponse};
use sigv4::{EMPTY_SHA256, Request, Signer, amz_date, sha256_hex, uri_encode};

/// AWS credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AwsCreds {
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// Session token (temporary credentials).
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsCreds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets, even in debug output.
        f.debug_struct("AwsCreds")
            .field("access_key", &"<redacted>")
            .field("secret_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl AwsCreds {
    /// Reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and (optional) `AWS_SESSION_TOKEN`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_env() -> Result<Self> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| {
                Error::InvalidArgument(format!("environment variable {name} is not set"))
            })
        };
        Ok(Self {
            access_key: var("AWS_ACCESS_KEY_ID")?,
            secret_key: var("AWS_SECRET_ACCESS_KEY")?,
            session_token: std::env::var("AWS_SESSION_TOKEN").ok(),
        })
    }
}

/// Where and how to reach a bucket.
#[derive(Debug, Clone)]
pub struct S3Spec {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix of the database root inside the bucket ("" for the bucket root).
    pub prefix: String,
    /// Credentials.
    pub credentials: AwsCreds,
    /// Endpoint URL such as `http://127.0.0.1:9000` (MinIO, moto, R2); `None` for AWS.
    pub endpoint: Option<String>,
    /// Region (default `us-east-1`; R2 uses `auto`).
    pub region: String,
    /// A KMS key id: objects are written with SSE-KMS under it.
    pub kms_key: Option<String>,
    /// Hash the payload into the signature (default: `UNSIGNED-PAYLOAD`, cheaper for big SSTs).
    pub sign_payload: bool,
    /// Send a CRC32C checksum with every PUT, verified by the server.
    pub checksum: bool,
    /// The bucket has versioning on (informational: conditional writes work the same).
    pub versioned: bool,
    /// S3 Express One Zone directory bucket: virtual-hosted zonal endpoint addressing.
    pub s3_express: bool,
    /// Address as `{endpoint}/{bucket}/{key}` (default when an endpoint is set) instead of
    /// `{bucket}.{host}/{key}`.
    pub path_style: Option<bool>,
    /// Retries of a failed request (5xx, 429, network) before giving up (default 4).
    pub max_retries: u32,
}

impl S3Spec {
    /// A spec for `bucket` with default settings.
    pub fn new(bucket: impl Into<String>, credentials: AwsCreds) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: String::new(),
            credentials,
            endpoint: None,
            region: "us-east-1".into(),
            kms_key: None,
            sign_payload: false,
            checksum: false,
            versioned: false,
            s3_express: false,
            path_style: None,
            max_retries: 4,
        }
    }
}

/// Objects above this size go up in parts.
pub const MULTIPART_THRESHOLD: usize = 16 << 20;
/// Part size of a multipart upload.
pub const PART_BYTES: usize = 8 << 20;

/// A [`Storage`] on an S3-compatible bucket.
#[derive(Debug, Clone)]
pub struct S3Storage {
    spec: Arc<S3Spec>,
    http: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
    /// `scheme://host[:port]` and the path prefix every key is appended to.
    origin: String,
    host: String,
    base_path: String,
}

/// An S3 bucket name as AWS, R2, MinIO and S3 Express accept it (legacy names allowed upper
/// case and `_`).
fn valid_bucket(name: &str) -> bool {
    let edge = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    (1..=255).contains(&name.len())
        && edge(name.bytes().next())
        && edge(name.bytes().last())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// `host[:port]`: a DNS name or IPv4 address, or an IPv6 address in brackets; no user info,
/// path, query or fragment.
fn valid_authority(authority: &str) -> bool {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty()
            || !v6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("v6", port),
                None => return false,
            },
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, p),
            None => (authority, "0"),
        }
    };
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        && !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
}

fn bad_spec(why: String) -> Error {
    Error::InvalidArgument(format!("S3 spec: {why}"))
}

impl S3Storage {
    /// A client for `spec` using the platform's HTTP transport and clock.
    pub fn new(spec: S3Spec) -> Result<Self> {
        Self::with_http(spec, Arc::new(DefaultHttp::new()), Arc::new(SystemClock))
    }

    /// A client sending through `http` (a test proxy, a fault injector) with `clock`.
    pub fn with_http(
        spec: S3Spec,
        http: Arc<dyn HttpClient>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        // The bucket and region become part of the host name: a character like `#`, `@` or
        // `/` there would send signed requests (and the session token) to another host.
        if !valid_bucket(&spec.bucket) {
            return Err(bad_spec(format!(
                "bucket name '{}' is not valid: use 1 to 255 letters, digits, '.', '-' or '_', \
                 starting and ending with a letter or digit",
                spec.bucket.escape_debug()
            )));
        }
        if !spec
            .region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(bad_spec(format!(
                "region '{}' is not valid: use letters, digits and '-' (such as us-east-1, or \
                 auto for R2)",
                spec.region.escape_debug()
            )));
        }
        if spec.credentials.access_key.is_empty() || spec.credentials.secret_key.is_empty() {
            return Err(bad_spec(
                "credentials are missing (access key and secret key)".into(),
            ));
        }
        let region = if spec.region.is_empty() {
            "us-east-1".to_owned()
        } else {
            spec.region.clone()
        };
        let (scheme, authority) = match &spec.endpoint {
            Some(e) => {
                let (scheme, rest) = e
                    .split_once("://")
                    .ok_or_else(|| bad_spec(format!("endpoint '{e}' needs http:// or https://")))?;
                if scheme != "http" && scheme != "https" {
                    return Err(bad_spec(format!(
                        "endpoint scheme '{scheme}' is not http(s)"
                    )));
                }
                (scheme.to_owned(), rest.trim_end_matches('/').to_owned())
            }
            None if spec.s3_express => {
                ("https".into(), format!("s3express-{region}.amazonaws.com"))
            }
            None => ("https".into(), format!("s3.{region}.amazonaws.com")),
        };
        if !valid_authority(&authority) {
            return Err(bad_spec(format!(
                "endpoint host '{authority}' is not a host[:port]"
            )));
        }
        let path_style = spec
            .path_style
            .unwrap_or(spec.endpoint.is_some() && !spec.s3_express);
        let (host, base_path) = if path_style {
            (
                authority.clone(),
                format!("/{}", uri_encode(&spec.bucket, false)),
            )
        } else {
            (format!("{}.{authority}", spec.bucket), String::new())
        };
        let mut spec = spec;
        spec.region = region;
        spec.prefix = spec.prefix.trim_matches('/').to_owned();
        Ok(Self {
            origin: format!("{scheme}://{host}"),
            host,
            base_path,
            spec: Arc::new(spec),
            http,
            clock,
        })
    }

    fn key(&self, path: &str) -> String {
        if self.spec.prefix.is_empty() {
            path.to_owned()
        } else {
            format!("{}/{path}", self.spec.prefix)
        }
    }

    /// Signs and sends one request, retrying transient failures with backoff.
    async fn send(
        &self,
        method: &'static str,
        key: Option<&str>,
        query: Vec<(String, String)>,
        headers: Vec<(String, String)>,
        body: Bytes,
    ) -> Result<HttpResponse> {
        Ok(self
            .send_counted(method, key, query, headers, body)
            .await?
            .0)
    }

    /// [`S3Storage::send`], also saying whether the request was sent more than once (an
    /// earlier attempt may have taken effect although its reply was lost).
    async fn send_counted(
        &self,
        method: &'static str,
        key: Option<&str>,
        query: Vec<(String, String)>,
        mut headers: Vec<(String, String)>,
        body: Bytes,
    ) -> Result<(HttpResponse, bool)> {
        let path = match key {
            Some(k) => format!("{}/{}", self.base_path, uri_encode(k, true)),
            None if self.base_path.is_empty() => "/".to_owned(),
            None => self.base_path.clone(),
        };
        let payload_hash = if self.spec.sign_payload {
            sha256_hex(&body)
        } else if body.is_empty() {
            EMPTY_SHA256.to_owned()
        } else {
            "UNSIGNED-PAYLOAD".to_owned()
        };
        headers.push(("x-amz-content-sha256".into(), payload_hash.clone()));
        if let Some(t) = &self.spec.credentials.session_token {
            headers.push(("x-amz-security-token".into(), t.clone()));
        }
        let qs = query
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    uri_encode(k, false)
                } else {
                    format!("{}={}", uri_encode(k, false), uri_encode(v, false))
                }
            })
            .collect::<Vec<_>>()
            .join("&");
        let url = if qs.is_empty() {
            format!("{}{path}", self.origin)
        } else {
            format!("{}{path}?{qs}", self.origin)
        };
        let signer = Signer {
            access_key: &self.spec.credentials.access_key,
            secret_key: &self.spec.credentials.secret_key,
            region: &self.spec.region,
            service: if self.spec.s3_express {
                "s3express"
            } else {
                "s3"
            },
        };
        let mut attempt = 0u32;
        loop {
            let date = amz_date(self.clock.now_millis());
            let mut h = headers.clone();
            h.push(("x-amz-date".into(), date.clone()));
            let auth = signer.authorization(
                &Request {
                    method,
                    host: &self.host,
                    path: &path,
                    query: &query,
                    headers: &h,
                    payload_hash: &payload_hash,
                },
                &date,
            );
            h.push(("authorization".into(), auth));
            let outcome = self
                .http
                .send(HttpRequest {
                    method,
                    url: url.clone(),
                    headers: h,
                    body: body.clone(),
                })
                .await;
            let retryable = match &outcome {
                Ok(r) => matches!(r.status, 500..=599 | 429 | 408),
                Err(_) => true,
            };
            if !retryable || attempt >= self.spec.max_retries {
                return outcome.map(|r| (r, attempt > 0));
            }
            let cap = (100u64 << attempt.min(5)).min(2_000);
            let jitter = crate::codec::random_u64().unwrap_or(0) % (cap / 2 + 1);
            self.clock.sleep(cap / 2 + jitter).await;
            attempt += 1;
        }
    }

    /// Maps a non-success response to a typed error (never including credentials).
    fn fail(&self, method: &str, key: &str, r: &HttpResponse) -> Error {
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
                status: Some(r.status),
                retryable: false,
            }),
            408 | 429 | 500..=599 => Error::transient(what, Some(r.status)),
            _ => Error::Storage(crate::error::StorageError {
                message: what,
                status: Some(r.status),
                retryable: false,
            }),
        }
    }

    /// What a response says about the object. An ETag is required: without it a later
    /// compare-and-swap could not name the version it read.
    fn meta(&self, path: &str, r: &HttpResponse, size: u64) -> Result<ObjectMeta> {
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

    fn put_headers(&self, data: &[u8], mode: &PutMode) -> Result<Vec<(String, String)>> {
        if matches!(mode, PutMode::IfMatch(e) if e.is_empty()) {
            return Err(Error::Internal(
                "a compare-and-swap without an etag would be a blind write".into(),
            ));
        }
        let mut h = Vec::new();
        match mode {
            PutMode::Overwrite => {}
            PutMode::CreateNew => h.push(("if-none-match".into(), "*".into())),
            PutMode::IfMatch(etag) => h.push(("if-match".into(), etag.clone())),
        }
        if let Some(k) = &self.spec.kms_key {
            h.push(("x-amz-server-side-encryption".into(), "aws:kms".into()));
            h.push((
                "x-amz-server-side-encryption-aws-kms-key-id".into(),
                k.clone(),
            ));
        }
        if self.spec.checksum {
            h.push((
                "x-amz-checksum-crc32c".into(),
                base64(&crc32c::crc32c(data).to_be_bytes()),
            ));
        }
        Ok(h)
    }

    async fn put_multipart(&self, path: &str, data: Bytes, mode: PutMode) -> Result<ObjectMeta> {
        let key = self.key(path);
        let mut init_headers = Vec::new();
        if self.spec.checksum {
            init_headers.push(("x-amz-checksum-algorithm".into(), "CRC32C".into()));
        }
        if let Some(k) = &self.spec.kms_key {
            init_headers.push(("x-amz-server-side-encryption".into(), "aws:kms".into()));
            init_headers.push((
                "x-amz-server-side-encryption-aws-kms-key-id".into(),
                k.clone(),
            ));
        }
        let r = self
            .send(
                "POST",
                Some(&key),
                vec![("uploads".into(), String::new())],
                init_headers,
                Bytes::new(),
            )
            .await?;
        if r.status != 200 {
            return Err(self.fail("POST (create multipart upload)", &key, &r));
        }
        let upload = xml_tag(&r.body, "UploadId").ok_or_else(|| {
            Error::storage(format!("s3://{}/{key}: no UploadId", self.spec.bucket))
        })?;
        let mut parts = String::new();
        let result = async {
            for (i, chunk) in data.chunks(PART_BYTES).enumerate() {
                let n = (i + 1).to_string();
                let body = data.slice_ref(chunk);
                let mut h = Vec::new();
                let part_sum = base64(&crc32c::crc32c(chunk).to_be_bytes());
                if self.spec.checksum {
                    h.push(("x-amz-checksum-crc32c".into(), part_sum.clone()));
                }
                let q = vec![
                    ("partNumber".into(), n.clone()),
                    ("uploadId".into(), upload.clone()),
                ];
                let r = self.send("PUT", Some(&key), q, h, body).await?;
                if r.status != 200 {
                    return Err(self.fail("PUT (upload part)", &key, &r));
                }
                let etag = r.header("etag").unwrap_or_default();
                parts.push_str(&format!(
                    "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag></Part>",
                    xml_escape(etag)
                ));
            }
            let body = format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>");
            let mut h = self.put_headers(&[], &mode)?;
            h.retain(|(k, _)| k.starts_with("if-"));
            let q = vec![("uploadId".into(), upload.clone())];
            let r = self
                .send("POST", Some(&key), q, h, Bytes::from(body))
                .await?;
            // S3 can report a failed completion inside a 200 response.
            if r.status != 200 || xml_tag(&r.body, "Code").is_some() {
                return Err(self.fail("POST (complete multipart upload)", &key, &r));
            }
            // The completed object's ETag is in the body, not a header.
            let etag = xml_tag(&r.body, "ETag")
                .filter(|e| !e.is_empty())
                .ok_or_else(|| {
                    Error::storage(format!(
                        "s3://{}/{key}: no ETag after completing the upload",
                        self.spec.bucket
                    ))
                })?;
            Ok(ObjectMeta {
                path: path.to_owned(),
                size: data.len() as u64,
                etag,
            })
        }
        .await;
        if result.is_err() {
            // Best effort: an abandoned upload only costs storage until the bucket's
            // lifecycle rule removes it.
            let q = vec![("uploadId".into(), upload)];
            let _ = self
                .send("DELETE", Some(&key), q, Vec::new(), Bytes::new())
                .await;
        }
        result
    }
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = ((n >> (18 - 6 * i)) & 63) as usize;
                out.push(T.get(idx).map_or('A', |&c| char::from(c)));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn xml_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(rest.get(..i).unwrap_or(""));
        let tail = rest.get(i..).unwrap_or("");
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = tail.get(1..end).unwrap_or("");
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(e.get(2..).unwrap_or(""), 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e
                .get(1..)
                .and_then(|d| d.parse().ok())
                .and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => out.push(c),
            None => out.push_str(tail.get(..=end).unwrap_or("")),
        }
        rest = tail.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// One page of a ListObjectsV2 answer: the objects (paths with the first `strip` bytes of the
/// key removed) and the continuation token when the listing goes on. The body comes from the
/// network: anything malformed is an error or an empty field, never a panic.
pub(crate) fn list_page(body: &[u8], strip: usize) -> Result<(Vec<ObjectMeta>, Option<String>)> {
    let body =
        std::str::from_utf8(body).map_err(|_| Error::storage("LIST: the response is not UTF-8"))?;
    let mut out = Vec::new();
    for item in xml_tags(body, "Contents") {
        let first = |tag: &str| xml_tags(&item, tag).into_iter().next();
        let key = first("Key").unwrap_or_default();
        let size = first("Size").and_then(|s| s.parse().ok()).unwrap_or(0);
        let etag = first("ETag").unwrap_or_default();
        if let Some(path) = key.get(strip..) {
            out.push(ObjectMeta {
                path: path.to_owned(),
                size,
                etag,
            });
        }
    }
    let truncated = xml_tags(body, "IsTruncated").first().map(String::as_str) == Some("true");
    let token = xml_tags(body, "NextContinuationToken").into_iter().next();
    Ok((out, token.filter(|_| truncated)))
}

/// The text of the first `<tag>` element in an XML body.
fn xml_tag(body: &[u8], tag: &str) -> Option<String> {
    let s = std::str::from_utf8(body).ok()?;
    xml_tags(s, tag).into_iter().next()
}

/// The text of every `<tag>` element, in order (S3's responses have no nesting of a tag in
/// itself, so a flat search is exact).
fn xml_tags(s: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(&open) {
        let after = rest.get(i + open.len()..).unwrap_or("");
        let Some(j) = after.find(&close) else { break };
        out.push(xml_unescape(after.get(..j).unwrap_or("")));
        rest = after.get(j + close.len()..).unwrap_or("");
    }
    out
}

impl Storage for S3Storage {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move { Ok(self.get_object(path).await?.0) })
    }

    fn get_object<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<(Bytes, ObjectMeta)>> {
        Box::pin(async move {
            let key = self.key(path);
            let r = self
                .send("GET", Some(&key), Vec::new(), Vec::new(), Bytes::new())
                .await?;
            if r.status != 200 {
                return Err(self.fail("GET", &key, &r));
            }
            let meta = self.meta(path, &r, r.body.len() as u64)?;
            Ok((r.body, meta))
        })
    }

    fn get_range<'a>(&'a self, path: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            if range.start >= range.end {
                return Ok(Bytes::new());
            }
            let key = self.key(path);
            let h = vec![(
                "range".into(),
                format!("bytes={}-{}", range.start, range.end - 1),
            )];
            let r = self
                .send("GET", Some(&key), Vec::new(), h, Bytes::new())
                .await?;
            match r.status {
                206 => Ok(r.body),
                // A server that ignores Range sends everything: cut it here.
                200 => {
                    let len = r.body.len() as u64;
                    let c = super::clamp(range, len);
                    Ok(r.body.slice(c.start as usize..c.end as usize))
                }
                416 => Ok(Bytes::new()),
                _ => Err(self.fail("GET (range)", &key, &r)),
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
            if data.len() > MULTIPART_THRESHOLD {
                return self.put_multipart(path, data, mode).await;
            }
            let key = self.key(path);
            let h = self.put_headers(&data, &mode)?;
            let len = data.len() as u64;
            let (r, retried) = self
                .send_counted("PUT", Some(&key), Vec::new(), h, data.clone())
                .await?;
            if retried && matches!(r.status, 409 | 412) && mode == PutMode::CreateNew {
                // An earlier attempt may have created it before its reply was lost: if the
                // stored bytes are ours, the create succeeded.
                if let Ok((stored, meta)) = self.get_object(path).await
                    && stored == data
                {
                    return Ok(meta);
                }
            }
            if r.status == 404 && matches!(mode, PutMode::IfMatch(_)) {
                // The object to swap is gone: the compare-and-swap lost.
                return Err(Error::Conflict(format!(
                    "PUT s3://{}/{key}: the object changed (it no longer exists)",
                    self.spec.bucket
                )));
            }
            if r.status != 200 {
                return Err(self.fail("PUT", &key, &r));
            }
            self.meta(path, &r, len)
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move {
            let full = self.key(prefix);
            let strip = if self.spec.prefix.is_empty() {
                0
            } else {
                self.spec.prefix.len() + 1
            };
            let mut out = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut q = vec![
                    ("list-type".to_owned(), "2".to_owned()),
                    ("prefix".to_owned(), full.clone()),
                ];
                if let Some(t) = &token {
                    q.push(("continuation-token".into(), t.clone()));
                }
                let r = self.send("GET", None, q, Vec::new(), Bytes::new()).await?;
                if r.status != 200 {
                    return Err(self.fail("LIST", &full, &r));
                }
                let (page, next) = list_page(&r.body, strip)?;
                out.extend(page);
                token = next;
                if token.is_none() {
                    break;
                }
            }
            out.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(out)
        })
    }

    fn delete<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let key = self.key(path);
            let r = self
                .send("DELETE", Some(&key), Vec::new(), Vec::new(), Bytes::new())
                .await?;
            match r.status {
                200 | 204 | 404 => Ok(()),
                _ => Err(self.fail("DELETE", &key, &r)),
            }
        })
    }

    fn head<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>>> {
        Box::pin(async move {
            let key = self.key(path);
            let r = self
                .send("HEAD", Some(&key), Vec::new(), Vec::new(), Bytes::new())
                .await?;
            match r.status {
                200 if r.header("etag").is_some() => {
                    let size = r
                        .header("content-length")
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    Ok(Some(self.meta(path, &r, size)?))
                }
                // A browser hides headers a CORS policy does not expose on HEAD (moto does
                // not): ask for one byte instead, whose response carries the etag and size.
                200 => {
                    let h = vec![("range".into(), "bytes=0-0".into())];
                    let g = self
                        .send("GET", Some(&key), Vec::new(), h, Bytes::new())
                        .await?;
                    match g.status {
                        206 => {
                            let size = g
                                .header("content-range")
                                .and_then(|c| c.rsplit('/').next())
                                .and_then(|s| s.parse().ok())
                                .unwrap_or(0);
                            Ok(Some(self.meta(path, &g, size)?))
                        }
                        200 => Ok(Some(self.meta(path, &g, g.body.len() as u64)?)),
                        404 => Ok(None),
                        // An empty object has no byte 0.
                        416 => Ok(Some(self.get_object(path).await?.1)),
                        _ => Err(self.fail("GET (head)", &key, &g)),
                    }
                }
                404 => Ok(None),
                _ => Err(self.fail("HEAD", &key, &r)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_and_base64_helpers() {
        let body = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a&amp;b</Key>\
                    <Size>3</Size><ETag>&quot;x&quot;</ETag></Contents></ListBucketResult>";
        let items = xml_tags(body, "Contents");
        assert_eq!(items.len(), 1);
        assert_eq!(xml_tags(&items[0], "Key"), ["a&b"]);
        assert_eq!(xml_tags(&items[0], "ETag"), ["\"x\""]);
        assert_eq!(xml_unescape("&#65;&#x42;&bogus;"), "AB&bogus;");
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64(&[0, 0, 0, 0]), "AAAAAA==");
    }

    #[test]
    fn specs_are_validated_and_secrets_never_print() {
        let creds = AwsCreds {
            access_key: "AKIDSECRETID".into(),
            secret_key: "TOPSECRET".into(),
            session_token: Some("TOKEN".into()),
        };
        let debug = format!("{:?}", S3Spec::new("b", creds.clone()));
        assert!(
            !debug.contains("TOPSECRET")
                && !debug.contains("AKIDSECRETID")
                && !debug.contains("TOKEN")
        );
        // Names that would move the request to another host are refused.
        for bucket in [
            "x.attacker.example#",
            "x@evil",
            "a/b",
            "a?b",
            "a b",
            "-a",
            "a.",
            "",
            "caf\u{e9}",
        ] {
            let err = S3Storage::new(S3Spec::new(bucket, creds.clone())).unwrap_err();
            assert_eq!(err.code(), crate::ErrorCode::InvalidArgument, "{bucket:?}");
        }
        for ok in [
            "my-bucket",
            "a",
            "logs.2026",
            "Legacy_Bucket1",
            "b--use1-az4--x-s3",
        ] {
            assert!(
                S3Storage::new(S3Spec::new(ok, creds.clone())).is_ok(),
                "{ok}"
            );
        }
        for endpoint in [
            "http://user@evil.example",
            "http://evil.example#@good",
            "http://h:99999999",
            "http://h:",
            "http://[::1",
            "http://h/x",
            "https://good?x=evil.example",
        ] {
            let mut s = S3Spec::new("b", creds.clone());
            s.endpoint = Some(endpoint.into());
            let err = S3Storage::new(s).unwrap_err();
            assert_eq!(err.code(), crate::ErrorCode::InvalidArgument, "{endpoint}");
        }
        for endpoint in [
            "http://127.0.0.1:9000",
            "https://r2.example.com/",
            "http://[::1]:5000",
        ] {
            let mut s = S3Spec::new("b", creds.clone());
            s.endpoint = Some(endpoint.into());
            assert!(S3Storage::new(s).is_ok(), "{endpoint}");
        }
        let mut s = S3Spec::new("b", creds.clone());
        s.region = "us-east-1.evil.example/#".into();
        assert!(S3Storage::new(s).is_err());
        let mut bad = S3Spec::new("b", creds.clone());
        bad.endpoint = Some("127.0.0.1:9000".into());
        assert_eq!(
            S3Storage::new(bad).unwrap_err().code(),
            crate::ErrorCode::InvalidArgument
        );
        assert!(S3Storage::new(S3Spec::new("", creds.clone())).is_err());
        assert!(S3Storage::new(S3Spec::new("b", AwsCreds::default())).is_err());
        let s = S3Storage::new(S3Spec::new("b", creds)).unwrap();
        assert_eq!(s.origin, "https://b.s3.us-east-1.amazonaws.com");
    }
}
