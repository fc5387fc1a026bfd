//! A record batch body laid out from its columns' own buffers (offsets rebased and bitmaps
//! shifted only where they must be), for the column types that allow it.

use arrow_array::RecordBatch;
use arrow_schema::DataType;

use super::Piece;

/// A record batch body made of its columns' buffers, and what its header says of them.
#[derive(Default)]
pub(super) struct SharedBody {
    nodes: Vec<arrow_ipc::FieldNode>,
    buffers: Vec<arrow_ipc::Buffer>,
    pub(super) pieces: Vec<Piece>,
    len: usize,
}

impl SharedBody {
    /// Appends a buffer, padded to a multiple of 8 bytes.
    fn push(&mut self, piece: Piece) {
        let n = piece.as_slice().len();
        self.buffers
            .push(arrow_ipc::Buffer::new(self.len as i64, n as i64));
        self.len += n;
        if n > 0 {
            self.pieces.push(piece);
        }
        let pad = (8 - n % 8) % 8;
        if pad > 0 {
            self.pieces.push(Piece::Zeros(pad));
            self.len += pad;
        }
    }

    /// The record batch message header (its body follows it as `pieces`).
    pub(super) fn header(&self, rows: usize) -> arrow_ipc::writer::EncodedData {
        let mut fbb = flatbuffers::FlatBufferBuilder::with_capacity(256);
        build_header(&mut fbb, &self.nodes, &self.buffers, rows, self.len);
        arrow_ipc::writer::EncodedData {
            ipc_message: fbb.finished_data().to_vec(),
            arrow_data: Vec::new(),
        }
    }
}

/// Finishes in `fbb` the message header of a record batch of `rows` rows whose body of
/// `body_len` bytes holds `buffers` and describes its columns with `nodes`.
fn build_header(
    fbb: &mut flatbuffers::FlatBufferBuilder<'_>,
    nodes: &[arrow_ipc::FieldNode],
    buffers: &[arrow_ipc::Buffer],
    rows: usize,
    body_len: usize,
) {
    let buffers = fbb.create_vector(buffers);
    let nodes = fbb.create_vector(nodes);
    let batch = {
        let mut b = arrow_ipc::RecordBatchBuilder::new(fbb);
        b.add_length(rows as i64);
        b.add_nodes(nodes);
        b.add_buffers(buffers);
        b.finish().as_union_value()
    };
    let mut m = arrow_ipc::MessageBuilder::new(fbb);
    m.add_version(arrow_ipc::MetadataVersion::V5);
    m.add_header_type(arrow_ipc::MessageHeader::RecordBatch);
    m.add_bodyLength(body_len as i64);
    m.add_header(batch);
    let m = m.finish();
    fbb.finish(m, None);
}

/// `batch`'s body as its columns' buffers, or `None` for a column type this does not lay
/// out (arrow's writer then encodes the batch).
pub(super) fn shared_body(batch: &RecordBatch) -> Option<SharedBody> {
    let mut body = SharedBody::default();
    for column in batch.columns() {
        let data = column.to_data();
        let (offset, len) = (data.offset(), data.len());
        let nulls = data.null_count();
        let data_type = data.data_type();
        if matches!(data_type, DataType::Null) {
            body.nodes
                .push(arrow_ipc::FieldNode::new(len as i64, len as i64));
            continue;
        }
        body.nodes
            .push(arrow_ipc::FieldNode::new(len as i64, nulls as i64));
        let bits = |b: &arrow_buffer::Buffer| {
            Piece::Buffer(arrow_buffer::BooleanBuffer::new(b.clone(), offset, len).sliced())
        };
        match data.nulls().filter(|_| nulls > 0) {
            Some(n) => body.push(Piece::Buffer(n.inner().sliced())),
            None => body.push(Piece::Zeros(0)),
        }
        let first = data.buffers().first()?;
        match data_type {
            DataType::Boolean => body.push(bits(first)),
            DataType::Utf8 | DataType::Binary => {
                let (offsets, values) = offsets_and_values(&data, 4)?;
                body.push(offsets);
                body.push(values);
            }
            DataType::LargeUtf8 | DataType::LargeBinary => {
                let (offsets, values) = offsets_and_values(&data, 8)?;
                body.push(offsets);
                body.push(values);
            }
            t => {
                let width = match t {
                    DataType::FixedSizeBinary(w) => usize::try_from(*w).ok()?,
                    t => t.primitive_width()?,
                };
                let start = offset.checked_mul(width)?;
                let bytes = len.checked_mul(width)?;
                if start.checked_add(bytes)? > first.len() {
                    return None;
                }
                body.push(Piece::Buffer(first.slice_with_length(start, bytes)));
            }
        }
    }
    Some(body)
}

