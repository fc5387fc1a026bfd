//! Arrow IPC stream encoding: the wire format of the JS API (`get`/`scan` results, `put` input).

use std::io::Cursor;

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::{
    CompressionContext, DictionaryTracker, IpcDataGenerator, IpcWriteOptions, StreamWriter,
    write_message,
};
use arrow_schema::{DataType, SchemaRef};

use crate::error::{Error, Result};

/// Encodes `batches` (all of `schema`) as one IPC stream, in one buffer: the pieces of
/// [`encode_parts`] laid end to end (the columns copied once, straight from their buffers).
pub fn encode_stream(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let parts = encode_parts(schema, batches)?;
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.as_slice().len()).sum());
    for p in &parts {
        out.extend_from_slice(p.as_slice());
    }
    Ok(out)
}

/// A piece of an IPC stream: bytes made for it, a column's own buffer (or a slice of one),
/// or alignment padding.
#[derive(Debug)]
pub enum Piece {
    /// Encoded here.
    Bytes(Vec<u8>),
    /// Shared with a column: not copied until the caller copies it to its destination.
    Buffer(arrow_buffer::Buffer),
    /// This many zero bytes.
    Zeros(usize),
}

impl Piece {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Piece::Bytes(b) => b,
            Piece::Buffer(b) => b.as_slice(),
            Piece::Zeros(n) => ZEROS.get(..*n).unwrap_or_default(),
        }
    }
}

/// Padding source: buffers in a body start at multiples of 8.
const ZEROS: [u8; 8] = [0; 8];

