//! Sending one request: its URL and payload hash, SigV4 signing (with the session token), and
//! retries with backoff and jitter on 5xx, 429, 408 and network failures.

use bytes::Bytes;

use super::client::S3Storage;
use super::http::{HttpRequest, HttpResponse};
use super::sigv4::{EMPTY_SHA256, Request, Signer, amz_date, sha256_hex, uri_encode};
use crate::error::Result;

impl S3Storage {
    /// Signs and sends one request, retrying transient failures with backoff.
    pub(super) async fn send(
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
    pub(super) async fn send_counted(
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
}
