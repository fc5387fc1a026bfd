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

/// Which Parquet structure a struct is, where it matters for the checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    FileMetaData,
    SchemaElement,
    RowGroup,
    ColumnChunk,
    Other,
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
    /// Page index ranges (absolute file offsets) the footer's column chunks name.
    indexes: Vec<Range<u64>>,
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
        let mut last_id: i64 = 0;
        let mut refs = IndexRefs::default();
        loop {
            let header = self.byte()?;
            if header == 0 {
                break;
            }
            let ty = header & 0x0f;
            let delta = header >> 4;
            let id = if delta == 0 {
                self.zigzag()?
            } else {
                last_id + i64::from(delta)
            };
            last_id = id;
            match (kind, id, ty) {
                (Kind::FileMetaData, 2, T_LIST) => {
                    let n = self.list(Kind::SchemaElement, depth, true)?;
                    self.schema_len = Some(n);
                }
                (Kind::FileMetaData, 4, T_LIST) => {
                    self.list(Kind::RowGroup, depth, false)?;
                }
                (Kind::RowGroup, 1, T_LIST) => {
                    self.list(Kind::ColumnChunk, depth, false)?;
                }
                (Kind::SchemaElement, 5, T_I32) => {
                    let n = self.zigzag()?;
                    let schema = self.schema_len.unwrap_or(0);
                    if n < 0 || n as u64 >= schema {
                        return Err(format!(
                            "a schema element declares {n} children in a schema of {schema}"
                        ));
                    }
                }
                (Kind::ColumnChunk, 4..=7, T_I32 | T_I64) => {
                    let v = Some(self.zigzag()?);
                    match id {
                        4 => refs.offset_index.0 = v,
                        5 => refs.offset_index.1 = v,
                        6 => refs.column_index.0 = v,
                        _ => refs.column_index.1 = v,
                    }
                }
                _ => self.value(ty, Kind::Other, depth)?,
            }
        }
        if kind == Kind::ColumnChunk {
            for (offset, len) in [refs.offset_index, refs.column_index] {
                if let (Some(o), Some(l)) = (offset, len)
                    && let (Ok(o), Ok(l)) = (u64::try_from(o), u64::try_from(l))
                {
                    self.indexes.push(o..o.saturating_add(l));
                }
            }
        }
        Ok(())
    }

    /// Walks a list or set of `kind` elements and returns its length. The schema list is
    /// counted before its elements, so their `num_children` can be checked against it.
    fn list(&mut self, kind: Kind, depth: usize, is_schema: bool) -> Walk<u64> {
        let header = self.byte()?;
        if header == 0 {
            return Ok(0);
        }
        let ty = header & 0x0f;
        let short = u64::from(header >> 4);
        let n = if short == 15 { self.varint()? } else { short };
        let n = self.count(n, elem_min_bytes(ty)?, "list")?;
        if is_schema {
            self.schema_len = Some(n);
        }
        for _ in 0..n {
            match ty {
                T_STRUCT => self.structure(kind, depth + 1)?,
                _ => self.element(ty, depth + 1)?,
            }
        }
        Ok(n)
    }

    /// A list element: booleans take one byte each there.
    fn element(&mut self, ty: u8, depth: usize) -> Walk<()> {
        match ty {
            T_TRUE | T_FALSE => self.skip(1),
            _ => self.value(ty, Kind::Other, depth),
        }
    }

    fn value(&mut self, ty: u8, kind: Kind, depth: usize) -> Walk<()> {
        if depth > MAX_DEPTH {
            return Err(format!("structures nest deeper than {MAX_DEPTH}"));
        }
        match ty {
            T_TRUE | T_FALSE => Ok(()),
            T_BYTE => self.skip(1),
            T_I16 | T_I32 | T_I64 => self.varint().map(|_| ()),
            T_DOUBLE => self.skip(8),
            T_UUID => self.skip(16),
            T_BINARY => {
                let n = self.varint()?;
                let n = usize::try_from(n).map_err(|_| format!("a binary of {n} bytes"))?;
                self.skip(n)
            }
            T_LIST | T_SET => self.list(kind, depth, false).map(|_| ()),
            T_MAP => {
                let n = self.varint()?;
                if n == 0 {
                    return Ok(());
                }
                let types = self.byte()?;
                let (k, v) = (types >> 4, types & 0x0f);
                let per = elem_min_bytes(k)? + elem_min_bytes(v)?;
                let n = self.count(n, per, "map")?;
                for _ in 0..n {
                    self.element(k, depth + 1)?;
                    self.element(v, depth + 1)?;
                }
                Ok(())
            }
            T_STRUCT => self.structure(kind, depth + 1),
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
    indexes.sort_by_key(|r| (r.start, r.end));
    indexes.dedup();
    for r in indexes {
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
            .structure(Kind::Other, 0)
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
    fn a_binary_longer_than_its_footer_and_deep_nesting_are_refused() {
        // FileMetaData { 6: created_by = binary of 1 GiB }
        let meta = [0x68, 0x80, 0x80, 0x80, 0x80, 0x04, 0x00];
        let t = tail(&meta);
        assert!(check(&t, t.len() as u64).unwrap_err().contains("bytes"));
        // Struct fields nested 40 deep.
        let mut meta = vec![0x1c; 40];
        meta.extend(vec![0x00; 41]);
        let t = tail(&meta);
        assert!(check(&t, t.len() as u64).unwrap_err().contains("deeper"));
    }
}
