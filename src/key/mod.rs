//! Order-preserving ("memcomparable") byte encoding of primary keys.
//!
//! Every key, single or composite, becomes one byte string whose lexicographic order equals the
//! key's order under Arrow's own comparison (`arrow_ord`'s total order for floats). One `memcmp`
//! then orders keys of any type, and a composite-key prefix is a byte prefix.
//!
//! Per column, appended in key order (the encoding is self-delimiting, so columns concatenate):
//! - unsigned ints: big-endian bytes.
//! - signed ints, dates, timestamps: big-endian with the sign bit flipped.
//! - floats: IEEE bits; negative values have every bit inverted, others only the sign bit, which
//!   yields the total order -NaN < -inf < ... < -0.0 < +0.0 < ... < +inf < +NaN.
//! - bool: one byte, 0 or 1.
//! - utf8 / binary: the bytes with each `0x00` written as `0x00 0xFF`, then the terminator
//!   `0x00 0x00`; so "a" < "a\0" < "a\x01" < "ab".
//! - fixed-size binary: the raw bytes (all values have the same length).
//!
//! Invariant (pinned by `tests::matches_arrow_order_*` and the model test): for rows x, y,
//! `encode(x) < encode(y)` iff x sorts before y by Arrow's lexicographic row comparison.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType};
use arrow_schema::{DataType, TimeUnit};

use crate::error::{Error, Result};
use crate::value::Value;

/// An encoded key: compare with `Ord` on the bytes.
pub type KeyBytes = Box<[u8]>;

/// A commit timestamp. Timestamps of committed writes start at 1 and strictly increase. It
/// lives beside the key because every layer that stores a key version stores one.
pub type Timestamp = u64;

/// A key's first eight bytes as a big-endian number, zero-padded. Heads order as the keys do
/// (when two heads differ, they differ at a byte both keys have, or one past the end of the
/// shorter key, which is then a prefix of the longer one and sorts first either way), so most
/// key comparisons in the memtable index, the runs and the merge are one integer comparison.
pub fn head(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    for (d, s) in b.iter_mut().zip(key.iter()) {
        *d = *s;
    }
    u64::from_be_bytes(b)
}

/// Encodes the key of every row of `columns` (the key columns in key order, all the same length).
///
/// `names` are the key column names, used in the error for a null key.
pub fn encode_rows(columns: &[ArrayRef], names: &[&str]) -> Result<Vec<KeyBytes>> {
    let rows = columns.first().map_or(0, |c| c.len());
    let mut out: Vec<Vec<u8>> = vec![Vec::with_capacity(16); rows];
    for (col, name) in columns.iter().zip(names) {
        if col.len() != rows {
            return Err(Error::Internal(format!(
                "key column '{name}' has {} rows, expected {rows}",
                col.len()
            )));
        }
        if col.logical_null_count() > 0 {
            let row = (0..rows).find(|&r| col.is_null(r)).unwrap_or(0);
            return Err(Error::KeyNull {
                column: (*name).to_owned(),
                row,
            });
        }
        encode_column(col, &mut out, name)?;
    }
    Ok(out.into_iter().map(Vec::into_boxed_slice).collect())
}

/// Appends the encoding of one key value that its column takes without conversion (a string
/// into a string column, bytes into a binary one, an integer into an int64 one, a boolean):
/// the bytes [`encode_rows`] writes for that cell. Returns `false`, having appended nothing,
/// for any other pairing, which goes the general way (a column built, then encoded). A point
/// get encodes one key; building a one-row column for it was a sixth of the get.
pub fn encode_exact(value: &Value, data_type: &DataType, buf: &mut Vec<u8>) -> bool {
    match (value, data_type) {
        (Value::Str(s), DataType::Utf8 | DataType::LargeUtf8) => escape_bytes(s.as_bytes(), buf),
        (Value::Bytes(b), DataType::Binary | DataType::LargeBinary) => escape_bytes(b, buf),
        (Value::Int(i), DataType::Int64) => buf.extend_from_slice(&i64_bytes(*i)),
        (Value::Bool(b), DataType::Boolean) => buf.push(u8::from(*b)),
        _ => return false,
    }
    true
}

