//! Rows picked from several arrays into one array, in the order given: what seals, run merges,
//! scans and compactions do to every column they rebuild.
//!
//! Arrow's `interleave` does the same for every type, and in arrow 58 it is one function of
//! 56 KB of wasm. Chromium compiles a hot wasm function a second time with its optimizing
//! compiler, in the background; for that one function it took 35-41 ms, and on a 2-core
//! machine it landed in a browser's first full scan (the benchmark's B3 ran 20% slower for it).
//! The column types tables hold most (strings, binary, booleans, integers, floats, dates,
//! timestamps) are gathered here by small functions, one per type; any other type goes to
//! `interleave`, with the same result, as do byte columns outside wasm (where arrow's is faster).

use std::sync::Arc;

use arrow_array::builder::GenericByteBuilder;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    BinaryType, ByteArrayType, Date32Type, Date64Type, Float32Type, Float64Type, Int8Type,
    Int16Type, Int32Type, Int64Type, LargeBinaryType, LargeUtf8Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type, Utf8Type,
};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, BooleanArray, PrimitiveArray};
use arrow_buffer::{ArrowNativeType, NullBuffer, NullBufferBuilder};
use arrow_schema::{ArrowError, DataType, TimeUnit};

/// Whether byte columns are gathered here (see the note in [`gather`]); a constant, so that
/// both ways compile and are tested on every target.
const IN_WASM: bool = cfg!(target_arch = "wasm32");

/// Row `picks[i].1` of `values[picks[i].0]` as row `i` of a new array. Every array must have
/// the type of the first; a pick out of range is an error (arrow's `interleave` would panic).
pub fn gather(values: &[&dyn Array], picks: &[(usize, usize)]) -> Result<ArrayRef, ArrowError> {
    let Some(first) = values.first() else {
        return arrow_select::interleave::interleave(values, picks);
    };
    let dt = first.data_type();
    if values.iter().any(|a| a.data_type() != dt) {
        return arrow_select::interleave::interleave(values, picks);
    }
    let gathered = match dt {
        // Natively, arrow's string gather is 15-20% faster than a builder's (measured on 1M
        // rows of ~110 bytes), and tier-up does not exist there: strings and binary take it.
        DataType::Utf8 if IN_WASM => bytes::<Utf8Type>(values, picks),
        DataType::LargeUtf8 if IN_WASM => bytes::<LargeUtf8Type>(values, picks),
        DataType::Binary if IN_WASM => bytes::<BinaryType>(values, picks),
        DataType::LargeBinary if IN_WASM => bytes::<LargeBinaryType>(values, picks),
        DataType::Boolean => booleans(values, picks),
        DataType::Int8 => primitives::<Int8Type>(values, picks, dt),
        DataType::Int16 => primitives::<Int16Type>(values, picks, dt),
        DataType::Int32 => primitives::<Int32Type>(values, picks, dt),
        DataType::Int64 => primitives::<Int64Type>(values, picks, dt),
        DataType::UInt8 => primitives::<UInt8Type>(values, picks, dt),
        DataType::UInt16 => primitives::<UInt16Type>(values, picks, dt),
        DataType::UInt32 => primitives::<UInt32Type>(values, picks, dt),
        DataType::UInt64 => primitives::<UInt64Type>(values, picks, dt),
        DataType::Float32 => primitives::<Float32Type>(values, picks, dt),
        DataType::Float64 => primitives::<Float64Type>(values, picks, dt),
        DataType::Date32 => primitives::<Date32Type>(values, picks, dt),
        DataType::Date64 => primitives::<Date64Type>(values, picks, dt),
        DataType::Timestamp(TimeUnit::Second, _) => {
            primitives::<TimestampSecondType>(values, picks, dt)
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            primitives::<TimestampMillisecondType>(values, picks, dt)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            primitives::<TimestampMicrosecondType>(values, picks, dt)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            primitives::<TimestampNanosecondType>(values, picks, dt)
        }
        _ => None,
    };
    if let Some(array) = gathered {
        return Ok(array);
    }
    // A typed gather gives up on a pick out of range (arrow's `interleave` would panic on it).
    for &(a, r) in picks {
        if values.get(a).is_none_or(|v| r >= v.len()) {
            return Err(ArrowError::InvalidArgumentError(format!(
                "gather: row {r} of array {a} does not exist"
            )));
        }
    }
    arrow_select::interleave::interleave(values, picks)
}

