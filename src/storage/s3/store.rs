//! [`Storage`] on S3: each operation as its requests, and which statuses mean success, absence
//! or a lost compare-and-swap.

use std::ops::Range;

use bytes::Bytes;

use super::client::S3Storage;
use super::list_page;
use super::put::MULTIPART_THRESHOLD;
use crate::error::{Error, Result};
use crate::storage::{BoxFuture, ObjectMeta, PutMode, Storage};

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
                    let c = crate::storage::clamp(range, len);
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
