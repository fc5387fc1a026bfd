use std::sync::Arc;

use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Float32Array, Float64Array, Int8Array, Int64Array,
    RecordBatch, StringArray, UInt16Array,
};
use arrow_schema::{Field, Schema};

use super::*;

/// A tiny deterministic generator, so failures replay from the printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Asserts that byte order of the encoded keys equals Arrow's lexicographic order of the rows.
fn assert_same_order(columns: Vec<ArrayRef>) {
    let names: Vec<String> = (0..columns.len()).map(|i| format!("c{i}")).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let keys = encode_rows(&columns, &name_refs).unwrap();
    let fields: Vec<Field> = columns
        .iter()
        .zip(&names)
        .map(|(c, n)| Field::new(n, c.data_type().clone(), false))
        .collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns.clone()).unwrap();
    let comparators: Vec<_> = batch
        .columns()
        .iter()
        .map(|c| arrow_ord::ord::make_comparator(c, c, Default::default()).unwrap())
        .collect();
    for i in 0..batch.num_rows() {
        for j in 0..batch.num_rows() {
            let mut arrow = std::cmp::Ordering::Equal;
            for cmp in &comparators {
                arrow = cmp(i, j);
                if arrow.is_ne() {
                    break;
                }
            }
            assert_eq!(
                keys[i].cmp(&keys[j]),
                arrow,
                "rows {i} and {j} order differently: {:?} vs {:?}",
                keys[i],
                keys[j]
            );
        }
    }
}

#[test]
fn matches_arrow_order_for_floats_including_nan_and_signed_zero() {
    let v = vec![
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        1.5,
        -1.5,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
    ];
    assert_same_order(vec![Arc::new(Float64Array::from(v.clone()))]);
    let v32: Vec<f32> = v.iter().map(|x| *x as f32).collect();
    assert_same_order(vec![Arc::new(Float32Array::from(v32))]);
}

#[test]
fn matches_arrow_order_for_strings_with_embedded_zero_bytes() {
    let v = vec![
        "", "a", "a\0", "a\0\0", "a\u{1}", "ab", "b", "\0", "\u{ff}", "é",
    ];
    assert_same_order(vec![Arc::new(StringArray::from(v))]);
    let b: Vec<&[u8]> = vec![b"", b"\x00", b"\x00\xff", b"\xff", b"\xff\x00", b"a"];
    assert_same_order(vec![Arc::new(BinaryArray::from(b))]);
}

#[test]
fn matches_arrow_order_randomized_composite_keys() {
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let n = 60;
        let alphabet = [b'\0', b'a', b'b', 0xFFu8];
        let strings: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                (0..rng.below(4))
                    .map(|_| alphabet[rng.below(4) as usize])
                    .collect()
            })
            .collect();
        let ints: Vec<i64> = (0..n)
            .map(|_| match rng.below(4) {
                0 => i64::MIN + rng.below(3) as i64,
                1 => i64::MAX - rng.below(3) as i64,
                _ => rng.below(7) as i64 - 3,
            })
            .collect();
        let small: Vec<i8> = (0..n).map(|_| rng.below(256) as u8 as i8).collect();
        let bools: Vec<bool> = (0..n).map(|_| rng.below(2) == 1).collect();
        let u16s: Vec<u16> = (0..n).map(|_| rng.below(3) as u16 * 30000).collect();
        let bins: Vec<&[u8]> = strings.iter().map(Vec::as_slice).collect();
        assert_same_order(vec![
            Arc::new(BinaryArray::from(bins)),
            Arc::new(Int64Array::from(ints)),
            Arc::new(BooleanArray::from(bools)),
            Arc::new(Int8Array::from(small)),
            Arc::new(UInt16Array::from(u16s)),
        ]);
    }
}

#[test]
fn null_key_is_a_typed_error_naming_column_and_row() {
    let col: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None]));
    let err = encode_rows(&[col], &["id"]).unwrap_err();
    assert_eq!(err.code(), crate::error::ErrorCode::KeyNull);
    assert!(err.to_string().contains("'id'") && err.to_string().contains("row 1"));
}

#[test]
fn composite_prefix_is_a_byte_prefix() {
    let a: ArrayRef = Arc::new(StringArray::from(vec!["x", "x", "xy"]));
    let b: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 0]));
    let full = encode_rows(&[a.clone(), b], &["a", "b"]).unwrap();
    let prefix = encode_rows(
        &[Arc::new(StringArray::from(vec!["x"])) as ArrayRef],
        &["a"],
    )
    .unwrap()
    .remove(0);
    assert!(full[0].starts_with(&prefix));
    assert!(full[1].starts_with(&prefix));
    assert!(
        !full[2].starts_with(&prefix),
        "'xy' must not match prefix 'x'"
    );
    let succ = prefix_successor(&prefix).unwrap();
    assert!(full[..2].iter().all(|k| k.as_ref() < succ.as_ref()));
    assert!(full[2].as_ref() > succ.as_ref());
    assert_eq!(prefix_successor(&[0xFF, 0xFF]), None);
}

#[test]
fn unsupported_key_type_is_rejected() {
    let col: ArrayRef = Arc::new(arrow_array::ListArray::from_iter_primitive::<
        arrow_array::types::Int32Type,
        _,
        _,
    >(vec![Some(vec![Some(1)])]));
    assert!(!crate::schema::is_key_type(col.data_type()));
    let err = encode_rows(&[col], &["l"]).unwrap_err();
    assert_eq!(err.code(), crate::error::ErrorCode::InvalidArgument);
    assert!(err.to_string().contains("'l'"), "{err}");
}

#[test]
fn exact_values_encode_as_their_one_row_columns_do() {
    use crate::value::Value;
    let cases: Vec<(Value, ArrayRef)> = vec![
        (
            Value::Str("a\0b".into()),
            Arc::new(StringArray::from(vec!["a\0b"])),
        ),
        (
            Value::Str("é ü".repeat(40)),
            Arc::new(arrow_array::LargeStringArray::from(vec!["é ü".repeat(40)])),
        ),
        (
            Value::Bytes(vec![0, 255, 0, 0]),
            Arc::new(BinaryArray::from(vec![&[0u8, 255, 0, 0][..]])),
        ),
        (Value::Int(-7), Arc::new(Int64Array::from(vec![-7]))),
        (
            Value::Int(i64::MAX),
            Arc::new(Int64Array::from(vec![i64::MAX])),
        ),
        (Value::Bool(true), Arc::new(BooleanArray::from(vec![true]))),
    ];
    for (value, column) in cases {
        let mut got = vec![9u8];
        assert!(
            encode_exact(&value, column.data_type(), &mut got),
            "{value:?}"
        );
        let want = encode_rows(&[column], &["k"]).unwrap();
        assert_eq!(&got[1..], &*want[0], "{value:?}");
    }
    // Pairings that need a conversion (or are refused) are left to the general path.
    for (value, data_type) in [
        (Value::Int(5), DataType::Int32),
        (Value::Float(1.0), DataType::Int64),
        (Value::Str("1".into()), DataType::Int64),
        (Value::Bytes(vec![1]), DataType::Utf8),
        (Value::Null, DataType::Utf8),
    ] {
        let mut got = Vec::new();
        assert!(
            !encode_exact(&value, &data_type, &mut got),
            "{value:?} into {data_type}"
        );
        assert!(got.is_empty());
    }
}