/// One IPC stream of `batches` as consecutive pieces, for a caller that copies them straight
/// to their destination: a scan's answer goes to a JS buffer without first being assembled in
/// wasm memory. The body of a record batch of fixed-width, boolean and (large) string or
/// binary columns is the columns' own buffers (an offsets buffer not starting at zero is
/// rebased, a bitmap starting inside a byte is shifted: the only copies); other batches are
/// encoded by arrow's writer. A column without nulls carries an empty validity buffer, which
/// the format allows, where arrow's writer writes one of all ones.
pub fn encode_parts(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<Piece>> {
    if !flat_without_dictionaries(schema) {
        return Ok(vec![Piece::Bytes(stream_writer(schema, batches)?)]);
    }
    let mut flat = FlatEncoder::new();
    let mut parts = Vec::with_capacity(2 + 8 * batches.len());
    // The schema message is encoded once per schema and shared.
    parts.push(Piece::Buffer(schema_message(
        schema,
        &flat.generator,
        &flat.options,
    )?));
    let mut head = Vec::new();
    for b in batches {
        match shared_body(b) {
            Some(body) => {
                write_message(&mut head, body.header(b.num_rows()), &flat.options)?;
                parts.push(Piece::Bytes(std::mem::take(&mut head)));
                parts.extend(body.pieces);
            }
            None => {
                let mut message = flat.encode(b)?;
                // The body follows the header as it is (already padded to the alignment).
                let body = std::mem::take(&mut message.arrow_data);
                write_message(&mut head, message, &flat.options)?;
                parts.push(Piece::Bytes(std::mem::take(&mut head)));
                parts.push(Piece::Bytes(body));
            }
        }
    }
    head.extend_from_slice(&END_OF_STREAM);
    parts.push(Piece::Bytes(head));
    parts.retain(|p| !p.as_slice().is_empty());
    Ok(parts)
}

/// A record batch body made of its columns' buffers, and what its header says of them.
#[derive(Default)]
struct SharedBody {
    nodes: Vec<arrow_ipc::FieldNode>,
    buffers: Vec<arrow_ipc::Buffer>,
    pieces: Vec<Piece>,
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
    fn header(&self, rows: usize) -> arrow_ipc::writer::EncodedData {
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
fn shared_body(batch: &RecordBatch) -> Option<SharedBody> {
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

/// End of stream: continuation marker and a zero length.
const END_OF_STREAM: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];

/// Arrow's own stream writer: for schemas with nested or dictionary columns.
fn stream_writer(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(1024);
    let mut writer = StreamWriter::try_new(&mut out, schema)?;
    for b in batches {
        writer.write(b)?;
    }
    writer.finish()?;
    drop(writer);
    Ok(out)
}

/// Record batch messages of a flat schema (no dictionaries to track).
struct FlatEncoder {
    options: IpcWriteOptions,
    generator: IpcDataGenerator,
    tracker: DictionaryTracker,
    compression: CompressionContext,
}

impl FlatEncoder {
    fn new() -> Self {
        Self {
            options: IpcWriteOptions::default(),
            generator: IpcDataGenerator::default(),
            tracker: DictionaryTracker::new(false),
            compression: CompressionContext::default(),
        }
    }

    fn encode(&mut self, batch: &RecordBatch) -> Result<arrow_ipc::writer::EncodedData> {
        let (dictionaries, message) = self.generator.encode(
            batch,
            &mut self.tracker,
            &self.options,
            &mut self.compression,
        )?;
        if !dictionaries.is_empty() {
            return Err(Error::Internal(
                "a flat schema produced dictionary batches".into(),
            ));
        }
        Ok(message)
    }
}

/// Whether no column is nested or dictionary-encoded (dictionary ids then never matter, so
/// the schema message can be reused as is).
fn flat_without_dictionaries(schema: &SchemaRef) -> bool {
    schema
        .fields()
        .iter()
        .all(|f| !f.data_type().is_nested() && !matches!(f.data_type(), DataType::Dictionary(..)))
}

thread_local! {
    /// The last schema encoded and its message bytes (continuation marker, length, padding).
    static SCHEMA_MESSAGE: std::cell::RefCell<Option<(SchemaRef, arrow_buffer::Buffer)>> =
        const { std::cell::RefCell::new(None) };
}

/// The encoded schema message for `schema`, from the one-entry cache when it matches (for
/// the one-row answers of `get`, encoding it each time was most of the cost).
fn schema_message(
    schema: &SchemaRef,
    generator: &IpcDataGenerator,
    options: &IpcWriteOptions,
) -> Result<arrow_buffer::Buffer> {
    let hit = SCHEMA_MESSAGE.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(s, _)| std::sync::Arc::ptr_eq(s, schema) || s == schema)
            .map(|(_, bytes)| bytes.clone())
    });
    if let Some(bytes) = hit {
        return Ok(bytes);
    }
    let mut tracker = DictionaryTracker::new(false);
    let encoded = generator.schema_to_bytes_with_dictionary_tracker(schema, &mut tracker, options);
    let mut bytes = Vec::with_capacity(512);
    write_message(&mut bytes, encoded, options)?;
    let bytes = arrow_buffer::Buffer::from_vec(bytes);
    SCHEMA_MESSAGE.with(|c| *c.borrow_mut() = Some((schema.clone(), bytes.clone())));
    Ok(bytes)
}

/// Decodes an IPC stream supplied by a caller. Malformed bytes are
/// [`crate::ErrorCode::InvalidArgument`]: the caller sent them and must fix them.
pub fn decode_stream(bytes: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let bad = |e: arrow_schema::ArrowError| {
        Error::InvalidArgument(format!("the bytes are not a valid Arrow IPC stream: {e}"))
    };
    check_framing(bytes)?;
    let reader = StreamReader::try_new(Cursor::new(bytes), None).map_err(bad)?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(bad)?;
    Ok((schema, batches))
}

