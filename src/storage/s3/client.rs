//! The client's configuration (credentials and where the bucket is) and its construction:
//! validating the spec, since the bucket and region end up in the host name, and deriving the
//! origin, host and base path every request is sent to.

use std::sync::Arc;

use super::http::{DefaultHttp, HttpClient};
use super::sigv4::uri_encode;
use crate::error::{Error, Result};
use crate::runtime::{Clock, SystemClock};

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

/// A [`Storage`](crate::storage::Storage) on an S3-compatible bucket.
#[derive(Debug, Clone)]
pub struct S3Storage {
    pub(super) spec: Arc<S3Spec>,
    pub(super) http: Arc<dyn HttpClient>,
    pub(super) clock: Arc<dyn Clock>,
    /// `scheme://host[:port]` and the path prefix every key is appended to.
    pub(super) origin: String,
    pub(super) host: String,
    pub(super) base_path: String,
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

    pub(super) fn key(&self, path: &str) -> String {
        if self.spec.prefix.is_empty() {
            path.to_owned()
        } else {
            format!("{}/{path}", self.spec.prefix)
        }
    }
}