/// The offsets (rebased to start at zero when they do not) and the values they cover of a
/// string or binary column with offsets of `width` bytes (4 or 8). Read as little-endian
/// bytes: a buffer need not be aligned to its offset type.
fn offsets_and_values(data: &arrow_data::ArrayData, width: usize) -> Option<(Piece, Piece)> {
    let (offset, len) = (data.offset(), data.len());
    let raw = data.buffers().first()?;
    let bytes = raw
        .as_slice()
        .get(offset.checked_mul(width)?..offset.checked_add(len + 1)?.checked_mul(width)?)?;
    let read = |chunk: &[u8]| -> Option<usize> {
        match width {
            4 => usize::try_from(i32::from_le_bytes(chunk.try_into().ok()?)).ok(),
            _ => usize::try_from(i64::from_le_bytes(chunk.try_into().ok()?)).ok(),
        }
    };
    let first = read(bytes.get(..width)?)?;
    let last = read(bytes.get(len * width..)?)?;
    let values = data.buffers().get(1)?;
    if last < first || last > values.len() {
        return None;
    }
    let offsets = match first {
        0 => Piece::Buffer(raw.slice_with_length(offset * width, (len + 1) * width)),
        // Offsets only grow, so none is below `first`; one tight pass per width.
        _ if width == 4 => {
            let base = i32::try_from(first).ok()?;
            let rebased: Vec<i32> = bytes
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap_or_default()).wrapping_sub(base))
                .collect();
            Piece::Buffer(arrow_buffer::Buffer::from_vec(rebased))
        }
        _ => {
            let base = i64::try_from(first).ok()?;
            let rebased: Vec<i64> = bytes
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()).wrapping_sub(base))
                .collect();
            Piece::Buffer(arrow_buffer::Buffer::from_vec(rebased))
        }
    };
    Some((
        offsets,
        Piece::Buffer(values.slice_with_length(first, last - first)),
    ))
}

/// A buffer of a body being written into one output: borrowed from its column where it can
/// be, made here where it must be (a bitmap starting inside a byte), or offsets written less
/// their first value as they are copied.
enum Seg<'a> {
    Slice(&'a [u8]),
    Owned(arrow_buffer::Buffer),
    /// Little-endian offsets of `width` bytes, each written less `base`.
    Rebased {
        bytes: &'a [u8],
        width: usize,
        base: i64,
    },
}

impl Seg<'_> {
    fn len(&self) -> usize {
        match self {
            Seg::Slice(b) => b.len(),
            Seg::Owned(b) => b.len(),
            Seg::Rebased { bytes, .. } => bytes.len(),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Seg::Slice(b) => out.extend_from_slice(b),
            Seg::Owned(b) => out.extend_from_slice(b.as_slice()),
            Seg::Rebased {
                bytes,
                width: 4,
                base,
            } => {
                let base = *base as i32;
                for c in bytes.chunks_exact(4) {
                    let v = i32::from_le_bytes(c.try_into().unwrap_or_default());
                    out.extend_from_slice(&v.wrapping_sub(base).to_le_bytes());
                }
            }
            Seg::Rebased { bytes, base, .. } => {
                for c in bytes.chunks_exact(8) {
                    let v = i64::from_le_bytes(c.try_into().unwrap_or_default());
                    out.extend_from_slice(&v.wrapping_sub(*base).to_le_bytes());
                }
            }
        }
    }
}

thread_local! {
    /// Reused by every one-buffer encoding: a point get's answer is a few hundred bytes, and
    /// making a builder for each was a measurable part of it.
    static HEADER_BUILDER: std::cell::RefCell<flatbuffers::FlatBufferBuilder<'static>> =
        std::cell::RefCell::new(flatbuffers::FlatBufferBuilder::with_capacity(256));
}