/// Walks the stream's message frames and checks that every declared metadata and body length
/// fits in the bytes that follow it, before arrow's reader allocates buffers of those sizes.
/// Without this, a 200-byte stream that declares a body of terabytes makes the reader ask for
/// that much memory, which aborts a wasm instance.
fn check_framing(bytes: &[u8]) -> Result<()> {
    let bad = |at: usize, what: String| {
        Error::InvalidArgument(format!(
            "the bytes are not a valid Arrow IPC stream: message at byte {at}: {what}"
        ))
    };
    let word = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|w| <[u8; 4]>::try_from(w).ok())
            .map(i32::from_le_bytes)
    };
    let mut at = 0usize;
    let mut fields = None;
    while at < bytes.len() {
        let start = at;
        let Some(mut len) = word(at) else {
            return Err(bad(start, "truncated length prefix".into()));
        };
        at += 4;
        if len == -1 {
            // The continuation marker (format 0.15 and later); the length follows.
            len = word(at).ok_or_else(|| bad(start, "truncated length prefix".into()))?;
            at += 4;
        }
        if len == 0 {
            return Ok(()); // end of stream
        }
        let meta_len = usize::try_from(len)
            .map_err(|_| bad(start, format!("negative metadata length {len}")))?;
        let meta = bytes.get(at..at.saturating_add(meta_len)).ok_or_else(|| {
            bad(
                start,
                format!(
                    "metadata length {meta_len} runs past the end ({} bytes left)",
                    bytes.len() - at
                ),
            )
        })?;
        at += meta_len;
        let message = arrow_ipc::root_as_message(meta)
            .map_err(|e| bad(start, format!("unreadable message header: {e}")))?;
        let body = usize::try_from(message.bodyLength()).map_err(|_| {
            bad(
                start,
                format!("negative body length {}", message.bodyLength()),
            )
        })?;
        if let Some(schema) = message.header_as_schema() {
            check_schema(schema).map_err(|what| bad(start, what))?;
            fields = schema.fields();
        }

        // Every buffer a batch names must lie inside its body: arrow's reader slices them
        // without checking and would panic (a trap in wasm) on one that does not.
        let batch = match message.header_type() {
            arrow_ipc::MessageHeader::RecordBatch => message.header_as_record_batch(),
            arrow_ipc::MessageHeader::DictionaryBatch => {
                message.header_as_dictionary_batch().and_then(|d| d.data())
            }
            _ => None,
        };
        if let Some(b) = batch {
            if b.compression().is_some() {
                return Err(bad(start, "compressed bodies are not supported".into()));
            }
            let mut nodes = b.nodes().into_iter().flatten();
            let mut buffers = b.buffers().into_iter().flatten();
            let mut variadic = b.variadicBufferCounts().into_iter().flatten();
            match message.header_as_dictionary_batch() {
                // One column: the values of the dictionary-encoded field with this id.
                Some(d) => {
                    let field = fields
                        .into_iter()
                        .flatten()
                        .find_map(|f| dictionary_field(f, d.id(), 0))
                        .ok_or_else(|| {
                            bad(start, format!("no column uses dictionary {}", d.id()))
                        })?;
                    check_layout(field, &mut nodes, &mut buffers, &mut variadic, 0, true)
                        .map_err(|what| bad(start, what))?;
                }
                None => {
                    for field in fields.into_iter().flatten() {
                        check_layout(field, &mut nodes, &mut buffers, &mut variadic, 0, false)
                            .map_err(|what| bad(start, what))?;
                    }
                }
            }
            for buf in b.buffers().into_iter().flatten() {
                let end = u64::try_from(buf.offset())
                    .ok()
                    .zip(u64::try_from(buf.length()).ok())
                    .and_then(|(o, l)| o.checked_add(l));
                if end.is_none_or(|end| end > body as u64) {
                    return Err(bad(
                        start,
                        format!(
                            "a buffer at offset {} of length {} lies outside the {body}-byte body",
                            buf.offset(),
                            buf.length()
                        ),
                    ));
                }
            }
        }
        if body > bytes.len() - at {
            return Err(bad(
                start,
                format!(
                    "body length {body} runs past the end ({} bytes left)",
                    bytes.len() - at
                ),
            ));
        }
        at += body;
    }
    Ok(())
}

/// Checks a schema message's fields before arrow converts them: arrow-ipc's conversion panics
/// (a trap in wasm) on type parameters it does not support (an Int of bit width -64, a list
/// without its child, a decimal precision over 255, a big-endian decimal...). Refused here as
/// `INVALID_ARGUMENT`; so are types no Anax table has (unions, run-end encoding, list views).
fn check_schema(schema: arrow_ipc::Schema<'_>) -> std::result::Result<(), String> {
    let fields = schema
        .fields()
        .ok_or_else(|| "the schema message has no field list".to_owned())?;
    if schema.endianness() != arrow_ipc::Endianness::Little {
        return Err("big-endian data is not supported".into());
    }
    for field in fields {
        check_field(field, 0)?;
    }
    Ok(())
}

