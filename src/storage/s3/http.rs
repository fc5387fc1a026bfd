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
    use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;

    use super::{HttpRequest, HttpResponse, redact};
    use crate::error::{Error, Result};

    /// Per-request timeout.
    const TIMEOUT_MS: f64 = 30_000.0;

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

    fn init(req: &HttpRequest, with_cache: bool) -> Result<Object> {
        let set = |o: &Object, k: &str, v: &JsValue| {
            Reflect::set(o, &JsValue::from_str(k), v)
                .map(drop)
                .map_err(|e| js_err(req, "building the request failed", &e))
        };
        let init = Object::new();
        set(&init, "method", &JsValue::from_str(req.method))?;
        let headers = Object::new();
        for (k, v) in &req.headers {
            set(&headers, k, &JsValue::from_str(v))?;
        }
        set(&init, "headers", &headers)?;
        if !req.body.is_empty() {
            set(&init, "body", &Uint8Array::from(req.body.as_ref()).into())?;
        }
        if with_cache {
            // Reads that decide a compare-and-swap must never come from an HTTP cache.
            set(&init, "cache", &JsValue::from_str("no-store"))?;
        }
        // A stalled connection becomes an error (then a retry), never a hang.
        let abort = Reflect::get(&js_sys::global(), &JsValue::from_str("AbortSignal"))
            .unwrap_or(JsValue::UNDEFINED);
        if let Ok(timeout) = Reflect::get(&abort, &JsValue::from_str("timeout"))
            && let Ok(timeout) = timeout.dyn_into::<Function>()
            && let Ok(signal) = timeout.call1(&abort, &JsValue::from_f64(TIMEOUT_MS))
        {
            set(&init, "signal", &signal)?;
        }
        Ok(init)
    }

    pub(super) async fn send(req: HttpRequest) -> Result<HttpResponse> {
        let global = js_sys::global();
        let fetch: Function = Reflect::get(&global, &JsValue::from_str("fetch"))
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| Error::storage("this JS runtime has no fetch"))?;
        let with_cache = CACHE_OPTION_WORKS.with(Cell::get);
        let url = JsValue::from_str(&req.url);
        let call = |with_cache: bool| -> Result<Promise> {
            let init = init(&req, with_cache)?;
            fetch
                .call2(&global, &url, &init)
                .map_err(|e| js_err(&req, "fetch threw", &e))?
                .dyn_into::<Promise>()
                .map_err(|e| js_err(&req, "fetch returned no promise", &e))
        };
        let resp = match call(with_cache) {
            Ok(p) => JsFuture::from(p).await,
            Err(e) => Err(JsValue::from_str(&e.to_string())),
        };
        let resp = match resp {
            Ok(r) => r,
            Err(e) if with_cache && format!("{e:?}").contains("cache") => {
                CACHE_OPTION_WORKS.with(|c| c.set(false));
                JsFuture::from(call(false)?)
                    .await
                    .map_err(|e| js_err(&req, "no response", &e))?
            }
            Err(e) => return Err(js_err(&req, "no response", &e)),
        };
        let get = |o: &JsValue, k: &str| Reflect::get(o, &JsValue::from_str(k));
        let status = get(&resp, "status")
            .ok()
            .and_then(|s| s.as_f64())
            .unwrap_or(0.0) as u16;
        let mut headers = Vec::new();
        if let Ok(h) = get(&resp, "headers") {
            for name in ["etag", "content-range", "content-length", "last-modified"] {
                let value = get(&h, "get")
                    .ok()
                    .and_then(|f| f.dyn_into::<Function>().ok())
                    .and_then(|f| f.call1(&h, &JsValue::from_str(name)).ok())
                    .and_then(|v| v.as_string());
                if let Some(v) = value {
                    headers.push((name.to_owned(), v));
                }
            }
        }
        let buffer = get(&resp, "arrayBuffer")
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .and_then(|f| f.call0(&resp).ok())
            .and_then(|p| p.dyn_into::<Promise>().ok())
            .ok_or_else(|| {
                Error::transient(
                    format!("{} {}: no body", req.method, redact(&req.url)),
                    None,
                )
            })?;
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
