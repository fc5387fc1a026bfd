//! Arrow IPC stream encoding: the wire format of the JS API (`get`/`scan` results, `put` input).

use std::io::Cursor;

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::SchemaRef;

use crate::error::{Error, Result};

/// Encodes `batches` (all of `schema`) as one IPC stream.
pub fn encode_stream(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(
        batches
            .iter()
            .map(RecordBatch::get_array_memory_size)
            .sum::<usize>()
            + 512,
    );
    let mut writer = StreamWriter::try_new(&mut out, schema)?;
    for b in batches {
        writer.write(b)?;
    }
    writer.finish()?;
    drop(writer);
    Ok(out)
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
