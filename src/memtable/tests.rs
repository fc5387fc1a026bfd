use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

use super::*;

fn batch(n: usize) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![0i64; n]))]).unwrap()
}

fn k(s: &str) -> KeyBytes {
    s.as_bytes().into()
}

fn table() -> Memtable {
    let mut m = Memtable::new();
    m.insert_batch(batch(2), vec![k("a"), k("b")], 1);
    m.insert_batch(batch(1), vec![k("a")], 3);
    m.delete_batch(batch(1), vec![k("b")], 4);
    m.insert_batch(batch(1), vec![k("c")], 5);
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

#[test]
fn sealed_filter_keeps_every_answer_and_a_later_write_drops_it() {
    let mut m = table();
    m.build_filter();
    // Every answer of the unfiltered table, including tombstones and old versions.
    assert_eq!(m.get(b"a", 2), Some((1, Entry::Row { batch: 0, row: 0 })));
    assert_eq!(m.get(b"a", 9), Some((3, Entry::Row { batch: 1, row: 0 })));
    assert_eq!(
        m.get(b"b", 4),
        Some((4, Entry::Tombstone { batch: 0, row: 0 }))
    );
    assert_eq!(m.get(b"c", 9), Some((5, Entry::Row { batch: 2, row: 0 })));
    assert_eq!(m.get(b"zz", 9), None);
    let sealed = m.memory_bytes();
    // A write after sealing must not be hidden by the (now stale) filter.
    m.insert_batch(batch(1), vec![k("new")], 6);
    assert_eq!(m.get(b"new", 9), Some((6, Entry::Row { batch: 3, row: 0 })));
    assert!(
        m.memory_bytes() < sealed + 200,
        "the filter's bytes are released"
    );
}

#[test]
fn index_key_order_is_key_then_newest_first() {
    // A tiny deterministic generator; short alphabets so shared prefixes, zero bytes, keys
    // that are prefixes of each other and equal heads with different tails are common.
    let mut x: u64 = 0x9e37_79b9;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
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
