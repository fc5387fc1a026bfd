//! The two-column table of the durability tests (`id` utf8 key, `v` nullable int64) and its
//! expected contents as a map: the schema, rows read back into the map, a small op language
//! (put, delete, flush, compact) applied to the database and to the map, and a handle on a
//! shared in-memory store whose commits retry quickly.

use std::collections::BTreeMap;
use std::sync::Arc;

use anax::storage::MemoryStorage;
use anax::{Db, DbBuilder, ScanOptions, Value};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

pub fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("v", DataType::Int64, true),
    ]))
}

pub type State = BTreeMap<String, Option<i64>>;

pub fn rows_of(b: &RecordBatch) -> State {
    let ids = b.column(0).as_string::<i32>();
    let vs = b.column(1).as_primitive::<Int64Type>();
    (0..b.num_rows())
        .map(|i| (ids.value(i).to_owned(), vs.is_valid(i).then(|| vs.value(i))))
        .collect()
}

pub async fn read_all(db: &Db) -> State {
    rows_of(&db.scan(&ScanOptions::default()).await.unwrap())
}

#[derive(Debug, Clone)]
pub enum Op {
    Put(Vec<(String, Option<i64>)>),
    Delete(Vec<String>),
    Flush,
    Compact,
}

pub fn apply(state: &mut State, op: &Op) {
    match op {
        Op::Put(rows) => {
            for (k, v) in rows {
                state.insert(k.clone(), *v);
            }
        }
        Op::Delete(keys) => {
            for k in keys {
                state.remove(k);
            }
        }
        Op::Flush | Op::Compact => {}
    }
}

pub async fn run(db: &Db, op: &Op) -> anax::Result<()> {
    match op {
        Op::Put(rows) => {
            let rows: Vec<Vec<Value>> = rows
                .iter()
                .map(|(k, v)| vec![Value::from(k.as_str()), v.map_or(Value::Null, Value::Int)])
                .collect();
            db.put_rows(&rows).await.map(drop)
        }
        Op::Delete(keys) => {
            let keys: Vec<Vec<Value>> =
                keys.iter().map(|k| vec![Value::from(k.as_str())]).collect();
            db.delete_many(&keys).await.map(drop)
        }
        Op::Flush => db.flush().await,
        Op::Compact => db.compact().await.map(drop),
    }
}

pub fn seal_db(store: &MemoryStorage) -> DbBuilder {
    DbBuilder::from_schema_key_name(schema(), "id")
        .with_storage(Arc::new(store.clone()))
        .cas_backoff(anax::CasBackoffConfig {
            base_ms: 1,
            max_ms: 4,
            max_attempts: 64,
        })
}

pub fn one_row(k: &str, v: i64) -> Vec<Vec<Value>> {
    vec![vec![Value::from(k), Value::Int(v)]]
}