/// Checks that a record batch's field nodes and buffers fit `field`'s layout: each node's
/// counts are sane and each buffer is as long as its node says. arrow's reader builds bitmaps
/// and value buffers from them with `assert!`s (a panic, so a trap in wasm) rather than errors.
/// Offsets and values inside the buffers are arrow's own validation's to check.
fn check_layout<'a>(
    field: arrow_ipc::Field<'a>,
    nodes: &mut impl Iterator<Item = &'a arrow_ipc::FieldNode>,
    buffers: &mut impl Iterator<Item = &'a arrow_ipc::Buffer>,
    variadic: &mut impl Iterator<Item = i64>,
    depth: usize,
    as_values: bool,
) -> std::result::Result<(), String> {
    use arrow_ipc::{DateUnit, IntervalUnit, Precision, Type};
    let name = field.name().unwrap_or_default();
    let bad = |what: String| format!("column '{name}': {what}");
    if depth > 64 {
        return Err(bad("types nested more than 64 deep".into()));
    }
    let node = nodes
        .next()
        .ok_or_else(|| bad("the batch has fewer field nodes than the schema has fields".into()))?;
    let (Ok(len), Ok(nulls)) = (
        u64::try_from(node.length()),
        u64::try_from(node.null_count()),
    ) else {
        return Err(bad("a negative length or null count".into()));
    };
    if nulls > len {
        return Err(bad(format!("{nulls} nulls in {len} rows")));
    }
    // `unit`: arrow reads the buffer as elements of this many bytes, and panics on a length
    // that is not a multiple of it.
    let mut take = |need: Option<u64>, unit: u64, what: &str| -> std::result::Result<(), String> {
        let buf = buffers
            .next()
            .ok_or_else(|| bad(format!("the batch lacks its {what} buffer")))?;
        let need = need.ok_or_else(|| bad(format!("{len} rows overflow the {what} buffer")))?;
        let have = u64::try_from(buf.length()).unwrap_or(0);
        if have < need || have % unit.max(1) != 0 {
            return Err(bad(format!(
                "the {what} buffer has {have} bytes; {len} rows need {need}, in units of \
                     {unit}"
            )));
        }
        Ok(())
    };
    let bits = len.div_ceil(8);
    let offsets = |width: u64| {
        if len == 0 {
            Some(0)
        } else {
            len.checked_add(1).and_then(|n| n.checked_mul(width))
        }
    };
    if field.type_type() == Type::Null {
        return Ok(()); // no buffers at all
    }
    take(Some(if nulls > 0 { bits } else { 0 }), 1, "validity")?;
    let width = |w: u64| (len.checked_mul(w), w);
    let fixed = match field.type_type() {
        Type::Bool => Some((Some(bits), 1)),
        Type::Int => field
            .type_as_int()
            .map(|i| width(u64::try_from(i.bitWidth() / 8).unwrap_or(0))),
        Type::FloatingPoint => field.type_as_floating_point().map(|f| {
            width(match f.precision() {
                Precision::HALF => 2,
                Precision::SINGLE => 4,
                _ => 8,
            })
        }),
        Type::Date => field
            .type_as_date()
            .map(|d| width(if d.unit() == DateUnit::DAY { 4 } else { 8 })),
        Type::Time => field
            .type_as_time()
            .map(|t| width(u64::try_from(t.bitWidth() / 8).unwrap_or(0))),
        Type::Timestamp | Type::Duration => Some(width(8)),
        Type::Interval => field.type_as_interval().map(|i| {
            width(match i.unit() {
                IntervalUnit::YEAR_MONTH => 4,
                IntervalUnit::DAY_TIME => 8,
                _ => 16,
            })
        }),
        Type::Decimal => field
            .type_as_decimal()
            .map(|d| width(u64::try_from(d.bitWidth() / 8).unwrap_or(0))),
        Type::FixedSizeBinary => field
            .type_as_fixed_size_binary()
            .map(|f| (width(u64::try_from(f.byteWidth()).unwrap_or(0)).0, 1)),
        _ => None,
    };
    // A dictionary-encoded column carries its indices here; its values come in a dictionary
    // batch (checked with `as_values`).
    if let Some(d) = field.dictionary().filter(|_| !as_values) {
        let w = d
            .indexType()
            .and_then(|i| u64::try_from(i.bitWidth() / 8).ok())
            .unwrap_or(0);
        let (need, unit) = width(w);
        return take(need, unit, "indices");
    }
    if let Some((need, unit)) = fixed {
        return take(need, unit, "values");
    }
    let children = || field.children().into_iter().flatten();
    match field.type_type() {
        Type::Utf8 | Type::Binary => {
            take(offsets(4), 4, "offsets")?;
            take(Some(0), 1, "values")
        }
        Type::LargeUtf8 | Type::LargeBinary => {
            take(offsets(8), 8, "offsets")?;
            take(Some(0), 1, "values")
        }
        Type::List | Type::Map | Type::LargeList => {
            let w = if field.type_type() == Type::LargeList {
                8
            } else {
                4
            };
            take(offsets(w), w, "offsets")?;
            children().try_for_each(|c| check_layout(c, nodes, buffers, variadic, depth + 1, false))
        }
        Type::FixedSizeList | Type::Struct_ => {
            children().try_for_each(|c| check_layout(c, nodes, buffers, variadic, depth + 1, false))
        }
        Type::Utf8View | Type::BinaryView => {
            let (views, unit) = width(16);
            take(views, unit, "views")?;
            // The data buffers the views point into: any size (arrow checks the views).
            let n = variadic
                .next()
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| bad("no count of its variadic buffers".into()))?;
            (0..n).try_for_each(|_| take(Some(0), 1, "data"))
        }
        other => Err(bad(format!(
            "{other:?} columns are not supported in IPC input"
        ))),
    }
}

