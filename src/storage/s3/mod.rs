//! S3 over HTTP (AWS S3, R2's S3 API, MinIO, moto): SigV4 signing with session tokens, custom
//! endpoints and regions, path-style or virtual-hosted addressing, ranged GETs, conditional
//! PUTs (`If-None-Match: *`, `If-Match`), retries with backoff and jitter on 5xx/429/network
//! failures (never on a conflict), multipart upload for large objects, SSE-KMS and CRC32C
//! checksums. The same code runs in the browser, in workerd and natively; only the transport
//! differs ([`http`]). Credentials never appear in errors.

mod client;
pub mod http;
mod put;
mod request;
mod response;
mod sigv4;
mod store;
mod xml;

pub use client::{AwsCreds, S3Spec, S3Storage};
pub use put::{MULTIPART_THRESHOLD, PART_BYTES};
pub(crate) use xml::list_page;

#[cfg(test)]
mod tests;