/// Appends `batch` as one record batch message (header, then body) to `out`, copying the
/// columns' buffers straight into it: the bytes [`shared_body`]'s pieces make, without the
/// pieces. `false` (nothing appended) for a column type this does not lay out.
pub(super) fn write_batch(batch: &RecordBatch, out: &mut Vec<u8>) -> bool {
    let columns = batch.num_columns();
    let mut nodes = Vec::with_capacity(columns);
    let mut segs: Vec<Seg<'_>> = Vec::with_capacity(3 * columns);
    // Index into `segs` per body buffer; `None` for an empty validity buffer.
    let mut slots: Vec<Option<usize>> = Vec::with_capacity(3 * columns);
    for column in batch.columns() {
        if lay_out(column, &mut nodes, &mut segs, &mut slots).is_none() {
            return false;
        }
    }
    let mut buffers = Vec::with_capacity(slots.len());
    let mut len = 0usize;
    for slot in &slots {
        let n = slot.and_then(|i| segs.get(i)).map_or(0, Seg::len);
        buffers.push(arrow_ipc::Buffer::new(len as i64, n as i64));
        len += n.div_ceil(8) * 8;
    }
    HEADER_BUILDER.with(|cell| {
        let mut fbb = cell.borrow_mut();
        fbb.reset();
        build_header(&mut fbb, &nodes, &buffers, batch.num_rows(), len);
        let header = fbb.finished_data();
        // As arrow's `write_message`: continuation marker, length, header padded so that the
        // message (prefix included) fills a multiple of 64 bytes.
        let aligned = (header.len() + 8).div_ceil(64) * 64;
        out.reserve(aligned + len + 8);
        out.extend_from_slice(&[0xff; 4]);
        out.extend_from_slice(&((aligned - 8) as i32).to_le_bytes());
        out.extend_from_slice(header);
        out.resize(out.len() + aligned - 8 - header.len(), 0);
    });
    for seg in slots.iter().filter_map(|s| s.and_then(|i| segs.get(i))) {
        seg.write(out);
        let pad = (8 - seg.len() % 8) % 8;
        out.resize(out.len() + pad, 0);
    }
    true
}

/// One column's node and buffers for [`write_batch`], as [`shared_body`] lays them out.
fn lay_out<'a>(
    column: &'a arrow_array::ArrayRef,
    nodes: &mut Vec<arrow_ipc::FieldNode>,
    segs: &mut Vec<Seg<'a>>,
    slots: &mut Vec<Option<usize>>,
) -> Option<()> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    let len = column.len();
    if matches!(column.data_type(), DataType::Null) {
        nodes.push(arrow_ipc::FieldNode::new(len as i64, len as i64));
        return Some(());
    }
    let nulls = column.null_count();
    nodes.push(arrow_ipc::FieldNode::new(len as i64, nulls as i64));
    if nulls == 0 {
        slots.push(None);
    }
    let mut push = |seg: Seg<'a>| {
        slots.push(Some(segs.len()));
        segs.push(seg);
    };
    if let Some(n) = column.nulls().filter(|_| nulls > 0) {
        push(Seg::Owned(n.inner().sliced()));
    }
    match column.data_type() {
        DataType::Boolean => push(Seg::Owned(column.as_boolean_opt()?.values().sliced())),
        DataType::Utf8 => {
            let a = column.as_string_opt::<i32>()?;
            let (o, v) = byte_segs(a.offsets().inner().inner().as_slice(), a.value_data(), 4)?;
            push(o);
            push(v);
        }
        DataType::Binary => {
            let a = column.as_binary_opt::<i32>()?;
            let (o, v) = byte_segs(a.offsets().inner().inner().as_slice(), a.value_data(), 4)?;
            push(o);
            push(v);
        }
        DataType::LargeUtf8 => {
            let a = column.as_string_opt::<i64>()?;
            let (o, v) = byte_segs(a.offsets().inner().inner().as_slice(), a.value_data(), 8)?;
            push(o);
            push(v);
        }
        DataType::LargeBinary => {
            let a = column.as_binary_opt::<i64>()?;
            let (o, v) = byte_segs(a.offsets().inner().inner().as_slice(), a.value_data(), 8)?;
            push(o);
            push(v);
        }
        t => {
            let width = match t {
                DataType::FixedSizeBinary(w) => usize::try_from(*w).ok()?,
                t => t.primitive_width()?,
            };
            let data = column.to_data();
            let first = data.buffers().first()?;
            let start = data.offset().checked_mul(width)?;
            let bytes = len.checked_mul(width)?;
            if start.checked_add(bytes)? > first.len() {
                return None;
            }
            push(Seg::Owned(first.slice_with_length(start, bytes)));
        }
    }
    Some(())
}

/// The offsets (exactly the column's, `width` bytes each) and the values they cover of a
/// string or binary column, the offsets rebased when they do not start at zero.
fn byte_segs<'a>(offsets: &'a [u8], values: &'a [u8], width: usize) -> Option<(Seg<'a>, Seg<'a>)> {
    let read = |chunk: &[u8]| -> Option<i64> {
        match width {
            4 => Some(i64::from(i32::from_le_bytes(chunk.try_into().ok()?))),
            _ => Some(i64::from_le_bytes(chunk.try_into().ok()?)),
        }
    };
    let first = read(offsets.get(..width)?)?;
    let last = read(offsets.get(offsets.len().checked_sub(width)?..)?)?;
    let values = values.get(usize::try_from(first).ok()?..usize::try_from(last).ok()?)?;
    let offsets = match first {
        0 => Seg::Slice(offsets),
        base => Seg::Rebased {
            bytes: offsets,
            width,
            base,
        },
    };
    Some((offsets, Seg::Slice(values)))
}
