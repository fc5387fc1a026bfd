use std::cmp::Reverse;
use std::ops::Bound;
use std::sync::Arc;

use arrow_array::{Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::index::IndexKey;
use super::*;
use crate::key::KeyBytes;

/// The schema of every test batch: one non-nullable `v`.
fn v_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]))
}

/// A batch of `v` values.
fn ints(v: Vec<i64>) -> RecordBatch {
    RecordBatch::try_new(v_schema(), vec![Arc::new(Int64Array::from(v))]).unwrap()
}

fn batch(n: usize) -> RecordBatch {
    ints(vec![0; n])
}

/// The `v` of a one-row answer.
fn v_of(row: &RecordBatch) -> i64 {
    row.column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0)
}

/// A small deterministic generator (xorshift): `next(n)` is in `0..n`.
pub(super) fn generator(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut x = seed;
    move |n| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    }
}

fn k(s: &str) -> KeyBytes {
    s.as_bytes().into()
}

fn table() -> Memtable {
    let mut m = Memtable::new();
    m.insert_batch(batch(2), vec![k("a"), k("b")], 1).unwrap();
    m.insert_batch(batch(1), vec![k("a")], 3).unwrap();
    m.delete_batch(batch(1), vec![k("b")], 4).unwrap();
    m.insert_batch(batch(1), vec![k("c")], 5).unwrap();
    m
}

#[test]
fn newest_version_at_or_below_ts_wins() {
    let m = table();
    assert_eq!(m.get(b"a", 0), None);
    assert_eq!(m.get(b"a", 1), Some((1, Entry::Row { batch: 0, row: 0 })));
    assert_eq!(m.get(b"a", 2), Some((1, Entry::Row { batch: 0, row: 0 })));
    assert_eq!(m.get(b"a", 9), Some((3, Entry::Row { batch: 1, row: 0 })));
    assert_eq!(m.get(b"b", 3), Some((1, Entry::Row { batch: 0, row: 1 })));
    assert_eq!(
        m.get(b"b", 4),
        Some((4, Entry::Tombstone { batch: 0, row: 0 }))
    );
    assert_eq!(m.get(b"bb", 9), None);
}

#[test]
fn resolve_range_yields_one_visible_version_per_key_both_directions() {
    let m = table();
    let fwd: Vec<_> = m
        .resolve_range(Bound::Unbounded, Bound::Unbounded, 4, false)
        .map(|(k, ts, _)| (k.to_vec(), ts))
        .collect();
    assert_eq!(fwd, vec![(b"a".to_vec(), 3), (b"b".to_vec(), 4)]);
    let mut back: Vec<_> = m
        .resolve_range(Bound::Unbounded, Bound::Unbounded, 4, true)
        .map(|(k, ts, _)| (k.to_vec(), ts))
        .collect();
    back.reverse();
    assert_eq!(back, fwd);
    let at2: Vec<_> = m
        .resolve_range(Bound::Unbounded, Bound::Unbounded, 2, true)
        .map(|(k, ts, _)| (k.to_vec(), ts))
        .collect();
    assert_eq!(at2, vec![(b"b".to_vec(), 1), (b"a".to_vec(), 1)]);
}

#[test]
fn bounds_are_respected_and_inverted_ranges_are_empty() {
    let m = table();
    let keys = |s, e, rev| -> Vec<Vec<u8>> {
        m.resolve_range(s, e, 9, rev)
            .map(|(k, _, _)| k.to_vec())
            .collect()
    };
    assert_eq!(
        keys(
            Bound::Excluded(&b"a"[..]),
            Bound::Included(&b"c"[..]),
            false
        ),
        vec![b"b".to_vec(), b"c".to_vec()]
    );
    assert_eq!(
        keys(Bound::Included(&b"a"[..]), Bound::Excluded(&b"c"[..]), true),
        vec![b"b".to_vec(), b"a".to_vec()]
    );
    assert!(
        keys(
            Bound::Included(&b"c"[..]),
            Bound::Included(&b"a"[..]),
            false
        )
        .is_empty()
    );
    assert!(
        keys(
            Bound::Excluded(&b"b"[..]),
            Bound::Excluded(&b"b"[..]),
            false
        )
        .is_empty()
    );
}

