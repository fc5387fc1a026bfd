//! A bounds walk over the Thrift (compact protocol) structures at the end of a Parquet file,
//! run before parquet decodes a footer that no checksum vouches for (an SST recorded by a
//! manifest older than format 3 carries no tail checksum).
//!
//! parquet (57 and 58 alike) believes the sizes it reads: a list header reserves room for
//! as many elements as it declares (`Vec::with_capacity`), and a schema element reserves
//! room for as many children as its `num_children` says, before any element is read. A few
//! damaged bytes can so ask for gigabytes (a trap in wasm, which kills every table of the
//! instance). The walk refuses any list, map or binary that declares more elements or bytes
//! than remain in its structure, any `num_children` outside the schema, and nesting deeper
//! than [`MAX_DEPTH`]. What passes decodes with memory bounded by a small multiple of the
//! footer's size.
//!
//! It walks the footer and each column and offset index the footer points at, where those
//! bytes are at hand: bytes that are not at hand cannot be decoded either (parquet asks for
//! more first, and they are walked when they come).

use std::ops::Range;

/// Deeper nesting than any Parquet footer has (ours nest four levels).
const MAX_DEPTH: usize = 32;

// Compact protocol type ids.
const T_TRUE: u8 = 1;
const T_FALSE: u8 = 2;
const T_BYTE: u8 = 3;
const T_I16: u8 = 4;
const T_I32: u8 = 5;
const T_I64: u8 = 6;
const T_DOUBLE: u8 = 7;
const T_BINARY: u8 = 8;
const T_LIST: u8 = 9;
const T_SET: u8 = 10;
const T_MAP: u8 = 11;
const T_STRUCT: u8 = 12;
const T_UUID: u8 = 13;

/// Which Parquet structure a struct is. parquet decodes a field it knows by the type
/// `parquet.thrift` gives it, whatever type the field's header declares, so a walk that
/// followed the declared types could lose step with the decoder and miss what it reserves
/// (found by the `sst_file` fuzz target: a histogram declared as a list of another type).
/// Known fields must therefore carry their Thrift type; fields parquet does not know it skips
/// by their declared type, and so does the walk ([`Kind::Other`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    FileMetaData,
    SchemaElement,
    LogicalType,
    DecimalType,
    TimeType,
    TimeUnit,
    IntType,
    VariantType,
    GeometryType,
    GeographyType,
    RowGroup,
    ColumnChunk,
    ColumnMetaData,
    Statistics,
    KeyValue,
    SortingColumn,
    PageEncodingStats,
    SizeStatistics,
    GeospatialStatistics,
    BoundingBox,
    ColumnOrder,
    EncryptionAlgorithm,
    AesGcm,
    ColumnCryptoMetaData,
    EncryptionWithColumnKey,
    OffsetIndex,
    PageLocation,
    ColumnIndex,
    /// A struct whose fields parquet does not read (empty structs of unions, unknown fields).
    Other,
}

/// What a known field holds.
#[derive(Clone, Copy)]
enum Field {
    Scalar(u8),
    List(u8, Kind),
    Struct(Kind),
}