fn encode_column(col: &ArrayRef, out: &mut [Vec<u8>], name: &str) -> Result<()> {
    match col.data_type() {
        DataType::Boolean => {
            let a = col.as_boolean();
            for (r, buf) in out.iter_mut().enumerate() {
                buf.push(u8::from(a.value(r)));
            }
        }
        DataType::Int8 => fixed::<Int8Type, _>(col, out, |v| (v as u8 ^ 0x80).to_be_bytes()),
        DataType::Int16 => {
            fixed::<Int16Type, _>(col, out, |v| (v as u16 ^ (1 << 15)).to_be_bytes())
        }
        DataType::Int32 | DataType::Date32 => {
            if let DataType::Date32 = col.data_type() {
                fixed::<Date32Type, _>(col, out, |v| (v as u32 ^ (1 << 31)).to_be_bytes())
            } else {
                fixed::<Int32Type, _>(col, out, |v| (v as u32 ^ (1 << 31)).to_be_bytes())
            }
        }
        DataType::Int64 => fixed::<Int64Type, _>(col, out, i64_bytes),
        DataType::Date64 => fixed::<Date64Type, _>(col, out, i64_bytes),
        DataType::Timestamp(unit, _) => match unit {
            TimeUnit::Second => fixed::<TimestampSecondType, _>(col, out, i64_bytes),
            TimeUnit::Millisecond => fixed::<TimestampMillisecondType, _>(col, out, i64_bytes),
            TimeUnit::Microsecond => fixed::<TimestampMicrosecondType, _>(col, out, i64_bytes),
            TimeUnit::Nanosecond => fixed::<TimestampNanosecondType, _>(col, out, i64_bytes),
        },
        DataType::UInt8 => fixed::<UInt8Type, _>(col, out, |v| v.to_be_bytes()),
        DataType::UInt16 => fixed::<UInt16Type, _>(col, out, |v| v.to_be_bytes()),
        DataType::UInt32 => fixed::<UInt32Type, _>(col, out, |v| v.to_be_bytes()),
        DataType::UInt64 => fixed::<UInt64Type, _>(col, out, |v| v.to_be_bytes()),
        DataType::Float32 => fixed::<Float32Type, _>(col, out, |v| {
            let bits = v.to_bits();
            let flipped = if bits >> 31 == 1 {
                !bits
            } else {
                bits ^ (1 << 31)
            };
            flipped.to_be_bytes()
        }),
        DataType::Float64 => fixed::<Float64Type, _>(col, out, |v| {
            let bits = v.to_bits();
            let flipped = if bits >> 63 == 1 {
                !bits
            } else {
                bits ^ (1 << 63)
            };
            flipped.to_be_bytes()
        }),
        DataType::Utf8 => {
            let a = col.as_string::<i32>();
            for (r, buf) in out.iter_mut().enumerate() {
                escape_bytes(a.value(r).as_bytes(), buf);
            }
        }
        DataType::LargeUtf8 => {
            let a = col.as_string::<i64>();
            for (r, buf) in out.iter_mut().enumerate() {
                escape_bytes(a.value(r).as_bytes(), buf);
            }
        }
        DataType::Binary => {
            let a = col.as_binary::<i32>();
            for (r, buf) in out.iter_mut().enumerate() {
                escape_bytes(a.value(r), buf);
            }
        }
        DataType::LargeBinary => {
            let a = col.as_binary::<i64>();
            for (r, buf) in out.iter_mut().enumerate() {
                escape_bytes(a.value(r), buf);
            }
        }
        DataType::FixedSizeBinary(_) => {
            let a = col.as_fixed_size_binary();
            for (r, buf) in out.iter_mut().enumerate() {
                buf.extend_from_slice(a.value(r));
            }
        }
        other => {
            return Err(Error::InvalidArgument(format!(
                "key column '{name}' has type {other}, which cannot be a key"
            )));
        }
    }
    Ok(())
}

fn i64_bytes(v: i64) -> [u8; 8] {
    (v as u64 ^ (1 << 63)).to_be_bytes()
}

/// Appends the fixed-width encoding of each value of a primitive column.
fn fixed<T: ArrowPrimitiveType, const N: usize>(
    col: &ArrayRef,
    out: &mut [Vec<u8>],
    enc: impl Fn(T::Native) -> [u8; N],
) {
    let a = col.as_primitive::<T>();
    for (v, buf) in a.values().iter().zip(out.iter_mut()) {
        buf.extend_from_slice(&enc(*v));
    }
}

fn escape_bytes(bytes: &[u8], buf: &mut Vec<u8>) {
    buf.reserve(bytes.len() + 2);
    for &b in bytes {
        buf.push(b);
        if b == 0 {
            buf.push(0xFF);
        }
    }
    buf.extend_from_slice(&[0, 0]);
}

/// The smallest byte string greater than every string that starts with `prefix`, or `None` when
/// no such string exists (the prefix is all `0xFF`). Used to turn a prefix scan into a range.
pub fn prefix_successor(prefix: &[u8]) -> Option<KeyBytes> {
    let mut v = prefix.to_vec();
    while let Some(last) = v.pop() {
        if last < 0xFF {
            v.push(last + 1);
            return Some(v.into_boxed_slice());
        }
    }
    None
}

/// Borrows a bound on an encoded key as a bound on bytes.
pub fn bound_slice(b: &std::ops::Bound<KeyBytes>) -> std::ops::Bound<&[u8]> {
    b.as_ref().map(|k| k.as_ref())
}

#[cfg(test)]
mod tests;