/// What a memtable answers: every get, and every resolved range in both directions, at
/// every read timestamp, as (key, ts, row values) so that a row's place may differ.
fn answers(m: &Memtable) -> Vec<String> {
    let value = |e: Entry| -> String {
        let (src, row) = m.locate(e);
        let col = m.column_sources(0, Some(0), &DataType::Int64);
        let v = col
            .get(src)
            .map(|a| a.as_any().downcast_ref::<Int64Array>().unwrap().value(row));
        format!(
            "{}{v:?}",
            if matches!(e, Entry::Tombstone { .. }) {
                "del"
            } else {
                "put"
            }
        )
    };
    let mut out = Vec::new();
    for ts in 0..7 {
        for key in ["", "a", "b", "bb", "c", "d"] {
            let got = m.get(key.as_bytes(), ts).map(|(t, e)| (t, value(e)));
            out.push(format!("get {key}@{ts}: {got:?}"));
        }
        for rev in [false, true] {
            let rows: Vec<_> = m
                .resolve_range(Bound::Unbounded, Bound::Excluded(&b"c"[..]), ts, rev)
                .map(|(k, t, e)| (String::from_utf8_lossy(k).into_owned(), t, value(e)))
                .collect();
            out.push(format!("range@{ts} rev={rev}: {rows:?}"));
        }
    }
    out
}

/// The memtable of [`table`] with distinct column values, so a row's identity shows.
fn valued() -> Memtable {
    let col = ints;
    let mut m = Memtable::new();
    m.insert_batch(col(vec![10, 20]), vec![k("a"), k("b")], 1)
        .unwrap();
    m.insert_batch(col(vec![30]), vec![k("a")], 3).unwrap();
    m.delete_batch(col(vec![40]), vec![k("b")], 4).unwrap();
    m.insert_batch(col(vec![50]), vec![k("c")], 5).unwrap();
    m
}

#[test]
fn sealing_keeps_every_answer_and_refuses_later_writes() {
    let schema = v_schema();
    let table = crate::schema::TableSchema::with_key_name(schema.clone(), "v").unwrap();
    let mut m = valued();
    let before = answers(&m);
    let versions: Vec<_> = m.versions_iter().map(|(k, t, _)| (k.to_vec(), t)).collect();
    m.seal();
    assert!(m.run().is_none(), "sealing alone keeps the index");
    assert_eq!(answers(&m), before);
    assert!(m.insert_batch(batch(1), vec![k("new")], 6).is_err());
    m.sort_into_run(&table);
    assert!(m.run().is_some(), "the sealed memtable is one sorted run");
    assert_eq!(answers(&m), before);
    let after: Vec<_> = m.versions_iter().map(|(k, t, _)| (k.to_vec(), t)).collect();
    assert_eq!(
        after, versions,
        "a flush sees the same versions in the same order"
    );
    assert_eq!(m.versions(), 5);
    // A row found by get is the row that was written.
    let (_, e) = m.get(b"a", 9).unwrap();
    let row = m.row(e, &schema).unwrap().unwrap();
    assert_eq!(v_of(&row), 30);
    let (_, tomb) = m.get(b"b", 9).unwrap();
    assert!(m.row(tomb, &schema).unwrap().is_none());
    // Nothing may be written once sealed: the write is refused, and nothing changes.
    let err = m.insert_batch(batch(1), vec![k("new")], 6).unwrap_err();
    assert_eq!(err.code(), crate::error::ErrorCode::Internal);
    assert!(m.delete_batch(batch(1), vec![k("a")], 6).is_err());
    assert_eq!(answers(&m), before);
}

#[test]
fn a_sealed_memtable_finds_every_key_it_holds_and_no_other() {
    let schema = v_schema();
    let table = crate::schema::TableSchema::with_key_name(schema, "v").unwrap();
    let mut m = Memtable::new();
    let keys: Vec<KeyBytes> = (0..2000u32)
        .map(|i| i.to_be_bytes().to_vec().into())
        .collect();
    m.insert_batch(batch(2000), keys, 1).unwrap();
    m.sort_into_run(&table);
    assert!(m.run().is_none(), "an unsealed memtable is not reorganized");
    m.seal();
    m.sort_into_run(&table);
    assert!(m.run().is_some());
    for i in 0..2000u32 {
        assert!(m.get(&i.to_be_bytes(), 1).is_some(), "key {i} is found");
    }
    let absent = (2000..12000u32)
        .filter(|i| m.get(&i.to_be_bytes(), 1).is_some())
        .count();
    assert_eq!(absent, 0, "absent keys are never found");
}

#[test]
fn index_key_order_is_key_then_newest_first() {
    // A tiny deterministic generator; short alphabets so shared prefixes, zero bytes, keys
    // that are prefixes of each other and equal heads with different tails are common.
    let mut next = generator(0x9e37_79b9);
    for _ in 0..50_000 {
        let mut make = || -> (Vec<u8>, u64) {
            let len = next(14) as usize;
            let key = (0..len)
                .map(|_| [0u8, 1, 0x80, 0xff][next(4) as usize])
                .collect();
            (key, next(3))
        };
        let (a, b) = (make(), make());
        let want = (a.0.as_slice(), Reverse(a.1)).cmp(&(b.0.as_slice(), Reverse(b.1)));
        let got =
            IndexKey::new(a.0.clone().into(), a.1).cmp(&IndexKey::new(b.0.clone().into(), b.1));
        assert_eq!(got, want, "{a:?} vs {b:?}");
    }
}