/// The Thrift type `parquet.thrift` gives field `id` of `kind` (`None`: a field parquet skips).
fn field(kind: Kind, id: i64) -> Option<Field> {
    use Field::{List, Scalar, Struct};
    use Kind as K;
    let bool_ = Scalar(T_TRUE);
    Some(match (kind, id) {
        (K::FileMetaData, 1) => Scalar(T_I32),
        (K::FileMetaData, 2) => List(T_STRUCT, K::SchemaElement),
        (K::FileMetaData, 3) => Scalar(T_I64),
        (K::FileMetaData, 4) => List(T_STRUCT, K::RowGroup),
        (K::FileMetaData, 5) => List(T_STRUCT, K::KeyValue),
        (K::FileMetaData, 6 | 9) => Scalar(T_BINARY),
        (K::FileMetaData, 7) => List(T_STRUCT, K::ColumnOrder),
        (K::FileMetaData, 8) => Struct(K::EncryptionAlgorithm),
        (K::SchemaElement, 1..=3 | 5..=9) => Scalar(T_I32),
        (K::SchemaElement, 4) => Scalar(T_BINARY),
        (K::SchemaElement, 10) => Struct(K::LogicalType),
        (K::LogicalType, 5) => Struct(K::DecimalType),
        (K::LogicalType, 7 | 8) => Struct(K::TimeType),
        (K::LogicalType, 10) => Struct(K::IntType),
        (K::LogicalType, 16) => Struct(K::VariantType),
        (K::LogicalType, 17) => Struct(K::GeometryType),
        (K::LogicalType, 18) => Struct(K::GeographyType),
        (K::LogicalType, 1..=18) => Struct(K::Other),
        (K::DecimalType, 1 | 2) => Scalar(T_I32),
        (K::TimeType, 1) => bool_,
        (K::TimeType, 2) => Struct(K::TimeUnit),
        (K::TimeUnit, 1..=3) => Struct(K::Other),
        (K::IntType, 1) => Scalar(T_BYTE),
        (K::IntType, 2) => bool_,
        (K::VariantType, 1) => Scalar(T_BYTE),
        (K::GeometryType, 1) | (K::GeographyType, 1) => Scalar(T_BINARY),
        (K::GeographyType, 2) => Scalar(T_I32),
        (K::RowGroup, 1) => List(T_STRUCT, K::ColumnChunk),
        (K::RowGroup, 2 | 3 | 5 | 6) => Scalar(T_I64),
        (K::RowGroup, 4) => List(T_STRUCT, K::SortingColumn),
        (K::RowGroup, 7) => Scalar(T_I16),
        (K::ColumnChunk, 1 | 9) => Scalar(T_BINARY),
        (K::ColumnChunk, 2 | 4 | 6) => Scalar(T_I64),
        (K::ColumnChunk, 3) => Struct(K::ColumnMetaData),
        (K::ColumnChunk, 5 | 7) => Scalar(T_I32),
        (K::ColumnChunk, 8) => Struct(K::ColumnCryptoMetaData),
        (K::ColumnMetaData, 1 | 4 | 15) => Scalar(T_I32),
        (K::ColumnMetaData, 2) => List(T_I32, K::Other),
        (K::ColumnMetaData, 3) => List(T_BINARY, K::Other),
        (K::ColumnMetaData, 5..=7 | 9..=11 | 14) => Scalar(T_I64),
        (K::ColumnMetaData, 8) => List(T_STRUCT, K::KeyValue),
        (K::ColumnMetaData, 12) => Struct(K::Statistics),
        (K::ColumnMetaData, 13) => List(T_STRUCT, K::PageEncodingStats),
        (K::ColumnMetaData, 16) => Struct(K::SizeStatistics),
        (K::ColumnMetaData, 17) => Struct(K::GeospatialStatistics),
        (K::Statistics, 1 | 2 | 5 | 6) => Scalar(T_BINARY),
        (K::Statistics, 3 | 4) => Scalar(T_I64),
        (K::Statistics, 7 | 8) => bool_,
        (K::KeyValue, 1 | 2) => Scalar(T_BINARY),
        (K::SortingColumn, 1) => Scalar(T_I32),
        (K::SortingColumn, 2 | 3) => bool_,
        (K::PageEncodingStats, 1..=3) => Scalar(T_I32),
        (K::SizeStatistics, 1) => Scalar(T_I64),
        (K::SizeStatistics, 2 | 3) => List(T_I64, K::Other),
        (K::GeospatialStatistics, 1) => Struct(K::BoundingBox),
        (K::GeospatialStatistics, 2) => List(T_I32, K::Other),
        (K::BoundingBox, 1..=8) => Scalar(T_DOUBLE),
        (K::ColumnOrder, 1) => Struct(K::Other),
        (K::EncryptionAlgorithm, 1 | 2) => Struct(K::AesGcm),
        (K::AesGcm, 1 | 2) => Scalar(T_BINARY),
        (K::AesGcm, 3) => bool_,
        (K::ColumnCryptoMetaData, 1) => Struct(K::Other),
        (K::ColumnCryptoMetaData, 2) => Struct(K::EncryptionWithColumnKey),
        (K::EncryptionWithColumnKey, 1) => List(T_BINARY, K::Other),
        (K::EncryptionWithColumnKey, 2) => Scalar(T_BINARY),
        (K::OffsetIndex, 1) => List(T_STRUCT, K::PageLocation),
        (K::OffsetIndex, 2) => List(T_I64, K::Other),
        (K::PageLocation, 1 | 3) => Scalar(T_I64),
        (K::PageLocation, 2) => Scalar(T_I32),
        (K::ColumnIndex, 1) => List(T_TRUE, K::Other),
        (K::ColumnIndex, 2 | 3) => List(T_BINARY, K::Other),
        (K::ColumnIndex, 4) => Scalar(T_I32),
        (K::ColumnIndex, 5..=7) => List(T_I64, K::Other),
        _ => return None,
    })
}

