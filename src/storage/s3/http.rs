//! The HTTP transport under the S3 client: `fetch` in wasm (browser, worker, workerd), a
//! blocking `ureq` agent natively. Both return the status, headers and body of any response;
//! only a failure to get a response at all is an error.

use bytes::Bytes;

#[cfg(not(target_arch = "wasm32"))]
use crate::error::Error;
use crate::error::Result;
use crate::storage::BoxFuture;

/// A request to send. Its `Debug` form hides the signature and session token.
#[derive(Clone)]
pub struct HttpRequest {
    /// `GET`, `PUT`, ...
    pub method: &'static str,
    /// The full URL.
    pub url: String,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body (empty for none).
    pub body: Bytes,
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let secret = k == "authorization" || k == "x-amz-security-token";
                (k.as_str(), if secret { "<redacted>" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &redact(&self.url))
            .field("headers", &headers)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// A response of any status.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl HttpResponse {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends HTTP requests. Implement it to route S3 traffic elsewhere (a test proxy, a binding).
pub trait HttpClient: std::fmt::Debug + crate::storage::MaybeSendSync {
    /// Sends `req`; an error means no response arrived (network failure, timeout).
    fn send(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse>>;
}

/// The platform's client.
#[derive(Debug, Default, Clone)]
pub struct DefaultHttp {
    #[cfg(not(target_arch = "wasm32"))]
    agent: Option<ureq::Agent>,
}

impl DefaultHttp {
    /// A client with the platform defaults (30 s timeout natively).
    pub fn new() -> Self {
        Self {
            #[cfg(not(target_arch = "wasm32"))]
            agent: Some(
                ureq::AgentBuilder::new()
                    .timeout(std::time::Duration::from_secs(30))
                    .build(),
            ),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl HttpClient for DefaultHttp {
    fn send(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse>> {
        Box::pin(async move {
            let agent = self.agent.clone().unwrap_or_else(ureq::agent);
            let mut r = agent.request(req.method, &req.url);
            for (k, v) in &req.headers {
                r = r.set(k, v);
            }
            // Blocking: native callers run Anax on their own thread; wasm uses fetch.
            let result = if req.body.is_empty() && req.method != "PUT" && req.method != "POST" {
                r.call()
            } else {
                r.send_bytes(&req.body)
            };
            let resp = match result {
                Ok(resp) => resp,
                Err(ureq::Error::Status(_, resp)) => resp,
                Err(ureq::Error::Transport(t)) => {
                    return Err(Error::transient(
                        format!(
                            "{} {}: no response ({})",
                            req.method,
                            redact(&req.url),
                            t.kind()
                        ),
                        None,
                    ));
                }
            };
            let status = resp.status();
            let headers = resp
                .headers_names()
                .into_iter()
                .filter_map(|k| {
                    resp.header(&k)
                        .map(|v| (k.to_ascii_lowercase(), v.to_owned()))
                })
                .collect();
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut resp.into_reader(), &mut body).map_err(|e| {
                Error::transient(
                    format!("{} {}: body cut off ({e})", req.method, redact(&req.url)),
                    None,
                )
            })?;
            Ok(HttpResponse {
                status,
                headers,
                body: Bytes::from(body),
            })
        })
    }
}

#[cfg(target_arch = "wasm32")]
impl HttpClient for DefaultHttp {
    fn send(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse>> {
        Box::pin(fetch::send(req))
    }
}

/// A URL without its query string (which may carry an upload id or a presigned signature).
pub(crate) fn redact(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

#[cfg(target_arch = "wasm32")]
mod fetch {
    use std::cell::Cell;

    use bytes::Bytes;
    use js_sys::{Promise, Uint8Array};
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{Headers, Request, RequestCache, RequestInit, Response};

    use super::{HttpRequest, HttpResponse, redact};
    use crate::error::{Error, Result};

    // The global `fetch`: web-sys types it per global scope (Window, WorkerGlobalScope), and
    // workerd's and Node's globals are neither.
    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(catch, js_name = fetch)]
        fn global_fetch(request: &Request) -> std::result::Result<Promise, JsValue>;
    }

    /// Per-request timeout.
    const TIMEOUT_MS: u32 = 30_000;

    thread_local! {
        /// workerd rejects `cache` in a RequestInit; learn that once.
        static CACHE_OPTION_WORKS: Cell<bool> = const { Cell::new(true) };
    }

    fn js_err(req: &HttpRequest, what: &str, e: &JsValue) -> Error {
        let detail = e
            .dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .unwrap_or_else(|| "unknown error".into());
        Error::transient(
            format!("{} {}: {what} ({detail})", req.method, redact(&req.url)),
            None,
        )
        .with_backend_code(crate::storage::js::exception_code(e))
        .with_cause(Some(crate::storage::js::keep_cause(e)))
    }

    fn request(req: &HttpRequest, with_cache: bool) -> std::result::Result<Request, JsValue> {
        let init = RequestInit::new();
        init.set_method(req.method);
        let headers = Headers::new()?;
        for (k, v) in &req.headers {
            headers.set(k, v)?;
        }
        init.set_headers(&headers);
        if !req.body.is_empty() {
            init.set_body(&Uint8Array::from(req.body.as_ref()));
        }
        if with_cache {
            // Reads that decide a compare-and-swap must never come from an HTTP cache.
            init.set_cache(RequestCache::NoStore);
        }
        // A stalled connection becomes an error (then a retry), never a hang.
        if let Some(signal) = crate::storage::js::timeout_signal(TIMEOUT_MS) {
            init.set_signal(Some(&signal));
        }
        Request::new_with_str_and_init(&req.url, &init)
    }

    pub(super) async fn send(req: HttpRequest) -> Result<HttpResponse> {
        let with_cache = CACHE_OPTION_WORKS.with(Cell::get);
        let call = |with_cache: bool| request(&req, with_cache).and_then(|r| global_fetch(&r));
        let resp = match call(with_cache) {
            Ok(p) => JsFuture::from(p).await,
            Err(e) => Err(e),
        };
        let resp = match resp {
            Ok(r) => r,
            Err(e) if with_cache && format!("{e:?}").contains("cache") => {
                CACHE_OPTION_WORKS.with(|c| c.set(false));
                let p = call(false).map_err(|e| js_err(&req, "fetch threw", &e))?;
                JsFuture::from(p)
                    .await
                    .map_err(|e| js_err(&req, "no response", &e))?
            }
            Err(e) => return Err(js_err(&req, "no response", &e)),
        };
        let resp: Response = resp
            .dyn_into()
            .map_err(|e| js_err(&req, "fetch answered no Response", &e))?;
        let status = resp.status();
        let mut headers = Vec::new();
        let h = resp.headers();
        for name in ["etag", "content-range", "content-length", "last-modified"] {
            if let Ok(Some(v)) = h.get(name) {
                headers.push((name.to_owned(), v));
            }
        }
        let buffer = resp
            .array_buffer()
            .map_err(|e| js_err(&req, "no body", &e))?;
        let buffer = JsFuture::from(buffer)
            .await
            .map_err(|e| js_err(&req, "body cut off", &e))?;
        let body = Uint8Array::new(&buffer).to_vec();
        Ok(HttpResponse {
            status,
            headers,
            body: Bytes::from(body),
        })
    }
}
