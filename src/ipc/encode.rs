//! Encoding record batches as one IPC stream: in one buffer, or as pieces a caller copies
//! straight to their destination, with the schema message cached across calls.

use arrow_array::RecordBatch;
use arrow_ipc::writer::{
    CompressionContext, DictionaryTracker, IpcDataGenerator, IpcWriteOptions, StreamWriter,
    write_message,
};
use arrow_schema::{DataType, SchemaRef};

use super::Piece;
use super::body::{shared_body, write_batch};
use crate::error::{Error, Result};

/// Encodes `batches` (all of `schema`) as one IPC stream, in one buffer: the bytes of
/// [`encode_parts`], with each column buffer copied once, straight into the buffer (a point
/// get's answer is built here, and the pieces cost more than the copying).
pub fn encode_stream(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    if !flat_without_dictionaries(schema) {
        return stream_writer(schema, batches);
    }
    let mut flat = FlatEncoder::new();
    let head = schema_message(schema, &flat.generator, &flat.options)?;
    let mut out = Vec::with_capacity(head.len() + 512);
    out.extend_from_slice(head.as_slice());
    for b in batches {
        if !write_batch(b, &mut out) {
            let mut message = flat.encode(b)?;
            let body = std::mem::take(&mut message.arrow_data);
            write_message(&mut out, message, &flat.options)?;
            out.extend_from_slice(&body);
        }
    }
    out.extend_from_slice(&END_OF_STREAM);
    Ok(out)
}

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

/// End of stream: continuation marker and a zero length.
const END_OF_STREAM: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];

/// Arrow's own stream writer: for schemas with nested or dictionary columns.
pub(super) fn stream_writer(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>> {
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
