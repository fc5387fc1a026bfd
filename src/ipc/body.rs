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
        let buffers = fbb.create_vector(&self.buffers);
        let nodes = fbb.create_vector(&self.nodes);
        let batch = {
            let mut b = arrow_ipc::RecordBatchBuilder::new(&mut fbb);
            b.add_length(rows as i64);
            b.add_nodes(nodes);
            b.add_buffers(buffers);
            b.finish().as_union_value()
        };
        let mut m = arrow_ipc::MessageBuilder::new(&mut fbb);
        m.add_version(arrow_ipc::MetadataVersion::V5);
        m.add_header_type(arrow_ipc::MessageHeader::RecordBatch);
        m.add_bodyLength(self.len as i64);
        m.add_header(batch);
        let m = m.finish();
        fbb.finish(m, None);
        arrow_ipc::writer::EncodedData {
            ipc_message: fbb.finished_data().to_vec(),
            arrow_data: Vec::new(),
        }
    }
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
