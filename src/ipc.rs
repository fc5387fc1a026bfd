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
    let mut parts = encode_parts(schema, batches)?;
    if parts.len() == 1
        && let Some(one) = parts.pop()
    {
        return Ok(one);
    }
    let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum());
    for p in &parts {
        out.extend_from_slice(p);
    }
    Ok(out)
}

/// One IPC stream of `batches` as consecutive pieces, for a caller that copies them straight
/// to their destination: a scan's result goes to a JS buffer without first being assembled
/// in wasm memory (12.8 MB for B3's table, one copy fewer).
pub fn encode_parts(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<Vec<u8>>> {
    if !flat_without_dictionaries(schema) {
        let mut out = Vec::with_capacity(1024);
        let mut writer = StreamWriter::try_new(&mut out, schema)?;
        for b in batches {
            writer.write(b)?;
        }
        writer.finish()?;
        drop(writer);
        return Ok(vec![out]);
    }
    // The same bytes StreamWriter writes, with the schema message encoded once per schema:
    // for the one-row answers of `get` it was most of the cost.
    let options = IpcWriteOptions::default();
    let generator = IpcDataGenerator::default();
    let mut tracker = DictionaryTracker::new(false);
    let mut parts = Vec::with_capacity(2 + 2 * batches.len());
    let mut head = schema_message(schema, &generator, &options)?;
    let mut compression = CompressionContext::default();
    for b in batches {
        let (dictionaries, mut message) =
            generator.encode(b, &mut tracker, &options, &mut compression)?;
        if !dictionaries.is_empty() {
            return Err(Error::Internal(
                "a flat schema produced dictionary batches".into(),
            ));
        }
        // The body is written after the message header as is (it is already padded), so it
        // is kept as its own piece rather than copied behind the header.
        let body = std::mem::take(&mut message.arrow_data);
        write_message(&mut head, message, &options)?;
        parts.push(std::mem::take(&mut head));
        parts.push(body);
    }
    // End of stream: continuation marker and a zero length.
    head.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    parts.push(head);
    parts.retain(|p| !p.is_empty());
    Ok(parts)
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
        }
        let (schema, batches) = decode_stream(&encode_stream(&a, &[one]).unwrap()).unwrap();
        assert_eq!(schema, a);
        assert_eq!(batches.first().map(|b| b.num_rows()), Some(1));
    }
}