/// Whether a declared Thrift type is the one wanted; a boolean's value is its type id.
fn same_type(declared: u8, wanted: u8) -> bool {
    declared == wanted || (wanted == T_TRUE && declared == T_FALSE)
}

/// Where a column chunk's indexes are, as its footer entry declares them.
#[derive(Default)]
struct IndexRefs {
    offset_index: (Option<i64>, Option<i64>),
    column_index: (Option<i64>, Option<i64>),
}

struct Walker<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Elements of the schema list, once read: `num_children` may not exceed it.
    schema_len: Option<u64>,
    /// Page index ranges (absolute file offsets) the footer's column chunks name, with
    /// which index each is.
    indexes: Vec<(Range<u64>, Kind)>,
}

type Walk<T> = std::result::Result<T, String>;

impl<'a> Walker<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            schema_len: None,
            indexes: Vec::new(),
        }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn byte(&mut self) -> Walk<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or("a structure runs past the end of its bytes")?;
        self.pos += 1;
        Ok(b)
    }

    fn skip(&mut self, n: usize) -> Walk<()> {
        if n > self.remaining() {
            return Err(format!(
                "a value declares {n} bytes where {} remain",
                self.remaining()
            ));
        }
        self.pos += n;
        Ok(())
    }

    fn varint(&mut self) -> Walk<u64> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a varint longer than ten bytes".into())
    }

    fn zigzag(&mut self) -> Walk<i64> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A declared element count, refused when the elements cannot all fit in what remains
    /// (every element takes at least `min_bytes`).
    fn count(&self, n: u64, min_bytes: u64, what: &str) -> Walk<u64> {
        if n.saturating_mul(min_bytes) > self.remaining() as u64 {
            return Err(format!(
                "a {what} declares {n} elements where {} bytes remain",
                self.remaining()
            ));
        }
        Ok(n)
    }

    fn structure(&mut self, kind: Kind, depth: usize) -> Walk<()> {
        if depth > MAX_DEPTH {
            return Err(format!("structures nest deeper than {MAX_DEPTH}"));
        }
        let mut last_id: i16 = 0;
        let mut refs = IndexRefs::default();
        loop {
            let header = self.byte()?;
            if header == 0 {
                break;
            }
            let ty = header & 0x0f;
            let delta = header >> 4;
            // Field ids are i16s to parquet: a long-form id is cut to 16 bits, and a delta
            // that overflows is an error.
            let id = if delta == 0 {
                self.zigzag()? as i16
            } else {
                last_id
                    .checked_add(i16::from(delta))
                    .ok_or("a field id past 32767")?
            };
            last_id = id;
            let id = i64::from(id);
            let wanted = field(kind, id);
            match (kind, id, wanted) {
                (_, _, Some(Field::Scalar(w))) if !same_type(ty, w) => {
                    return Err(format!(
                        "field {id} of a {kind:?} has Thrift type {ty}, not {w}"
                    ));
                }
                (_, _, Some(Field::List(..))) if ty != T_LIST => {
                    return Err(format!("field {id} of a {kind:?} is not a list"));
                }
                (_, _, Some(Field::Struct(_))) if ty != T_STRUCT => {
                    return Err(format!("field {id} of a {kind:?} is not a struct"));
                }
                (Kind::SchemaElement, 5, _) => {
                    let n = self.zigzag()?;
                    let schema = self.schema_len.unwrap_or(0);
                    if n < 0 || n as u64 >= schema {
                        return Err(format!(
                            "a schema element declares {n} children in a schema of {schema}"
                        ));
                    }
                }
                (Kind::ColumnChunk, 4..=7, _) => {
                    // parquet reads the lengths (5, 7) as i32s, cut to 32 bits.
                    let v = self.zigzag()?;
                    let v = Some(if id % 2 == 1 { i64::from(v as i32) } else { v });
                    match id {
                        4 => refs.offset_index.0 = v,
                        5 => refs.offset_index.1 = v,
                        6 => refs.column_index.0 = v,
                        _ => refs.column_index.1 = v,
                    }
                }
                (_, _, Some(Field::List(elem, of))) => {
                    let is_schema = kind == Kind::FileMetaData && id == 2;
                    self.list(Some((elem, of)), depth, is_schema)?;
                }
                (_, _, Some(Field::Struct(of))) => self.structure(of, depth + 1)?,
                _ => self.value(ty, depth)?,
            }
        }
        if kind == Kind::ColumnChunk {
            for ((offset, len), index) in [
                (refs.offset_index, Kind::OffsetIndex),
                (refs.column_index, Kind::ColumnIndex),
            ] {
                if let (Some(o), Some(l)) = (offset, len)
                    && let (Ok(o), Ok(l)) = (u64::try_from(o), u64::try_from(l))
                {
                    self.indexes.push((o..o.saturating_add(l), index));
                }
            }
        }
        Ok(())
    }

    /// Walks a list. With `typed`, the list is a known field: its elements must have the type
    /// parquet reads them as (structs of the given kind). The schema list is counted before
    /// its elements, so their `num_children` can be checked against it.
    fn list(&mut self, typed: Option<(u8, Kind)>, depth: usize, is_schema: bool) -> Walk<()> {
        let header = self.byte()?;
        if header == 0 {
            return Ok(());
        }
        let ty = header & 0x0f;
        if let Some((want, _)) = typed
            && !same_type(ty, want)
        {
            return Err(format!("a list of Thrift type {ty} where {want} is read"));
        }
        let short = u64::from(header >> 4);
        let n = if short == 15 { self.varint()? } else { short };
        let n = self.count(n, elem_min_bytes(ty)?, "list")?;
        if is_schema {
            self.schema_len = Some(n);
        }
        let kind = typed.map_or(Kind::Other, |(_, k)| k);
        for _ in 0..n {
            match ty {
                T_STRUCT => self.structure(kind, depth + 1)?,
                // parquet skips a boolean element of a list it does not read without
                // consuming its byte, so the walk does too (or it would lose step).
                T_TRUE | T_FALSE if typed.is_none() => {}
                _ => self.element(ty, depth + 1)?,
            }
        }
        Ok(())
    }

    /// A list element: booleans take one byte each there.
    fn element(&mut self, ty: u8, depth: usize) -> Walk<()> {
        match ty {
            T_TRUE | T_FALSE => self.skip(1),
            _ => self.value(ty, depth),
        }
    }

    /// A value of a field parquet skips, walked by its declared type.
    fn value(&mut self, ty: u8, depth: usize) -> Walk<()> {
        if depth > MAX_DEPTH {
            return Err(format!("structures nest deeper than {MAX_DEPTH}"));
        }
        match ty {
            T_TRUE | T_FALSE => Ok(()),
            T_BYTE => self.skip(1),
            T_I16 | T_I32 | T_I64 => self.varint().map(|_| ()),
            T_DOUBLE => self.skip(8),
            T_BINARY => {
                let n = self.varint()?;
                let n = usize::try_from(n).map_err(|_| format!("a binary of {n} bytes"))?;
                self.skip(n)
            }
            T_LIST => self.list(None, depth, false),
            // parquet cannot skip these (no Parquet structure has them) and fails there.
            T_SET | T_MAP | T_UUID => Err(format!("a value of Thrift type {ty}")),
            T_STRUCT => self.structure(Kind::Other, depth + 1),
            other => Err(format!("an unknown Thrift type {other}")),
        }
    }
}