#[test]
fn a_repeated_key_in_one_batch_keeps_the_last_row() {
    // Keys repeat within the batch, in no order: the reordering by key must keep the later
    // row of a key after the earlier one, so the later one wins as it did unsorted.
    let n = 600usize;
    let keys: Vec<KeyBytes> = (0..n).map(|i| vec![((i * 7) % 50) as u8].into()).collect();
    let schema = v_schema();
    let b = ints((0..n as i64).map(|i| i * 10).collect());
    let mut m = Memtable::new();
    m.insert_batch(b, keys, 1).unwrap();
    for key in 0..50u8 {
        let last = (0..n).rev().find(|i| (i * 7) % 50 == key as usize).unwrap();
        let (_, e) = m.get(&[key], 1).unwrap();
        let row = m.row(e, &schema).unwrap().unwrap();
        assert_eq!(
            v_of(&row),
            last as i64 * 10,
            "key {key}: the last row written wins"
        );
    }
}

#[test]
fn sorting_batches_keeps_every_answer_and_orders_each_batch() {
    let col = ints;
    let mut m = valued();
    // Keys out of order, a key repeated within a batch (the later row wins), one in two batches.
    m.insert_batch(
        col(vec![60, 70, 80, 90]),
        vec![k("d"), k("bb"), k("d"), k("")],
        6,
    )
    .unwrap();
    let before = answers(&m);
    assert_eq!(m.unsorted_rows(), 8);
    m.sort_batches().unwrap();
    assert_eq!(m.unsorted_rows(), 0);
    assert_eq!(answers(&m), before);
    // Each batch now holds its live rows in key order; the replaced "d" row (60) is gone.
    let values = |m: &Memtable, b: usize| -> Vec<i64> {
        let col = m.column_sources(0, Some(0), &DataType::Int64);
        let a = col[b].as_any().downcast_ref::<Int64Array>().unwrap();
        a.values().to_vec()
    };
    assert_eq!(values(&m, 3), vec![90, 70, 80]);
    assert_eq!(values(&m, 0), vec![10, 20]);
    // Later batches are sorted by a later call; earlier ones keep their places.
    m.insert_batch(col(vec![100, 110]), vec![k("z"), k("a")], 7)
        .unwrap();
    let before = answers(&m);
    m.sort_batches().unwrap();
    assert_eq!(answers(&m), before);
    assert_eq!(values(&m, 4), vec![110, 100]);
    assert_eq!(values(&m, 3), vec![90, 70, 80]);
    // A sealed memtable is left as it is.
    m.insert_batch(col(vec![120, 130]), vec![k("y"), k("x")], 8)
        .unwrap();
    m.seal();
    m.sort_batches().unwrap();
    assert_eq!(values(&m, 5), vec![120, 130]);
}

#[test]
fn merged_sealed_memtables_answer_as_one_memtable_holding_their_writes() {
    let table = crate::schema::TableSchema::with_key_name(v_schema(), "v").unwrap();
    let mut whole = valued();
    whole.seal();
    let want = answers(&whole);
    // The same writes as three memtables sealed one after another.
    let mut parts = vec![Memtable::new(), Memtable::new(), Memtable::new()];
    parts[0]
        .insert_batch(ints(vec![10, 20]), vec![k("a"), k("b")], 1)
        .unwrap();
    parts[1]
        .insert_batch(ints(vec![30]), vec![k("a")], 3)
        .unwrap();
    parts[1]
        .delete_batch(ints(vec![40]), vec![k("b")], 4)
        .unwrap();
    parts[2]
        .insert_batch(ints(vec![50]), vec![k("c")], 5)
        .unwrap();
    for p in &mut parts {
        p.seal();
    }
    let refs: Vec<&Memtable> = parts.iter().collect();
    assert!(
        Memtable::merge_sealed(&refs, &table).unwrap().is_none(),
        "parts that are not runs yet are left alone"
    );
    for p in &mut parts {
        p.sort_into_run(&table);
    }
    let refs: Vec<&Memtable> = parts.iter().collect();
    let mut merged = Memtable::merge_sealed(&refs, &table).unwrap().unwrap();
    assert_eq!(answers(&merged), want);
    assert_eq!(
        (merged.rows(), merged.versions(), merged.max_ts()),
        (5, 5, Some(5))
    );
    let (_, e) = merged.get(b"a", 9).unwrap();
    assert_eq!(v_of(&merged.row(e, &v_schema()).unwrap().unwrap()), 30);
    assert!(
        merged.get(b"zz", 9).is_none(),
        "the filter covers every part's keys"
    );
    assert!(
        merged.insert_batch(batch(1), vec![k("new")], 6).is_err(),
        "merged is sealed"
    );
}
