//! Round trips of the encoder through the decoder, and streams the decoder must refuse
//! before arrow's reader allocates or panics.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use arrow_array::{Int32Array, RecordBatch, StringArray};
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::encode::stream_writer;
use super::*;

fn reference(schema: &SchemaRef, batches: &[RecordBatch]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = StreamWriter::try_new(&mut out, schema).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
    drop(w);
    out
}

fn joined(schema: &SchemaRef, batches: &[RecordBatch]) -> Vec<u8> {
    encode_parts(schema, batches)
        .unwrap()
        .iter()
        .flat_map(|p| p.as_slice().to_vec())
        .collect()
}

/// A 300-row batch of every flat column type the encoders lay out themselves (nulls, strings
/// with multi-byte and zero bytes, a Null column, fixed-size binary) and some they leave to
/// arrow's writer's buffers (decimals, intervals, durations).
fn every_flat_column() -> (SchemaRef, RecordBatch) {
    use arrow_array::{
        Array, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Decimal256Array,
        DurationSecondArray, FixedSizeBinaryArray, Float64Array, Int64Array,
        IntervalMonthDayNanoArray, LargeBinaryArray, LargeStringArray, NullArray,
        Time64MicrosecondArray,
    };
    let n = 300usize;
    let text: Vec<Option<String>> = (0..n)
        .map(|i| (i % 7 != 3).then(|| "xé\0".repeat(i % 13)))
        .collect();
    let columns: Vec<(&str, arrow_array::ArrayRef)> = vec![
        ("s", Arc::new(StringArray::from(text.clone()))),
        ("ls", Arc::new(LargeStringArray::from(text.clone()))),
        (
            "b",
            Arc::new(BinaryArray::from_iter_values(
                (0..n).map(|i| vec![i as u8; i % 5]),
            )),
        ),
        (
            "i",
            Arc::new(Int32Array::from_iter(
                (0..n).map(|i| (i % 4 != 0).then_some(i as i32)),
            )),
        ),
        ("l", Arc::new(Int64Array::from_iter_values(0..n as i64))),
        (
            "f",
            Arc::new(Float64Array::from_iter_values(
                (0..n).map(|i| i as f64 / 3.0),
            )),
        ),
        (
            "t",
            Arc::new(BooleanArray::from_iter(
                (0..n).map(|i| (i % 5 != 1).then_some(i % 3 == 0)),
            )),
        ),
        ("d", Arc::new(Date32Array::from_iter_values(0..n as i32))),
        (
            "m",
            Arc::new(
                Decimal128Array::from_iter_values((0..n).map(|i| i as i128 * 1000))
                    .with_precision_and_scale(20, 3)
                    .unwrap(),
            ),
        ),
        (
            "x",
            Arc::new(FixedSizeBinaryArray::try_from_iter((0..n).map(|i| [i as u8; 3])).unwrap()),
        ),
        ("z", Arc::new(NullArray::new(n))),
        (
            "lb",
            Arc::new(LargeBinaryArray::from_iter(
                (0..n).map(|i| (i % 6 != 2).then(|| vec![i as u8; i % 4])),
            )),
        ),
        (
            "tm",
            Arc::new(Time64MicrosecondArray::from_iter_values(
                (0..n).map(|i| i as i64 * 7),
            )),
        ),
        (
            "du",
            Arc::new(DurationSecondArray::from_iter(
                (0..n).map(|i| (i % 9 != 0).then_some(i as i64)),
            )),
        ),
        (
            "iv",
            Arc::new(IntervalMonthDayNanoArray::from_iter_values((0..n).map(
                |i| arrow_buffer::IntervalMonthDayNano::new(i as i32, 1, i as i64),
            ))),
        ),
        (
            "d2",
            Arc::new(
                Decimal256Array::from_iter_values(
                    (0..n).map(|i| arrow_buffer::i256::from_i128(i as i128 - 7)),
                )
                .with_precision_and_scale(40, 2)
                .unwrap(),
            ),
        ),
    ];
    let schema: SchemaRef = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let whole = RecordBatch::try_new(
        schema.clone(),
        columns.iter().map(|c| c.1.clone()).collect(),
    )
    .unwrap();
    (schema, whole)
}