/// The fewest bytes one list element of type `ty` can take.
fn elem_min_bytes(ty: u8) -> Walk<u64> {
    match ty {
        T_DOUBLE => Ok(8),
        T_UUID => Ok(16),
        T_TRUE..=T_MAP | T_STRUCT => Ok(1),
        other => Err(format!("an unknown Thrift type {other} in a list")),
    }
}

/// Checks the footer at the end of `tail` (the last `tail.len()` bytes of a file of
/// `file_size` bytes) and every page index it names that lies within `tail`. A footer that
/// is not all in `tail` passes: parquet asks for more bytes before it decodes any of it.
pub fn check(tail: &[u8], file_size: u64) -> Result<(), String> {
    let n = tail.len();
    let (Some(body), Some(trailer)) = (
        n.checked_sub(8).and_then(|e| tail.get(..e)),
        n.checked_sub(8).and_then(|s| tail.get(s..)),
    ) else {
        return Ok(());
    };
    let (len, magic) = trailer.split_at(4);
    if magic != b"PAR1" {
        // Not a Parquet tail: parquet refuses it without decoding anything.
        return Ok(());
    }
    let len = u32::from_le_bytes(len.try_into().unwrap_or([0xff; 4])) as usize;
    let Some(footer) = body.len().checked_sub(len).and_then(|s| body.get(s..)) else {
        return Ok(());
    };
    let mut w = Walker::new(footer);
    w.structure(Kind::FileMetaData, 0)
        .map_err(|e| format!("its footer is malformed: {e}"))?;
    let tail_start = file_size.saturating_sub(n as u64);
    let mut indexes = std::mem::take(&mut w.indexes);
    indexes.sort_by_key(|(r, _)| (r.start, r.end));
    indexes.dedup_by_key(|(r, _)| r.clone());
    for (r, kind) in indexes {
        let (Some(lo), Some(hi)) = (
            r.start.checked_sub(tail_start),
            r.end.checked_sub(tail_start),
        ) else {
            continue;
        };
        let (Ok(lo), Ok(hi)) = (usize::try_from(lo), usize::try_from(hi)) else {
            continue;
        };
        let Some(bytes) = tail.get(lo..hi) else {
            continue;
        };
        // One index per range, as parquet decodes it; bytes after it are never decoded.
        Walker::new(bytes)
            .structure(kind, 0)
            .map_err(|e| format!("a page index is malformed: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tail holding `meta` as its footer.
    fn tail(meta: &[u8]) -> Vec<u8> {
        let mut t = meta.to_vec();
        t.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        t.extend_from_slice(b"PAR1");
        t
    }

    #[test]
    fn a_list_declaring_more_elements_than_bytes_is_refused() {
        // FileMetaData { 4: row_groups = list<struct> of 2^31 - 1 elements }
        let meta = [0x49, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00, 0x00];
        let t = tail(&meta);
        let err = check(&t, t.len() as u64).unwrap_err();
        assert!(err.contains("declares 2147483647 elements"), "{err}");
    }

    #[test]
    fn a_schema_element_with_more_children_than_the_schema_is_refused() {
        // FileMetaData { 2: schema = [ { 5: num_children = 1_000_000 } ] }
        let meta = [0x29, 0x1c, 0x55, 0x80, 0x89, 0x7a, 0x00, 0x00];
        let t = tail(&meta);
        let err = check(&t, t.len() as u64).unwrap_err();
        assert!(err.contains("1000000 children"), "{err}");
        // Negative too: parquet would cast it to a huge capacity.
        let meta = [0x29, 0x1c, 0x55, 0x01, 0x00, 0x00];
        let t = tail(&meta);
        assert!(
            check(&t, t.len() as u64)
                .unwrap_err()
                .contains("-1 children")
        );
    }

    #[test]
    fn a_known_field_of_another_thrift_type_is_refused_because_parquet_reads_it_as_its_own() {
        // FileMetaData { 4: row_groups = [ { 1: columns = [ { 3: meta_data = {
        //   16: size_statistics = { 2: repetition_level_histogram = list<binary> of 2 } } } ] } ] }
        // parquet reads that histogram as i64s whatever the list says, so a walk by the
        // declared type would lose step with it.
        let meta = [
            0x49, 0x1c, // 4: list of one struct (row group)
            0x19, 0x1c, // 1: list of one struct (column chunk)
            0x3c, // 3: struct (column metadata)
            0x0c, 0x20, // 16: struct (size statistics), long form id
            0x29, 0x28, 0x01, b'a', 0x01, b'b', // 2: list of two binaries
            0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        let t = tail(&meta);
        let err = check(&t, t.len() as u64).unwrap_err();
        assert!(
            err.contains("a list of Thrift type 8 where 6 is read"),
            "{err}"
        );
        // A scalar field of the wrong type: created_by as an i32.
        let t = tail(&[0x65, 0x02, 0x00]);
        let err = check(&t, t.len() as u64).unwrap_err();
        assert!(
            err.contains("field 6 of a FileMetaData has Thrift type 5"),
            "{err}"
        );
    }

    #[test]
    fn booleans_of_a_skipped_list_take_no_bytes_as_parquet_skips_them() {
        // FileMetaData { 15 (unknown): list<bool> of 2 }, then the stop byte and one spare
        // (a list is refused unless a byte per element remains, which is stricter than
        // parquet and safe). parquet skips each boolean element without reading a byte, so
        // the stop byte comes next; a walk that took a byte per boolean would eat both and
        // run out.
        let meta = [0xf9, 0x21, 0x00, 0x00];
        let t = tail(&meta);
        assert_eq!(check(&t, t.len() as u64), Ok(()));
    }

    #[test]
    fn a_binary_longer_than_its_footer_and_deep_nesting_are_refused() {
        // FileMetaData { 6: created_by = binary of 1 GiB }
        let meta = [0x68, 0x80, 0x80, 0x80, 0x80, 0x04, 0x00];
        let t = tail(&meta);
        assert!(check(&t, t.len() as u64).unwrap_err().contains("bytes"));
        // Struct fields nested 40 deep, from a field parquet does not know (15).
        let mut meta = vec![0xfc];
        meta.extend(vec![0x1c; 39]);
        meta.extend(vec![0x00; 41]);
        let t = tail(&meta);
        assert!(check(&t, t.len() as u64).unwrap_err().contains("deeper"));
    }
}
