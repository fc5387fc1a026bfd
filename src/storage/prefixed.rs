//! A storage seen through a key prefix: `object_store_with_fs(store, "tables/a")` keeps a table
//! under one directory or bucket prefix of a shared store.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use super::{BoxFuture, ObjectMeta, PutMode, Storage};
use crate::error::Result;

/// `inner` with every path under `prefix/`.
#[derive(Debug, Clone)]
pub struct Prefixed {
    inner: Arc<dyn Storage>,
    prefix: String,
}

impl Prefixed {
    /// Paths become `{prefix}/{path}` in `inner` (an empty prefix changes nothing).
    pub fn new(inner: Arc<dyn Storage>, prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/');
        Self {
            inner,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        }
    }

    fn full(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    fn strip(&self, mut m: ObjectMeta) -> ObjectMeta {
        if let Some(p) = m.path.strip_prefix(&self.prefix) {
            m.path = p.to_owned();
        }
        m
    }
}

impl Storage for Prefixed {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move { self.inner.get(&self.full(path)).await })
    }
    fn get_object<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<(Bytes, ObjectMeta)>> {
        Box::pin(async move {
            let (b, m) = self.inner.get_object(&self.full(path)).await?;
            Ok((b, self.strip(m)))
        })
    }
    fn get_range<'a>(&'a self, path: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move { self.inner.get_range(&self.full(path), range).await })
    }
    fn put<'a>(
        &'a self,
        path: &'a str,
        data: Bytes,
        mode: PutMode,
    ) -> BoxFuture<'a, Result<ObjectMeta>> {
        Box::pin(async move { Ok(self.strip(self.inner.put(&self.full(path), data, mode).await?)) })
    }
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move {
            let all = self.inner.list(&self.full(prefix)).await?;
            Ok(all.into_iter().map(|m| self.strip(m)).collect())
        })
    }
    fn delete<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.inner.delete(&self.full(path)).await })
    }
    fn head<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>>> {
        Box::pin(async move {
            Ok(self
                .inner
                .head(&self.full(path))
                .await?
                .map(|m| self.strip(m)))
        })
    }
    fn supports_append(&self) -> bool {
        self.inner.supports_append()
    }
    fn conditional_writes_native(&self) -> bool {
        self.inner.conditional_writes_native()
    }
    fn append<'a>(&'a self, path: &'a str, data: Bytes) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move { self.inner.append(&self.full(path), data).await })
    }
    fn sync<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.inner.sync(&self.full(path)).await })
    }
    fn close(&self) -> BoxFuture<'_, Result<()>> {
        self.inner.close()
    }
}