#[test]
fn scan_pieces_share_column_buffers_and_decode_to_the_same_rows() {
    use arrow_array::{Array, StringViewArray};
    let (schema, whole) = every_flat_column();
    // Slices starting on and off byte boundaries, offsets not starting at zero, empty.
    let batches = vec![
        whole.slice(0, 128),
        whole.slice(128, 64),
        whole.slice(195, 100),
        whole.slice(299, 1),
        whole.slice(5, 0),
    ];
    let (back_schema, back) = decode_stream(&joined(&schema, &batches)).unwrap();
    assert_eq!(back_schema, schema);
    assert_eq!(back, batches);
    // The body of a batch is its columns' buffers, not copies: the string values of the
    // second slice are a piece at the address they have in the column.
    let values = whole.column(0).to_data().buffers()[1].as_ptr();
    let second = &batches[1..2];
    let at = second[0]
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let first = at.value_offsets()[0] as usize;
    let shared = encode_parts(&schema, second)
        .unwrap()
        .iter()
        .any(|p| matches!(p, Piece::Buffer(b) if b.as_ptr() == values.wrapping_add(first)));
    assert!(shared, "string values shared with the column");
    // So is a validity bitmap sliced at a byte boundary (row 128 is bit 0 of byte 16).
    let validity = whole.column(3).nulls().unwrap().buffer().as_ptr();
    let shared = encode_parts(&schema, second)
        .unwrap()
        .iter()
        .any(|p| matches!(p, Piece::Buffer(b) if b.as_ptr() == validity.wrapping_add(16)));
    assert!(shared, "validity shared with the column");
    // A column type laid out by arrow's writer instead still round-trips.
    let view: SchemaRef = Arc::new(Schema::new(vec![Field::new(
        "v",
        DataType::Utf8View,
        false,
    )]));
    let views = RecordBatch::try_new(
        view.clone(),
        vec![Arc::new(StringViewArray::from_iter_values([
            "a",
            "long enough to spill",
        ]))],
    )
    .unwrap();
    let (_, back) = decode_stream(&joined(&view, std::slice::from_ref(&views))).unwrap();
    assert_eq!(back, vec![views]);
}

#[test]
fn streams_decode_to_their_batches_for_each_schema_and_the_schema_message_is_arrows() {
    let a: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("n", DataType::Int32, true),
    ]));
    let b: SchemaRef = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
    let batch_a = RecordBatch::try_new(
        a.clone(),
        vec![
            Arc::new(StringArray::from(vec!["p", "qq", "rrr"])),
            Arc::new(Int32Array::from(vec![Some(1), None, Some(3)])),
        ],
    )
    .unwrap();
    // A slice (what a get returns).
    let one = batch_a.slice(1, 1);
    let batch_b =
        RecordBatch::try_new(b.clone(), vec![Arc::new(Int32Array::from(vec![7]))]).unwrap();
    let round_trip = |schema: &SchemaRef, batches: &[RecordBatch]| {
        let bytes = encode_stream(schema, batches).unwrap();
        assert_eq!(
            bytes,
            joined(schema, batches),
            "one buffer = the pieces laid end to end"
        );
        let (back_schema, back) = decode_stream(&bytes).unwrap();
        assert_eq!(&back_schema, schema);
        assert_eq!(back, batches);
    };
    // Alternate schemas so the one-entry cache is both hit and replaced.
    for _ in 0..2 {
        round_trip(&a, std::slice::from_ref(&one));
        round_trip(&a, &[batch_a.clone(), one.clone()]);
        round_trip(&b, std::slice::from_ref(&batch_b));
        round_trip(&b, &[]);
        // Without batches the bytes are arrow's own (the manifest fingerprints them).
        assert_eq!(encode_stream(&a, &[]).unwrap(), reference(&a, &[]));
        assert_eq!(encode_stream(&b, &[]).unwrap(), reference(&b, &[]));
    }
    let (schema, batches) = decode_stream(&encode_stream(&a, &[one]).unwrap()).unwrap();
    assert_eq!(schema, a);
    assert_eq!(batches.first().map(|b| b.num_rows()), Some(1));
}

