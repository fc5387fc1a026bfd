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
