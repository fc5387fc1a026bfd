//! Decoding an IPC stream a caller supplied, after a walk of its message frames checks that
//! every declared length and buffer fits in the bytes that carry it.

use std::io::Cursor;

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_schema::SchemaRef;

use super::layout::{check_layout, dictionary_field};
use super::schema_check::check_schema;
use crate::error::{Error, Result};

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