/// The byte offset of the first record batch message's metadata in `bytes`, and its length.
fn batch_message(bytes: &[u8]) -> (usize, usize) {
    let mut at = 0;
    loop {
        let len = i32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        let meta = &bytes[at + 8..at + 8 + len];
        let m = arrow_ipc::root_as_message(meta).unwrap();
        if m.header_type() == arrow_ipc::MessageHeader::RecordBatch {
            return (at + 8, len);
        }
        at += 8 + len + m.bodyLength() as usize;
    }
}

#[test]
fn a_stream_declaring_a_body_longer_than_its_bytes_is_refused_before_allocating() {
    let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new("v", DataType::Utf8, false)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(StringArray::from(vec!["a", "bb"]))],
    )
    .unwrap();
    let good = stream_writer(&schema, &[batch]).unwrap();
    assert!(decode_stream(&good).is_ok());
    let (start, len) = batch_message(&good);
    let body = arrow_ipc::root_as_message(&good[start..start + len])
        .unwrap()
        .bodyLength();
    // Patch the header's bodyLength field (find the i64 that holds it) to 1 TiB and 2^62.
    for huge in [1i64 << 40, 1i64 << 62, -8] {
        let mut bomb = good.clone();
        let mut patched = false;
        for i in start..start + len - 7 {
            if bomb[i..i + 8] == body.to_le_bytes() {
                bomb[i..i + 8].copy_from_slice(&huge.to_le_bytes());
                if arrow_ipc::root_as_message(&bomb[start..start + len])
                    .is_ok_and(|m| m.bodyLength() == huge)
                {
                    patched = true;
                    break;
                }
                bomb[i..i + 8].copy_from_slice(&body.to_le_bytes());
            }
        }
        assert!(patched, "found the bodyLength field");
        let err = decode_stream(&bomb).unwrap_err();
        assert_eq!(
            err.code(),
            crate::error::ErrorCode::InvalidArgument,
            "{err}"
        );
    }
    // A metadata length past the end, a negative one, and a cut stream.
    let mut meta_bomb = good.clone();
    meta_bomb[start - 4..start].copy_from_slice(&i32::MAX.to_le_bytes());
    assert_eq!(
        decode_stream(&meta_bomb).unwrap_err().code(),
        crate::error::ErrorCode::InvalidArgument
    );
    meta_bomb[start - 4..start].copy_from_slice(&(-5i32).to_le_bytes());
    assert_eq!(
        decode_stream(&meta_bomb).unwrap_err().code(),
        crate::error::ErrorCode::InvalidArgument
    );
    // A buffer that lies outside the body (found by the ipc_stream fuzz target: arrow's
    // reader panicked slicing it). Patch the values buffer's length field.
    let values_len = 3i64; // "a" + "bb"
    let mut outside = good.clone();
    let mut patched = false;
    for i in start..start + len - 7 {
        if outside[i..i + 8] == values_len.to_le_bytes() {
            outside[i..i + 8].copy_from_slice(&(1i64 << 20).to_le_bytes());
            let hit = arrow_ipc::root_as_message(&outside[start..start + len])
                .ok()
                .and_then(|m| m.header_as_record_batch())
                .and_then(|b| b.buffers())
                .is_some_and(|bufs| bufs.iter().any(|x| x.length() == 1 << 20));
            if hit {
                patched = true;
                break;
            }
            outside[i..i + 8].copy_from_slice(&values_len.to_le_bytes());
        }
    }
    assert!(patched, "found the values buffer's length");
    let err = decode_stream(&outside).unwrap_err();
    assert_eq!(
        err.code(),
        crate::error::ErrorCode::InvalidArgument,
        "{err}"
    );
    for cut in [1, 3, 5, start, start + len, good.len() - 9] {
        assert_eq!(
            decode_stream(&good[..cut]).unwrap_err().code(),
            crate::error::ErrorCode::InvalidArgument,
            "cut at {cut}"
        );
    }
}

