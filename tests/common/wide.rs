//! The three-column table of the object-store read tests (`id` utf8 key, `v` int64, a ~100-byte
//! `payload`): rows under keys a test chooses (long and Unicode, past parquet's 64-byte
//! statistics cut), a builder on a latency-counting store, and the `v` a read returned.

use std::sync::Arc;

use anax::storage::{LatencyStorage, Storage};
use anax::{Db, DbBuilder, Freshness, Value};
use arrow_array::cast::AsArray;
use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::Rng;

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("v", DataType::Int64, false),
        Field::new("payload", DataType::Utf8, false),
    ]))
}

/// One row per key, each with value `v` and a 100-byte payload.
pub fn rows_of(keys: Vec<String>, v: i64) -> RecordBatch {
    let n = keys.len();
    let payload: Vec<String> = (0..n).map(|i| format!("{i:0100}")).collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(keys)),
            Arc::new(Int64Array::from(vec![v; n])),
            Arc::new(StringArray::from(payload)),
        ],
    )
    .unwrap()
}

/// `n` rows under random keys `prefix` + 16 hex digits (appended to `ids`).
pub fn rows(rng: &mut Rng, prefix: &str, n: usize, v: i64, ids: &mut Vec<String>) -> RecordBatch {
    let keys: Vec<String> = (0..n)
        .map(|_| format!("{prefix}{:016x}", rng.next_u64()))
        .collect();
    ids.extend(keys.iter().cloned());
    rows_of(keys, v)
}

/// A handle on `store` whose point reads all reach the store (no block cache): these tests
/// count what a read costs the store.
pub fn builder(store: &Arc<LatencyStorage>) -> DbBuilder {
    let s: Arc<dyn Storage> = store.clone();
    DbBuilder::from_schema_key_name(schema(), "id")
        .with_storage(s)
        .with_block_cache(false)
}

pub fn key(k: &str) -> Vec<Value> {
    vec![Value::Str(k.to_owned())]
}

pub fn v_of(batch: &RecordBatch) -> i64 {
    batch
        .column(1)
        .as_primitive::<arrow_array::types::Int64Type>()
        .value(0)
}

pub async fn get_v(db: &Db, k: &str, f: Freshness) -> Option<i64> {
    db.get_fresh(&key(k), f).await.unwrap().map(|b| v_of(&b))
}
