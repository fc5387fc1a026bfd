//! Volatile storage in process memory: the default for tests and the `in_memory` builder.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::{BoxFuture, ObjectMeta, PutMode, Storage, clamp};
use crate::error::{Error, Result};

/// A map from path to bytes, shared by clones (two handles on one clone share one "bucket").
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    objects: Arc<Mutex<BTreeMap<String, (Bytes, u64)>>>,
    versions: Arc<Mutex<u64>>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn objects(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, (Bytes, u64)>>> {
        self.objects
            .lock()
            .map_err(|_| Error::Internal("memory storage lock poisoned".into()))
    }

    fn next_version(&self) -> Result<u64> {
        let mut v = self
            .versions
            .lock()
            .map_err(|_| Error::Internal("memory storage lock poisoned".into()))?;
        *v += 1;
        Ok(*v)
    }
}

fn meta(path: &str, data: &Bytes, version: u64) -> ObjectMeta {
    ObjectMeta {
        path: path.to_owned(),
        size: data.len() as u64,
        etag: version.to_string(),
    }
}

impl Storage for MemoryStorage {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            self.objects()?
                .get(path)
                .map(|(b, _)| b.clone())
                .ok_or_else(|| Error::NotFound(path.to_owned()))
        })
    }

    fn get_range<'a>(&'a self, path: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            let objects = self.objects()?;
            let (b, _) = objects
                .get(path)
                .ok_or_else(|| Error::NotFound(path.to_owned()))?;
            let r = clamp(range, b.len() as u64);
            Ok(b.slice(r.start as usize..r.end as usize))
        })
    }

    fn put<'a>(
        &'a self,
        path: &'a str,
        data: Bytes,
        mode: PutMode,
    ) -> BoxFuture<'a, Result<ObjectMeta>> {
        Box::pin(async move {
            let version = self.next_version()?;
            let mut objects = self.objects()?;
            let current = objects.get(path).map(|(_, v)| v.to_string());
            match (&mode, current) {
                (PutMode::CreateNew, Some(_)) => {
                    return Err(Error::Conflict(format!("{path} already exists")));
                }
                (PutMode::IfMatch(want), cur) if cur.as_ref() != Some(want) => {
                    return Err(Error::Conflict(format!("{path} changed since it was read")));
                }
                _ => {}
            }
            let m = meta(path, &data, version);
            objects.insert(path.to_owned(), (data, version));
            Ok(m)
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move {
            Ok(self
                .objects()?
                .range(prefix.to_owned()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, (b, v))| meta(k, b, *v))
                .collect())
        })
    }

    fn delete<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.objects()?.remove(path);
            Ok(())
        })
    }

    fn head<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>>> {
        Box::pin(async move { Ok(self.objects()?.get(path).map(|(b, v)| meta(path, b, *v))) })
    }

    fn get_object<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<(Bytes, ObjectMeta)>> {
        Box::pin(async move {
            self.objects()?
                .get(path)
                .map(|(b, v)| (b.clone(), meta(path, b, *v)))
                .ok_or_else(|| Error::NotFound(path.to_owned()))
        })
    }

    fn supports_append(&self) -> bool {
        true
    }
    fn conditional_writes_native(&self) -> bool {
        true
    }

    fn append<'a>(&'a self, path: &'a str, data: Bytes) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let version = self.next_version()?;
            let mut objects = self.objects()?;
            let old = objects
                .get(path)
                .map(|(b, _)| b.clone())
                .unwrap_or_default();
            let mut joined = Vec::with_capacity(old.len() + data.len());
            joined.extend_from_slice(&old);
            joined.extend_from_slice(&data);
            let len = joined.len() as u64;
            objects.insert(path.to_owned(), (Bytes::from(joined), version));
            Ok(len)
        })
    }
}

impl MemoryStorage {
    /// Cuts the object to its first `len` bytes (crash simulation: unsynced bytes vanish).
    pub fn truncate(&self, path: &str, len: u64) -> Result<()> {
        let version = self.next_version()?;
        let mut objects = self.objects()?;
        if let Some((b, v)) = objects.get_mut(path)
            && (len as usize) < b.len()
        {
            *b = b.slice(..len as usize);
            *v = version;
        }
        Ok(())
    }

    /// A deep copy: a second store that starts with the same objects and then diverges.
    pub fn fork(&self) -> Result<Self> {
        let copy = self.objects()?.clone();
        let next = *self
            .versions
            .lock()
            .map_err(|_| Error::Internal("memory storage lock poisoned".into()))?;
        Ok(Self {
            objects: Arc::new(Mutex::new(copy)),
            versions: Arc::new(Mutex::new(next)),
        })
    }
}