/// The validity of the picked rows, or `None` when no input has a null (the usual case,
/// which then costs nothing per row).
fn picked_nulls(values: &[&dyn Array], picks: &[(usize, usize)]) -> Option<Option<NullBuffer>> {
    if values.iter().all(|a| a.null_count() == 0) {
        return Some(None);
    }
    let mut nulls = NullBufferBuilder::new(picks.len());
    for &(a, r) in picks {
        nulls.append(values.get(a)?.is_valid(r));
    }
    Some(nulls.finish())
}

/// `None` when a pick is out of range or an array is not of the type its data type says.
fn bytes<T: ByteArrayType>(values: &[&dyn Array], picks: &[(usize, usize)]) -> Option<ArrayRef> {
    let arrays = values
        .iter()
        .map(|a| a.as_bytes_opt::<T>())
        .collect::<Option<Vec<_>>>()?;
    let mut total = 0usize;
    for &(a, r) in picks {
        let array = arrays.get(a)?;
        if r >= array.len() {
            return None;
        }
        total = total.checked_add(array.value_length(r).as_usize())?;
    }
    // Past what the offsets can address, arrow's interleave returns its overflow error.
    T::Offset::from_usize(total)?;
    let mut out = GenericByteBuilder::<T>::with_capacity(picks.len(), total);
    if values.iter().all(|a| a.null_count() == 0) {
        for &(a, r) in picks {
            out.append_value(arrays.get(a)?.value(r));
        }
    } else {
        for &(a, r) in picks {
            let array = arrays.get(a)?;
            if array.is_null(r) {
                out.append_null();
            } else {
                out.append_value(array.value(r));
            }
        }
    }
    Some(Arc::new(out.finish()))
}

fn booleans(values: &[&dyn Array], picks: &[(usize, usize)]) -> Option<ArrayRef> {
    let arrays = values
        .iter()
        .map(|a| a.as_boolean_opt())
        .collect::<Option<Vec<_>>>()?;
    let mut bits = Vec::with_capacity(picks.len());
    for &(a, r) in picks {
        let array = arrays.get(a)?;
        if r >= array.len() {
            return None;
        }
        bits.push(array.value(r));
    }
    // Both have one entry per pick.
    let nulls = picked_nulls(values, picks)?;
    Some(Arc::new(BooleanArray::new(bits.into(), nulls)))
}

