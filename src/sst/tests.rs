use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use futures::executor::block_on;

use super::format::{FORMAT_KEY, ROW_GROUP_ROWS};
use super::*;
use crate::memtable::Memtable;
use crate::storage::{MemoryStorage, PutMode};

fn table() -> TableSchema {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("v", DataType::Int64, false),
    ]));
    TableSchema::with_key_name(schema, "id").unwrap()
}

fn key(s: &str) -> KeyBytes {
    let col: ArrayRef = Arc::new(StringArray::from(vec![s]));
    crate::key::encode_rows(&[col], &["id"]).unwrap().remove(0)
}

fn put(m: &mut Memtable, t: &TableSchema, ids: Vec<String>, v: i64, ts: u64) {
    let keys = ids.iter().map(|s| key(s)).collect();
    let n = ids.len();
    let b = RecordBatch::try_new(
        t.arrow().clone(),
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(Int64Array::from(vec![v; n])),
        ],
    )
    .unwrap();
    m.insert_batch(b, keys, ts).unwrap();
}

/// 40,000 keys, with key "k032767" (at the row-group cut) holding 50 versions.
fn big_sst() -> (Bytes, Arc<Sst>) {
    let t = table();
    let mut m = Memtable::new();
    let ids: Vec<String> = (0..40_000).map(|i| format!("k{i:06}")).collect();
    put(&mut m, &t, ids, 0, 1);
    for ts in 2..52 {
        put(
            &mut m,
            &t,
            vec![format!("k{:06}", ROW_GROUP_ROWS - 1)],
            ts as i64,
            ts,
        );
    }
    let mk = |k: &str| {
        let col: ArrayRef = Arc::new(StringArray::from(vec![k]));
        let keys = crate::key::encode_rows(std::slice::from_ref(&col), &["id"]).unwrap();
        (
            RecordBatch::try_new(t.key_schema(), vec![col]).unwrap(),
            keys,
        )
    };
    let (b, k) = mk("k000005");
    m.delete_batch(b, k, 60).unwrap();
    writer::write_sst(&t, &[&m], 7, 0, "sst/L0/7.parquet".into())
        .unwrap()
        .unwrap()
}

#[test]
fn a_key_never_spans_row_groups_and_metadata_is_complete() {
    let (_, sst) = big_sst();
    let pq = sst.arrow_meta.metadata();
    assert!(pq.num_row_groups() >= 2);
    for w in sst.rg_keys.windows(2) {
        assert!(w[0].1 < w[1].0, "row groups overlap in keys: {:?}", w);
    }
    assert!(
        sst.blooms.iter().all(Option::is_some),
        "every row group has a key bloom filter"
    );
    assert!(
        pq.offset_index().is_some() && pq.column_index().is_some(),
        "page index written"
    );
    let kv = pq.file_metadata().key_value_metadata().unwrap();
    assert!(kv.iter().any(|e| e.key == FORMAT_KEY));
    assert_eq!(sst.meta.rows, 40_000 + 50 + 1);
    assert_eq!(sst.meta.tombstones, 1);
    assert_eq!(sst.meta.distinct_keys, 40_000);
    assert_eq!((sst.meta.min_ts, sst.meta.max_ts), (1, 60));
    assert_eq!(sst.meta.min_key, key("k000000"));
    assert_eq!(sst.meta.max_key, key("k039999"));
}

#[test]
fn get_resolves_versions_through_pruning() {
    block_on(async {
        let (bytes, sst) = big_sst();
        let storage = MemoryStorage::new();
        storage
            .put("sst/L0/7.parquet", bytes, PutMode::CreateNew)
            .await
            .unwrap();
        let hot = format!("k{:06}", ROW_GROUP_ROWS - 1);
        let v = |found: Option<Found>| match found {
            Some(Found::Row(b, ts)) => {
                let v = b
                    .column(1)
                    .as_primitive::<arrow_array::types::Int64Type>()
                    .value(0);
                Some((v, ts))
            }
            Some(Found::Deleted(ts)) => Some((-1, ts)),
            None => None,
        };
        assert_eq!(
            v(sst.get(&storage, &key(&hot), 100, &[0, 1]).await.unwrap()),
            Some((51, 51))
        );
        assert_eq!(
            v(sst.get(&storage, &key(&hot), 20, &[0, 1]).await.unwrap()),
            Some((20, 20))
        );
        assert_eq!(
            v(sst.get(&storage, &key(&hot), 1, &[0, 1]).await.unwrap()),
            Some((0, 1))
        );
        assert_eq!(
            v(sst.get(&storage, &key(&hot), 0, &[0, 1]).await.unwrap()),
            None
        );
        assert_eq!(
            v(sst
                .get(&storage, &key("k000005"), 100, &[0, 1])
                .await
                .unwrap()),
            Some((-1, 60))
        );
        assert_eq!(
            v(sst
                .get(&storage, &key("k000005"), 59, &[0, 1])
                .await
                .unwrap()),
            Some((0, 1))
        );
        assert_eq!(
            v(sst
                .get(&storage, &key("k039999"), 9, &[0, 1])
                .await
                .unwrap()),
            Some((0, 1))
        );
        assert_eq!(
            v(sst
                .get(&storage, &key("k0400000"), 9, &[0, 1])
                .await
                .unwrap()),
            None
        );
        assert_eq!(
            v(sst.get(&storage, &key("a"), 9, &[0, 1]).await.unwrap()),
            None
        );
    });
}

#[test]
fn page_index_narrows_a_point_lookup_to_a_page_or_two() {
    let (_, sst) = big_sst();
    let k = key("k000100");
    let r = sst
        .pages_for_range(0, Bound::Included(&k), Bound::Included(&k))
        .expect("page index present");
    assert!(r.end - r.start <= 2 * super::format::PAGE_ROWS, "{r:?}");
    assert!(r.start <= 100 && r.end > 100, "{r:?}");
}

#[test]
fn long_keys_sharing_a_prefix_longer_than_row_group_statistics_are_found_in_every_row_group() {
    // Parquet truncates binary row-group statistics (parquet-rs: 64 bytes, max rounded up),
    // so with a 90-byte shared prefix every row group's bounds claim every key.
    block_on(async {
        let t = table();
        let prefix = "p".repeat(90);
        let ids: Vec<String> = (0..70_000).map(|i| format!("{prefix}{i:08}")).collect();
        let mut m = Memtable::new();
        put(&mut m, &t, ids.clone(), 7, 1);
        let (bytes, sst) = writer::write_sst(&t, &[&m], 9, 0, "sst/L0/9.parquet".into())
            .unwrap()
            .unwrap();
        assert!(sst.row_groups() >= 3, "{} row groups", sst.row_groups());
        let storage = MemoryStorage::new();
        storage
            .put("sst/L0/9.parquet", bytes, PutMode::CreateNew)
            .await
            .unwrap();
        let mut misses = 0;
        for id in ids.iter().step_by(97) {
            match sst.get(&storage, &key(id), 5, &[0, 1]).await.unwrap() {
                Some(Found::Row(b, 1)) => {
                    let got = b.column(0).as_string::<i32>().value(0);
                    assert_eq!(got, id);
                }
                _ => misses += 1,
            }
        }
        assert_eq!(misses, 0, "gets of existing long keys returned nothing");
        let absent = format!("{prefix}{:08}x", 35_000);
        assert!(
            sst.get(&storage, &key(&absent), 5, &[0, 1])
                .await
                .unwrap()
                .is_none()
        );
    });
}
