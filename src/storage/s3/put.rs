//! Writing objects: the headers of a conditional PUT (`If-None-Match: *`, `If-Match`), SSE-KMS
//! and CRC32C checksums, and multipart upload of objects above [`MULTIPART_THRESHOLD`].

use bytes::Bytes;

use super::client::S3Storage;
use super::xml::{xml_escape, xml_tag};
use crate::error::{Error, Result};
use crate::storage::{ObjectMeta, PutMode};

/// Objects above this size go up in parts.
pub const MULTIPART_THRESHOLD: usize = 16 << 20;
/// Part size of a multipart upload.
pub const PART_BYTES: usize = 8 << 20;

impl S3Storage {
    pub(super) fn put_headers(&self, data: &[u8], mode: &PutMode) -> Result<Vec<(String, String)>> {
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

    pub(super) async fn put_multipart(
        &self,
        path: &str,
        data: Bytes,
        mode: PutMode,
    ) -> Result<ObjectMeta> {
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

/// Standard base64 with padding, as S3's `x-amz-checksum-*` headers carry digests.
pub(super) fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