fn primitives<T: ArrowPrimitiveType>(
    values: &[&dyn Array],
    picks: &[(usize, usize)],
    dt: &DataType,
) -> Option<ArrayRef> {
    let raw = values
        .iter()
        .map(|a| a.as_primitive_opt::<T>().map(|p| p.values().as_ref()))
        .collect::<Option<Vec<&[T::Native]>>>()?;
    let mut out = Vec::with_capacity(picks.len());
    for &(a, r) in picks {
        out.push(*raw.get(a)?.get(r)?);
    }
    let array = PrimitiveArray::<T>::try_new(out.into(), picked_nulls(values, picks)?).ok()?;
    Some(Arc::new(array.with_data_type(dt.clone())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use arrow_array::{
        BinaryArray, BooleanArray, Float64Array, Int32Array, LargeStringArray, StringArray,
        TimestampMillisecondArray, UInt64Array,
    };

    use super::*;

    /// Two or three arrays of each type, with nulls, sliced off zero, gathered in a scrambled
    /// order: the same array arrow's `interleave` makes.
    #[test]
    fn gathers_what_interleave_gathers_for_every_type_it_handles() {
        let text = |salt: usize| -> Vec<Option<String>> {
            (0..40)
                .map(|i| (i % 7 != 3).then(|| "é\0x".repeat((i + salt) % 5)))
                .collect()
        };
        let sets: Vec<Vec<ArrayRef>> = vec![
            vec![
                Arc::new(StringArray::from(text(0))),
                Arc::new(StringArray::from(text(1)).slice(3, 30)),
            ],
            vec![
                Arc::new(LargeStringArray::from(text(2))),
                Arc::new(LargeStringArray::from(text(3))),
            ],
            vec![
                Arc::new(BinaryArray::from_iter(
                    (0..40).map(|i| (i % 5 != 0).then(|| vec![i as u8; i % 4])),
                )),
                Arc::new(BinaryArray::from_iter_values(
                    (0..40).map(|i| vec![0u8; i % 3]),
                )),
            ],
            vec![
                Arc::new(BooleanArray::from_iter(
                    (0..40).map(|i| (i % 6 != 1).then_some(i % 3 == 0)),
                )),
                Arc::new(BooleanArray::from_iter((0..40).map(|i| Some(i % 2 == 0))).slice(5, 30)),
            ],
            vec![
                Arc::new(Int32Array::from_iter(
                    (0..40).map(|i| (i % 4 != 0).then_some(i)),
                )),
                Arc::new(Int32Array::from_iter_values(-40..0).slice(1, 35)),
            ],
            vec![
                Arc::new(UInt64Array::from_iter_values(0..40)),
                Arc::new(UInt64Array::from_iter(
                    (0..40).map(|i| (i % 2 == 0).then_some(u64::MAX)),
                )),
            ],
            vec![
                Arc::new(Float64Array::from_iter((0..40).map(|i| {
                    (i % 9 != 2).then_some(if i == 4 { f64::NAN } else { i as f64 / 3.0 })
                }))),
                Arc::new(Float64Array::from_iter_values((0..40).map(|i| -(i as f64)))),
            ],
            vec![
                Arc::new(
                    TimestampMillisecondArray::from_iter_values(0..40).with_timezone("+02:00"),
                ),
                Arc::new(
                    TimestampMillisecondArray::from_iter(
                        (0..40).map(|i| (i % 3 == 0).then_some(i)),
                    )
                    .with_timezone("+02:00"),
                ),
            ],
        ];
        for arrays in sets {
            let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
            let picks: Vec<(usize, usize)> = (0..60)
                .map(|i| (i % refs.len(), (i * 7 + 3) % 30))
                .collect();
            let got = gather(&refs, &picks).unwrap();
            let want = arrow_select::interleave::interleave(&refs, &picks).unwrap();
            // The byte path wasm takes, checked here too.
            let typed = match want.data_type() {
                DataType::Utf8 => bytes::<Utf8Type>(&refs, &picks),
                DataType::LargeUtf8 => bytes::<LargeUtf8Type>(&refs, &picks),
                DataType::Binary => bytes::<BinaryType>(&refs, &picks),
                _ => Some(got.clone()),
            };
            assert_eq!(
                typed.unwrap().to_data(),
                want.to_data(),
                "{}",
                want.data_type()
            );
            assert_eq!(got.data_type(), want.data_type());
            assert_eq!(got.to_data(), want.to_data(), "{}", want.data_type());
            assert_eq!(gather(&refs, &[]).unwrap().len(), 0);
        }
    }

    #[test]
    fn a_pick_out_of_range_is_an_error_not_a_panic() {
        let a: ArrayRef = Arc::new(Int32Array::from(vec![1, 2]));
        let refs = [a.as_ref()];
        assert!(gather(&refs, &[(0, 2)]).is_err());
        assert!(gather(&refs, &[(1, 0)]).is_err());
        // Types left to arrow's interleave still gather.
        let d: ArrayRef = Arc::new(arrow_array::Decimal128Array::from(vec![5, 6]));
        let got = gather(&[d.as_ref()], &[(0, 1)]).unwrap();
        assert_eq!(got.len(), 1);
    }
}
