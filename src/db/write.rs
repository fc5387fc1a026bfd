//! The write entry points users call (put, from a batch, IPC or values; delete): rows and
//! keys validated before they go to the commit pipeline as one operation.

use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use arrow_schema::Schema;

use super::Db;
use super::ops::Op;
use crate::error::{Error, Result};
use crate::key::Timestamp;
use crate::key::{KeyBytes, encode_rows};
use crate::rows::RowsBuilder;
use crate::value::Value;

impl Db {
    /// Upserts every row of `batch` in one commit and returns its commit timestamp. When a key
    /// repeats within the batch, the last row wins.
    pub async fn put(&self, batch: RecordBatch) -> Result<Timestamp> {
        match self.prepare_put(batch)? {
            Some((batch, keys)) => self.submit(Op::Put(batch, keys)).await,
            None => Ok(self.state()?.visible_ts),
        }
    }

    /// Validates `batch` and returns it under the table's schema with its encoded keys, or
    /// `None` when it has no rows.
    pub(super) fn prepare_put(
        &self,
        batch: RecordBatch,
    ) -> Result<Option<(RecordBatch, Vec<KeyBytes>)>> {
        let schema = self.shared.schema.arrow();
        self.shared.schema.check_compatible(&batch.schema())?;
        let key_cols: Vec<_> = self
            .shared
            .schema
            .key_indices()
            .iter()
            .map(|&i| batch.column(i).clone())
            .collect();
        let keys = encode_rows(&key_cols, &self.key_name_refs())?;
        for (field, col) in schema.fields().iter().zip(batch.columns()) {
            if !field.is_nullable() && col.null_count() > 0 {
                return Err(Error::TypeMismatch {
                    column: field.name().clone(),
                    expected: format!("a non-null {}", field.data_type()),
                    got: "null".into(),
                });
            }
        }
        // Store the rows under the table's own schema (nullability, metadata) so results are
        // uniform whatever the writer's schema said.
        let batch = RecordBatch::try_new(schema.clone(), batch.columns().to_vec())?;
        Ok((batch.num_rows() > 0).then_some((batch, keys)))
    }

    /// Rows given as values in column order, as one batch.
    pub(super) fn rows_batch(&self, rows: &[Vec<Value>]) -> Result<RecordBatch> {
        let schema = &self.shared.schema;
        let mut b = RowsBuilder::new(schema.arrow().clone(), schema.key_indices())?;
        for row in rows {
            b.push_values(row)?;
        }
        b.finish()
    }

    /// Upserts the rows of Arrow IPC bytes, stream or file format (all their batches), in one
    /// commit.
    pub async fn put_ipc(&self, bytes: &[u8]) -> Result<Timestamp> {
        let batch = self.ipc_batch(bytes)?;
        self.put(batch).await
    }

    /// Arrow IPC bytes (stream or file format) as one batch checked against the table's schema (dictionary
    /// columns decoded), ready for [`Db::put`] or a transaction.
    pub fn ipc_batch(&self, bytes: &[u8]) -> Result<RecordBatch> {
        let (schema, batches) = crate::ipc::decode_stream_or_file(bytes)?;
        let batch = arrow_select::concat::concat_batches(&schema, &batches)?;
        let batch = self.conform_to_table(batch)?;
        self.shared.schema.check_compatible(&batch.schema())?;
        Ok(batch)
    }

    /// Brings IPC input to the table's column types where only the encoding differs, in one
    /// pass: a dictionary-encoded column (apache-arrow encodes strings that way by default)
    /// whose value type is the column's becomes a plain array, and a nested column whose type
    /// differs only in the names of inner fields (apache-arrow names a list's item `""`, Rust's
    /// Arrow `"item"`) takes the table's type over the same buffers.
    fn conform_to_table(&self, batch: RecordBatch) -> Result<RecordBatch> {
        use arrow_array::cast::AsArray;
        use arrow_schema::DataType;
        let table = self.shared.schema.arrow();
        let mut changed = false;
        let mut fields = Vec::with_capacity(batch.num_columns());
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (f, col) in batch.schema().fields().iter().zip(batch.columns()) {
            let wanted = table.field_with_name(f.name()).ok().map(|t| t.data_type());
            let conformed = match (f.data_type(), wanted) {
                (DataType::Dictionary(_, value), Some(w)) if value.as_ref() == w => {
                    let dict = col.as_any_dictionary();
                    let keys: Vec<u32> = dict.normalized_keys().iter().map(|&k| k as u32).collect();
                    let idx =
                        arrow_array::UInt32Array::new(keys.into(), dict.keys().nulls().cloned());
                    let plain = arrow_select::take::take(dict.values().as_ref(), &idx, None)?;
                    Some((w, plain))
                }
                (have, Some(w)) if w != have && w.is_nested() && w.equals_datatype(have) => {
                    let data = col.to_data().into_builder().data_type(w.clone()).build()?;
                    Some((w, arrow_array::make_array(data)))
                }
                _ => None,
            };
            match conformed {
                Some((w, array)) => {
                    fields.push(Arc::new(f.as_ref().clone().with_data_type(w.clone())));
                    columns.push(array);
                    changed = true;
                }
                None => {
                    fields.push(f.clone());
                    columns.push(col.clone());
                }
            }
        }
        if !changed {
            return Ok(batch);
        }
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }

    /// Upserts rows given as values in column order.
    pub async fn put_rows(&self, rows: &[Vec<Value>]) -> Result<Timestamp> {
        let batch = self.rows_batch(rows)?;
        self.put(batch).await
    }

    /// [`Db::put_rows`] taking its rows by value, for futures that outlive the caller's
    /// borrow (e.g. many puts joined at once).
    pub async fn put_rows_owned(&self, rows: Vec<Vec<Value>>) -> Result<Timestamp> {
        self.put_rows(&rows).await
    }

    /// Deletes the rows with these keys (each a full key) in one commit.
    pub async fn delete_many(&self, keys: &[Vec<Value>]) -> Result<Timestamp> {
        if keys.is_empty() {
            return Ok(self.state()?.visible_ts);
        }
        let (batch, encoded) = self.key_batch(keys)?;
        self.submit(Op::Delete(batch, encoded)).await
    }

    /// Deletes the row with this key (values of the key columns in key order).
    pub async fn delete(&self, key: &[Value]) -> Result<Timestamp> {
        self.delete_many(&[key.to_vec()]).await
    }
}
