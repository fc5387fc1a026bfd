//! The database handle: the builder that opens it and the operations users call.
//!
//! Every method takes `&self` and is `async`, because the storage layers below will await I/O;
//! state lives behind one mutex held only for short, non-awaiting critical sections.

use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::{Array, RecordBatch};
use arrow_schema::{Schema, SchemaRef};
use arrow_select::interleave::interleave;

use crate::error::{Error, Result};
use crate::key::{KeyBytes, encode_rows};
use crate::memtable::{Entry, Memtable, Timestamp};
use crate::rows::RowsBuilder;
use crate::scan::{KeyRange, ScanOptions};
use crate::schema::{KeySpec, TableSchema};
use crate::value::Value;

/// The table name used when none is given.
pub const DEFAULT_TABLE_NAME: &str = "anax-default";

#[derive(Debug, Clone)]
enum StorageChoice {
    InMemory(#[allow(dead_code)] String),
}

/// Configures and opens a [`Db`]. Choose exactly one storage backend before `open`.
#[derive(Debug, Clone)]
pub struct DbBuilder {
    schema: SchemaRef,
    key: KeySpec,
    storage: Option<StorageChoice>,
    table_name: String,
}

impl DbBuilder {
    fn new(schema: SchemaRef, key: KeySpec) -> Self {
        Self {
            schema,
            key,
            storage: None,
            table_name: DEFAULT_TABLE_NAME.to_owned(),
        }
    }

    /// A table keyed by the column `name`.
    pub fn from_schema_key_name(schema: SchemaRef, name: &str) -> Self {
        Self::new(schema, KeySpec::Names(vec![name.to_owned()]))
    }

    /// A table keyed by the columns `names`, in this order (a composite key).
    pub fn from_schema_key_names(schema: SchemaRef, names: &[&str]) -> Self {
        Self::new(
            schema,
            KeySpec::Names(names.iter().map(|s| (*s).to_owned()).collect()),
        )
    }

    /// A table keyed by the columns at `indices`, in this order.
    pub fn from_schema_key_indices(schema: SchemaRef, indices: Vec<usize>) -> Self {
        Self::new(schema, KeySpec::Indices(indices))
    }

    /// A table keyed by the columns carrying `tonbo.key` field metadata.
    pub fn from_schema_metadata(schema: SchemaRef) -> Self {
        Self::new(schema, KeySpec::Metadata)
    }

    /// Alias of [`DbBuilder::from_schema_metadata`].
    pub fn from_schema(schema: SchemaRef) -> Self {
        Self::from_schema_metadata(schema)
    }

    /// Volatile storage in this process's memory; `label` names it in diagnostics.
    pub fn in_memory(mut self, label: impl Into<String>) -> Self {
        self.storage = Some(StorageChoice::InMemory(label.into()));
        self
    }

    /// The table's name (default [`DEFAULT_TABLE_NAME`]).
    pub fn table_name(mut self, name: impl Into<String>) -> Self {
        self.table_name = name.into();
        self
    }

    /// Validates the configuration and opens the database.
    pub async fn open(self) -> Result<Db> {
        let schema = TableSchema::new(self.schema, &self.key)?;
        if self.table_name.is_empty() {
            return Err(Error::InvalidArgument(
                "the table name must not be empty".into(),
            ));
        }
        match self.storage {
            None => Err(Error::InvalidArgument(
                "storage backend not selected: call in_memory(..) (or another backend) before open"
                    .into(),
            )),
            Some(StorageChoice::InMemory(_)) => Ok(Db::new(schema, self.table_name)),
        }
    }

    /// Alias of [`DbBuilder::open`].
    pub async fn build(self) -> Result<Db> {
        self.open().await
    }
}

/// An open table. Cheap to clone; clones share the same data.
#[derive(Debug, Clone)]
pub struct Db {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    schema: TableSchema,
    key_names: Vec<String>,
    table_name: String,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    mem: Memtable,
    last_ts: Timestamp,
    closed: bool,
}

impl Db {
    fn new(schema: TableSchema, table_name: String) -> Self {
        let key_names = schema.key_fields().map(|f| f.name().clone()).collect();
        Self {
            shared: Arc::new(Shared {
                schema,
                key_names,
                table_name,
                state: Mutex::new(State {
                    mem: Memtable::new(),
                    last_ts: 0,
                    closed: false,
                }),
            }),
        }
    }

    /// The table's schema and key.
    pub fn schema(&self) -> &TableSchema {
        &self.shared.schema
    }

    /// The table's name.
    pub fn table_name(&self) -> &str {
        &self.shared.table_name
    }

    fn state(&self) -> Result<MutexGuard<'_, State>> {
        let guard = self
            .shared
            .state
            .lock()
            .map_err(|_| Error::Internal("state lock poisoned".into()))?;
        if guard.closed {
            return Err(Error::Closed);
        }
        Ok(guard)
    }

    fn key_name_refs(&self) -> Vec<&str> {
        self.shared.key_names.iter().map(String::as_str).collect()
    }

    /// Upserts every row of `batch` in one commit and returns its commit timestamp. When a key
    /// repeats within the batch, the last row wins.
    pub async fn put(&self, batch: RecordBatch) -> Result<Timestamp> {
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
        let mut st = self.state()?;
        if batch.num_rows() == 0 {
            return Ok(st.last_ts);
        }
        st.last_ts += 1;
        let ts = st.last_ts;
        st.mem.insert_batch(batch, keys, ts);
        Ok(ts)
    }