/// The field (at any depth) whose values dictionary `id` holds.
fn dictionary_field(
    field: arrow_ipc::Field<'_>,
    id: i64,
    depth: usize,
) -> Option<arrow_ipc::Field<'_>> {
    if field.dictionary().is_some_and(|d| d.id() == id) {
        return Some(field);
    }
    if depth > 64 {
        return None;
    }
    field
        .children()
        .into_iter()
        .flatten()
        .find_map(|c| dictionary_field(c, id, depth + 1))
}

fn check_field(field: arrow_ipc::Field<'_>, depth: usize) -> std::result::Result<(), String> {
    use arrow_ipc::{DateUnit, IntervalUnit, Precision, TimeUnit, Type};
    let name = field.name().unwrap_or_default();
    let bad = |what: &str| format!("column '{name}': {what}");
    if depth > 64 {
        return Err(bad("types nested more than 64 deep"));
    }
    let int_ok =
        |i: Option<arrow_ipc::Int<'_>>| i.is_some_and(|i| matches!(i.bitWidth(), 8 | 16 | 32 | 64));
    if let Some(d) = field.dictionary()
        && !int_ok(d.indexType())
    {
        return Err(bad(
            "a dictionary index type must be an integer of 8 to 64 bits",
        ));
    }
    let children = field.children().map_or(0, |c| c.len());
    let units = [
        TimeUnit::SECOND,
        TimeUnit::MILLISECOND,
        TimeUnit::MICROSECOND,
        TimeUnit::NANOSECOND,
    ];
    let ok = match field.type_type() {
        Type::Null
        | Type::Bool
        | Type::Binary
        | Type::LargeBinary
        | Type::Utf8
        | Type::LargeUtf8
        | Type::BinaryView
        | Type::Utf8View
        | Type::Struct_ => true,
        Type::Int => int_ok(field.type_as_int()),
        Type::FixedSizeBinary => field
            .type_as_fixed_size_binary()
            .is_some_and(|f| f.byteWidth() >= 0),
        Type::FloatingPoint => field.type_as_floating_point().is_some_and(|f| {
            matches!(
                f.precision(),
                Precision::HALF | Precision::SINGLE | Precision::DOUBLE
            )
        }),
        Type::Date => field
            .type_as_date()
            .is_some_and(|d| matches!(d.unit(), DateUnit::DAY | DateUnit::MILLISECOND)),
        Type::Time => field.type_as_time().is_some_and(|t| {
            matches!(
                (t.bitWidth(), t.unit()),
                (32, TimeUnit::SECOND | TimeUnit::MILLISECOND)
                    | (64, TimeUnit::MICROSECOND | TimeUnit::NANOSECOND)
            )
        }),
        Type::Timestamp => field
            .type_as_timestamp()
            .is_some_and(|t| units.contains(&t.unit())),
        Type::Duration => field
            .type_as_duration()
            .is_some_and(|d| units.contains(&d.unit())),
        Type::Interval => field.type_as_interval().is_some_and(|i| {
            matches!(
                i.unit(),
                IntervalUnit::YEAR_MONTH | IntervalUnit::DAY_TIME | IntervalUnit::MONTH_DAY_NANO
            )
        }),
        Type::List | Type::LargeList => children == 1,
        Type::FixedSizeList => {
            children == 1
                && field
                    .type_as_fixed_size_list()
                    .is_some_and(|f| f.listSize() >= 0)
        }
        Type::Map => children == 1 && field.type_as_map().is_some(),
        Type::Decimal => field.type_as_decimal().is_some_and(|d| {
            u8::try_from(d.precision()).is_ok()
                && i8::try_from(d.scale()).is_ok()
                && matches!(d.bitWidth(), 32 | 64 | 128 | 256)
        }),
        _ => false,
    };
    if !ok {
        return Err(bad(&format!(
            "type {:?} with these parameters is not supported",
            field.type_type()
        )));
    }
    for child in field.children().into_iter().flatten() {
        check_field(child, depth + 1)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use arrow_array::{Int32Array, StringArray};
    use arrow_schema::{Field, Schema};
    use std::sync::Arc;

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

    #[test]
    fn scan_pieces_share_column_buffers_and_decode_to_the_same_rows() {
        use arrow_array::{
            Array, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Decimal256Array,
            DurationSecondArray, FixedSizeBinaryArray, Float64Array, Int64Array,
            IntervalMonthDayNanoArray, LargeBinaryArray, LargeStringArray, NullArray,
            StringViewArray, Time64MicrosecondArray,
        };
        let n = 300usize;
        let text: Vec<Option<String>> = (0..n)
            .map(|i| (i % 7 != 3).then(|| "x".repeat(i % 13)))
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
                Arc::new(
                    FixedSizeBinaryArray::try_from_iter((0..n).map(|i| [i as u8; 3])).unwrap(),
                ),
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
            assert_eq!(err.code(), crate::ErrorCode::InvalidArgument, "{err}");
        }
        // A metadata length past the end, a negative one, and a cut stream.
        let mut meta_bomb = good.clone();
        meta_bomb[start - 4..start].copy_from_slice(&i32::MAX.to_le_bytes());
        assert_eq!(
            decode_stream(&meta_bomb).unwrap_err().code(),
            crate::ErrorCode::InvalidArgument
        );
        meta_bomb[start - 4..start].copy_from_slice(&(-5i32).to_le_bytes());
        assert_eq!(
            decode_stream(&meta_bomb).unwrap_err().code(),
            crate::ErrorCode::InvalidArgument
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
        assert_eq!(err.code(), crate::ErrorCode::InvalidArgument, "{err}");
        for cut in [1, 3, 5, start, start + len, good.len() - 9] {
            assert_eq!(
                decode_stream(&good[..cut]).unwrap_err().code(),
                crate::ErrorCode::InvalidArgument,
                "cut at {cut}"
            );
        }
    }
}