fn small_batch() -> RecordBatch {
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("v", DataType::Int32, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["a", "ключ", "c"])),
            Arc::new(Int32Array::from(vec![Some(1), None, Some(3)])),
        ],
    )
    .unwrap()
}

fn file_of(batches: &[RecordBatch]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::FileWriter::try_new(&mut out, &batches[0].schema()).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
    drop(w);
    out
}

#[test]
fn the_file_format_decodes_to_the_batches_it_holds() {
    let b = small_batch();
    let batches = [b.slice(0, 2), b.slice(2, 1)];
    let (schema, back) = decode_stream_or_file(&file_of(&batches)).unwrap();
    assert_eq!(schema, b.schema());
    assert_eq!(back, batches);
    // A stream still decodes the same way.
    let (_, back) = decode_stream_or_file(&joined(&b.schema(), &batches)).unwrap();
    assert_eq!(back, batches);
}

#[test]
fn a_cut_or_lying_file_is_refused_without_a_panic() {
    let file = file_of(&[small_batch()]);
    for cut in 0..file.len() {
        if let Err(e) = decode_stream_or_file(&file[..cut]) {
            assert_eq!(e.code(), crate::ErrorCode::InvalidArgument, "cut at {cut}");
        }
    }
    // Cut short: the closing magic is missing.
    let e = decode_stream_or_file(&file[..file.len() - 1]).unwrap_err();
    assert!(e.to_string().contains("closing magic"), "{e}");
    // A footer length longer than the file.
    let mut lying = file.clone();
    let at = lying.len() - 10;
    lying[at..at + 4].copy_from_slice(&i32::MAX.to_le_bytes());
    let e = decode_stream_or_file(&lying).unwrap_err();
    assert!(e.to_string().contains("footer longer"), "{e}");
    let mut negative = file.clone();
    negative[at..at + 4].copy_from_slice(&(-5i32).to_le_bytes());
    assert!(decode_stream_or_file(&negative).is_err());
    // Any one byte changed (footer offsets and lengths included) is an answer or a refusal,
    // never a panic (a trap in wasm).
    for i in 0..file.len() {
        for v in [0x00, 0x7f, 0xff, file[i] ^ 0x10] {
            let mut changed = file.clone();
            changed[i] = v;
            if let Err(e) = decode_stream_or_file(&changed) {
                assert_eq!(
                    e.code(),
                    crate::ErrorCode::InvalidArgument,
                    "byte {i} = {v}"
                );
            }
        }
    }
}

#[test]
fn one_buffer_streams_are_the_pieces_laid_end_to_end() {
    use arrow_array::StringViewArray;
    let (schema, whole) = every_flat_column();
    let n = whole.num_rows();
    // Slices at and off byte boundaries, of one row (a get) and of many, and none at all.
    for (at, len) in [
        (0, n),
        (1, 1),
        (128, 1),
        (3, 77),
        (131, 100),
        (299, 1),
        (5, 0),
    ] {
        let batches = vec![whole.slice(at, len), whole.slice(0, 2)];
        let one = encode_stream(&schema, &batches).unwrap();
        assert_eq!(one, joined(&schema, &batches), "slice {at}+{len}");
        let (_, back) = decode_stream(&one).unwrap();
        assert_eq!(back, batches, "slice {at}+{len}");
    }
    assert_eq!(
        encode_stream(&schema, &[]).unwrap(),
        joined(&schema, &[]),
        "no batches"
    );
    // A column type the one-buffer writer leaves to arrow's encoder, in a flat schema.
    let view: SchemaRef = Arc::new(Schema::new(vec![Field::new(
        "v",
        DataType::Utf8View,
        false,
    )]));
    let views = RecordBatch::try_new(
        view.clone(),
        vec![Arc::new(StringViewArray::from_iter_values([
            "a",
            "long enough to spill",
        ]))],
    )
    .unwrap();
    let one = encode_stream(&view, std::slice::from_ref(&views)).unwrap();
    assert_eq!(one, joined(&view, std::slice::from_ref(&views)));
}