    /// Upserts the rows of an Arrow IPC stream (all its batches) in one commit.
    pub async fn put_ipc(&self, bytes: &[u8]) -> Result<Timestamp> {
        let (schema, batches) = crate::ipc::decode_stream(bytes)?;
        self.shared.schema.check_compatible(&schema)?;
        let batch = arrow_select::concat::concat_batches(&schema, &batches)?;
        self.put(batch).await
    }

    /// Upserts rows given as values in column order.
    pub async fn put_rows(&self, rows: &[Vec<Value>]) -> Result<Timestamp> {
        let schema = &self.shared.schema;
        let mut b = RowsBuilder::new(schema.arrow().clone(), schema.key_indices())?;
        for row in rows {
            b.push_values(row)?;
        }
        self.put(b.finish()?).await
    }

    /// Deletes the rows with these keys (each a full key) in one commit.
    pub async fn delete_many(&self, keys: &[Vec<Value>]) -> Result<Timestamp> {
        let encoded = keys
            .iter()
            .map(|k| self.encode_key(k, false).map(|(k, _)| k))
            .collect::<Result<Vec<_>>>()?;
        let mut st = self.state()?;
        if encoded.is_empty() {
            return Ok(st.last_ts);
        }
        st.last_ts += 1;
        let ts = st.last_ts;
        for k in encoded {
            st.mem.delete(k, ts);
        }
        Ok(ts)
    }

    /// Deletes the row with this key (values of the key columns in key order).
    pub async fn delete(&self, key: &[Value]) -> Result<Timestamp> {
        self.delete_many(&[key.to_vec()]).await
    }

    /// The row with this key, as a one-row batch, or `None`.
    pub async fn get(&self, key: &[Value]) -> Result<Option<RecordBatch>> {
        let (key, _) = self.encode_key(key, false)?;
        let st = self.state()?;
        match st.mem.get(&key, st.last_ts) {
            Some((_, Entry::Row { batch, row })) => {
                let rows = [(batch as usize, row as usize)];
                Ok(Some(self.gather(st.mem.batches(), &rows, None)?))
            }
            Some((_, Entry::Tombstone)) | None => Ok(None),
        }
    }

    /// The rows selected by `opts`, as one batch.
    pub async fn scan(&self, opts: &ScanOptions) -> Result<RecordBatch> {
        let projection = self.projection(opts.projection.as_deref())?;
        let Some(range) = self.key_range(opts)? else {
            return Ok(RecordBatch::new_empty(self.projected_schema(&projection)?));
        };
        let st = self.state()?;
        let (lo, hi) = range.as_slices();
        let limit = opts.limit.unwrap_or(usize::MAX);
        let rows: Vec<(usize, usize)> = st
            .mem
            .resolve_range(lo, hi, st.last_ts, opts.reverse)
            .filter_map(|(_, _, e)| match e {
                Entry::Row { batch, row } => Some((batch as usize, row as usize)),
                Entry::Tombstone => None,
            })
            .take(limit)
            .collect();
        self.gather(st.mem.batches(), &rows, Some(&projection))
    }

    /// Marks the handle closed; later calls fail with [`crate::ErrorCode::Closed`]. Idempotent.
    pub async fn close(&self) -> Result<()> {
        let mut st = self
            .shared
            .state
            .lock()
            .map_err(|_| Error::Internal("state lock poisoned".into()))?;
        st.closed = true;
        Ok(())
    }

    /// Encodes a full key (or, with `allow_prefix`, leading key columns). Returns the bytes and
    /// whether all key columns were given.
    fn encode_key(&self, values: &[Value], allow_prefix: bool) -> Result<(KeyBytes, bool)> {
        let schema = &self.shared.schema;
        let n = schema.key_indices().len();
        if values.is_empty() || values.len() > n || (!allow_prefix && values.len() != n) {
            return Err(Error::InvalidArgument(format!(
                "a key of this table has {n} column(s) ({}), got {} value(s)",
                self.shared.key_names.join(", "),
                values.len()
            )));
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

    fn key_range(&self, opts: &ScanOptions) -> Result<Option<KeyRange>> {
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

    fn projection(&self, names: Option<&[String]>) -> Result<Vec<usize>> {
        let schema = self.shared.schema.arrow();
        match names {
            None => Ok((0..schema.fields().len()).collect()),
            Some(names) => names
                .iter()
                .map(|n| {
                    schema.index_of(n).map_err(|_| {
                        Error::InvalidArgument(format!("unknown column '{n}' in projection"))
                    })
                })
                .collect(),
        }
    }

    fn projected_schema(&self, projection: &[usize]) -> Result<SchemaRef> {
        Ok(Arc::new(self.shared.schema.arrow().project(projection)?))
    }

    /// Builds one batch from `(batch, row)` positions with Arrow's interleave kernel.
    fn gather(
        &self,
        batches: &[RecordBatch],
        rows: &[(usize, usize)],
        projection: Option<&[usize]>,
    ) -> Result<RecordBatch> {
        let all: Vec<usize>;
        let projection = match projection {
            Some(p) => p,
            None => {
                all = (0..self.shared.schema.arrow().fields().len()).collect();
                &all
            }
        };
        let schema = self.projected_schema(projection)?;
        if rows.is_empty() {
            return Ok(RecordBatch::new_empty(schema));
        }
        let columns = projection
            .iter()
            .map(|&c| {
                let sources: Vec<&dyn Array> =
                    batches.iter().map(|b| b.column(c).as_ref()).collect();
                interleave(&sources, rows)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}
