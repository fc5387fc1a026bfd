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

/// Encodes `batches` (all of `schema`) as one IPC stream.
pub fn encode_stream(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    if !flat_without_dictionaries(schema) {
        return stream_writer(schema, batches);
    }
    // The same bytes StreamWriter writes, with the schema message encoded once per schema:
    // for the one-row answers of `get` it was most of the cost. One buffer, written in place.
    let mut flat = FlatEncoder::new();
    let mut out = schema_message(schema, &flat.generator, &flat.options)?;
    for b in batches {
        write_message(&mut out, flat.encode(b)?, &flat.options)?;
    }
    out.extend_from_slice(&END_OF_STREAM);
    Ok(out)
}

/// One IPC stream of `batches` as consecutive pieces, for a caller that copies them straight
/// to their destination: a scan's result goes to a JS buffer without first being assembled
/// in wasm memory (12.8 MB for B3's table, one copy fewer).
pub fn encode_parts(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<Vec<u8>>> {
    if !flat_without_dictionaries(schema) {
        return Ok(vec![stream_writer(schema, batches)?]);
    }
    let mut flat = FlatEncoder::new();
    let mut parts = Vec::with_capacity(2 + 2 * batches.len());
    let mut head = schema_message(schema, &flat.generator, &flat.options)?;
    for b in batches {
        let mut message = flat.encode(b)?;
        // The body follows the header as it is (already padded to the alignment), so it is
        // its own piece rather than copied behind the header.
        let body = std::mem::take(&mut message.arrow_data);
        write_message(&mut head, message, &flat.options)?;
        parts.push(std::mem::take(&mut head));
        parts.push(body);
    }
    head.extend_from_slice(&END_OF_STREAM);
    parts.push(head);
    parts.retain(|p| !p.is_empty());
    Ok(parts)
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
    static SCHEMA_MESSAGE: std::cell::RefCell<Option<(SchemaRef, Vec<u8>)>> =
        const { std::cell::RefCell::new(None) };
}

/// The encoded schema message for `schema`, from the one-entry cache when it matches.
fn schema_message(
    schema: &SchemaRef,
    generator: &IpcDataGenerator,
    options: &IpcWriteOptions,
) -> Result<Vec<u8>> {
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
    SCHEMA_MESSAGE.with(|c| *c.borrow_mut() = Some((schema.clone(), bytes.clone())));
    Ok(bytes)
}

/// Decodes an IPC stream supplied by a caller. Malformed bytes are
/// [`crate::ErrorCode::InvalidArgument`]: the caller sent them and must fix them.
pub fn decode_stream(bytes: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let bad = |e: arrow_schema::ArrowError| {
        Error::InvalidArgument(format!("the bytes are not a valid Arrow IPC stream: {e}"))
    };
    let reader = StreamReader::try_new(Cursor::new(bytes), None).map_err(bad)?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(bad)?;
    Ok((schema, batches))
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

    #[test]
    fn the_fast_path_writes_what_stream_writer_writes_for_each_schema() {
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
        // A slice (what a get returns) must encode like StreamWriter encodes it.
        let one = batch_a.slice(1, 1);
        let batch_b =
            RecordBatch::try_new(b.clone(), vec![Arc::new(Int32Array::from(vec![7]))]).unwrap();
        // Alternate schemas so the one-entry cache is both hit and replaced.
        for _ in 0..2 {
            assert_eq!(
                encode_stream(&a, std::slice::from_ref(&one)).unwrap(),
                reference(&a, std::slice::from_ref(&one))
            );
            assert_eq!(
                encode_stream(&a, &[batch_a.clone(), one.clone()]).unwrap(),
                reference(&a, &[batch_a.clone(), one.clone()])
            );
            assert_eq!(
                encode_stream(&b, std::slice::from_ref(&batch_b)).unwrap(),
                reference(&b, std::slice::from_ref(&batch_b))
            );
            assert_eq!(encode_stream(&b, &[]).unwrap(), reference(&b, &[]));
            // The pieces of a scan's answer, laid end to end, are the same stream.
            assert_eq!(
                encode_parts(&a, &[batch_a.clone(), one.clone()])
                    .unwrap()
                    .concat(),
                reference(&a, &[batch_a.clone(), one.clone()])
            );
            assert_eq!(encode_parts(&b, &[]).unwrap().concat(), reference(&b, &[]));
        }
        let (schema, batches) = decode_stream(&encode_stream(&a, &[one]).unwrap()).unwrap();
        assert_eq!(schema, a);
        assert_eq!(batches.first().map(|b| b.num_rows()), Some(1));
    }
}
