//! User-given key values turned into the encoded keys and key ranges the engine compares,
//! with the error a key of the wrong length gets. Shared by writes, snapshots and
//! transactions.

use std::ops::Bound;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Schema;

use super::Db;
use crate::error::{Error, Result};
use crate::key::{KeyBytes, encode_exact, encode_rows};
use crate::read::{KeyRange, ScanOptions};
use crate::rows::RowsBuilder;
use crate::value::Value;

impl Db {
    pub(super) fn key_name_refs(&self) -> Vec<&str> {
        self.shared.key_names.iter().map(String::as_str).collect()
    }

    /// One batch of the key columns of `keys`, and their encodings.
    pub(super) fn key_batch(&self, keys: &[Vec<Value>]) -> Result<(RecordBatch, Vec<KeyBytes>)> {
        let schema = &self.shared.schema;
        let n = schema.key_indices().len();
        let key_schema = schema.key_schema();
        let idx: Vec<usize> = (0..n).collect();
        let mut b = RowsBuilder::new(key_schema, &idx)?;
        for k in keys {
            if k.len() != n {
                return Err(self.key_len_error(k.len()));
            }
            b.push_values(k)?;
        }
        let batch = b.finish()?;
        let encoded = encode_rows(batch.columns(), &self.key_name_refs())?;
        Ok((batch, encoded))
    }

    fn key_len_error(&self, got: usize) -> Error {
        Error::InvalidArgument(format!(
            "a key of this table has {} column(s) ({}), got {got} value(s)",
            self.shared.key_names.len(),
            self.shared.key_names.join(", "),
        ))
    }

    /// Encodes a full key (or, with `allow_prefix`, leading key columns). Returns the bytes and
    /// whether all key columns were given.
    pub(super) fn encode_key(
        &self,
        values: &[Value],
        allow_prefix: bool,
    ) -> Result<(KeyBytes, bool)> {
        let schema = &self.shared.schema;
        let n = schema.key_indices().len();
        if values.is_empty() || values.len() > n || (!allow_prefix && values.len() != n) {
            return Err(self.key_len_error(values.len()));
        }
        let mut exact = Vec::with_capacity(32);
        if values
            .iter()
            .zip(schema.key_fields())
            .all(|(v, f)| encode_exact(v, f.data_type(), &mut exact))
        {
            return Ok((exact.into_boxed_slice(), values.len() == n));
        }
        let fields: Vec<_> = schema.key_fields().take(values.len()).cloned().collect();
        let key_schema = Arc::new(Schema::new(fields));
        let idx: Vec<usize> = (0..values.len()).collect();
        let mut b = RowsBuilder::new(key_schema, &idx)?;
        b.push_values(values)?;
        let batch = b.finish()?;
        let names = self.key_name_refs();
        let key = encode_rows(batch.columns(), names.get(..values.len()).unwrap_or(&names))?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Internal("no key encoded".into()))?;
        Ok((key, values.len() == n))
    }

    pub(super) fn key_range(&self, opts: &ScanOptions) -> Result<Option<KeyRange>> {
        let enc = |b: &Bound<Vec<Value>>| -> Result<Bound<(KeyBytes, bool)>> {
            Ok(match b {
                Bound::Included(v) => Bound::Included(self.encode_key(v, true)?),
                Bound::Excluded(v) => Bound::Excluded(self.encode_key(v, true)?),
                Bound::Unbounded => Bound::Unbounded,
            })
        };
        let Some(start) = KeyRange::lower(enc(&opts.start)?) else {
            return Ok(None);
        };
        let mut range = KeyRange {
            start,
            end: KeyRange::upper(enc(&opts.end)?),
        };
        if let Some(prefix) = &opts.prefix {
            let (p, _) = self.encode_key(prefix, true)?;
            range = range.intersect_prefix(&p);
        }
        Ok(Some(range))
    }

    pub(super) fn column_index(&self, name: &str, what: &str) -> Result<usize> {
        self.shared
            .schema
            .arrow()
            .index_of(name)
            .map_err(|_| Error::InvalidArgument(format!("unknown column '{name}' in {what}")))
    }
}
