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

#[test]
fn our_own_footers_and_page_indexes_pass_the_shape_walk_whole_and_by_their_tail() {
    // The walk guards files no checksum vouches for; it must never refuse a sound one.
    let (bytes, sst) = big_sst();
    let size = bytes.len() as u64;
    assert!(sst.row_groups() >= 2);
    footer_shape::check(&bytes, size).unwrap();
    for tail in [64 * 1024, 4096, 64] {
        let from = bytes.len().saturating_sub(tail);
        footer_shape::check(&bytes[from..], size).unwrap();
    }
    // Opened as a record from a manifest before format 3 (no tail length): the same rows.
    let mut meta = sst.meta.clone();
    meta.tail_bytes = 0;
    meta.tail_crc = 0;
    let storage = MemoryStorage::new();
    block_on(async {
        storage
            .put(&meta.path, bytes.clone(), PutMode::CreateNew)
            .await
            .unwrap();
        let opened = Sst::open(&storage, &table(), meta.clone()).await.unwrap();
        assert_eq!(opened.row_groups(), sst.row_groups());
        assert!(matches!(
            opened
                .get(&storage, &key("k039999"), 99, &[0, 1])
                .await
                .unwrap(),
            Some(Found::Row(_, 1))
        ));
    });
    let whole = Sst::from_bytes(&table(), meta, bytes).unwrap();
    assert_eq!(whole.row_groups(), sst.row_groups());
}

#[test]
fn a_footer_declaring_a_huge_list_is_corrupt_before_parquet_reserves_memory_for_it() {
    let (bytes, sst) = big_sst();
    let mut meta = sst.meta.clone();
    meta.tail_bytes = 0;
    let n = bytes.len();
    let len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
    let footer = n - 8 - len;
    // Replace the footer with a sound schema followed by a row-group list declaring 2^31 - 1
    // elements: parquet would reserve room for all of them (hundreds of GB) at once.
    let mut damaged = bytes[..footer].to_vec();
    let fake = [
        0x15, 0x02, // 1: version = 1
        0x19, 0x2c, // 2: schema, a list of two structs
        0x48, 0x01, b'r', 0x15, 0x02, 0x00, // root: name "r", one child
        0x15, 0x04, 0x25, 0x00, 0x18, 0x01, b'v', 0x00, // INT64, REQUIRED, name "v"
        0x16, 0x00, // 3: num_rows = 0
        0x19, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07, // 4: row_groups, 2^31 - 1 structs
        0x00, 0x00,
    ];
    damaged.extend_from_slice(&fake);
    damaged.extend_from_slice(&(fake.len() as u32).to_le_bytes());
    damaged.extend_from_slice(b"PAR1");
    meta.bytes = damaged.len() as u64;
    let err = Sst::from_bytes(&table(), meta, Bytes::from(damaged)).unwrap_err();
    assert_eq!(err.code(), crate::ErrorCode::Corrupt, "{err}");
    assert!(
        err.to_string().contains("declares 2147483647 elements"),
        "{err}"
    );
}
