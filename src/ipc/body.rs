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
    let layout = lay_out(batch)?;
    let mut body = SharedBody {
        nodes: layout.nodes,
        ..SharedBody::default()
    };
    for slot in layout.slots {
        body.push(slot.map_or(Piece::Zeros(0), Piece::Buffer));
    }
    Some(body)
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
    let Some(layout) = lay_out(batch) else {
        return false;
    };
    let mut buffers = Vec::with_capacity(layout.slots.len());
    let mut len = 0usize;
    for slot in &layout.slots {
        let n = slot.as_ref().map_or(0, |b| b.len());
        buffers.push(arrow_ipc::Buffer::new(len as i64, n as i64));
        len += n.div_ceil(8) * 8;
    }
    HEADER_BUILDER.with(|cell| {
        let mut fbb = cell.borrow_mut();
        fbb.reset();
        build_header(&mut fbb, &layout.nodes, &buffers, batch.num_rows(), len);
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
    for seg in layout.slots.iter().flatten() {
        out.extend_from_slice(seg.as_slice());
        let pad = (8 - seg.len() % 8) % 8;
        out.resize(out.len() + pad, 0);
    }
    true
}

/// A batch's field nodes and body buffers in IPC order; `None` in `slots` is an empty
/// validity buffer.
struct Layout {
    nodes: Vec<arrow_ipc::FieldNode>,
    /// Each a column's own buffer, a slice of it, or (a string column's offsets not starting
    /// at zero) its offsets less the first.
    slots: Vec<Option<arrow_buffer::Buffer>>,
}

/// Every column's node and buffers, or `None` for a column type this does not lay out.
fn lay_out(batch: &RecordBatch) -> Option<Layout> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{BinaryType, LargeBinaryType, LargeUtf8Type, Utf8Type};
    let columns = batch.num_columns();
    let mut nodes = Vec::with_capacity(columns);
    let mut slots = Vec::with_capacity(3 * columns);
    for column in batch.columns() {
        let len = column.len();
        if matches!(column.data_type(), DataType::Null) {
            nodes.push(arrow_ipc::FieldNode::new(len as i64, len as i64));
            continue;
        }
        let nulls = column.null_count();
        nodes.push(arrow_ipc::FieldNode::new(len as i64, nulls as i64));
        slots.push(
            column
                .nulls()
                .filter(|_| nulls > 0)
                .map(|n| n.inner().sliced()),
        );
        // The data buffer (a string column's offsets), then a string column's values.
        let (data, values) = match column.data_type() {
            DataType::Boolean => (column.as_boolean_opt()?.values().sliced(), None),
            DataType::Utf8 => byte_segs::<Utf8Type>(column)?,
            DataType::LargeUtf8 => byte_segs::<LargeUtf8Type>(column)?,
            DataType::Binary => byte_segs::<BinaryType>(column)?,
            DataType::LargeBinary => byte_segs::<LargeBinaryType>(column)?,
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
                (first.slice_with_length(start, bytes), None)
            }
        };
        slots.push(Some(data));
        if let Some(values) = values {
            slots.push(Some(values));
        }
    }
    Some(Layout { nodes, slots })
}

/// The offsets (the column's own when they start at zero, else a copy less the first) and the
/// values they cover of a string or binary column.
fn byte_segs<T: arrow_array::types::ByteArrayType>(
    column: &arrow_array::ArrayRef,
) -> Option<(arrow_buffer::Buffer, Option<arrow_buffer::Buffer>)> {
    use arrow_array::cast::AsArray;
    use arrow_buffer::ArrowNativeType;
    let a = column.as_bytes_opt::<T>()?;
    let offsets = a.value_offsets();
    let (first, last) = (offsets.first()?.as_usize(), offsets.last()?.as_usize());
    if last < first || last > a.values().len() {
        return None;
    }
    let offsets = if first == 0 {
        a.offsets().inner().inner().clone()
    } else {
        // Offsets only grow (arrow checks it), so none is below the first; one that were would
        // wrap, not panic. One typed map
        // and collect: in wasm's size-optimized build, appending bytes per offset was a
        // tenth of a full scan's time.
        let rebased: Vec<T::Offset> = offsets
            .iter()
            .map(|&o| T::Offset::usize_as(o.as_usize().wrapping_sub(first)))
            .collect();
        arrow_buffer::Buffer::from_vec(rebased)
    };
    Some((
        offsets,
        Some(a.values().slice_with_length(first, last - first)),
    ))
}
