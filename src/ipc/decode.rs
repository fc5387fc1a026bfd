//! Decoding an IPC stream a caller supplied, after a walk of its message frames checks that
//! every declared length and buffer fits in the bytes that carry it.

use std::io::Cursor;

use arrow_array::RecordBatch;
use arrow_ipc::reader::{FileDecoder, StreamReader};
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

/// Decodes Arrow IPC a caller supplied in either format: a stream, or a file (what
/// apache-arrow's `tableToIPC(t, "file")` and `.arrow` files hold). A file's schema is in its
/// footer (apache-arrow writes no schema message), and its footer lists where each dictionary
/// and record batch message lies: each of those is checked as a stream's messages are before
/// arrow's file reader reads them.
pub fn decode_stream_or_file(bytes: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    if !bytes.starts_with(FILE_MAGIC) {
        return decode_stream(bytes);
    }
    let bad = |e: arrow_schema::ArrowError| {
        Error::InvalidArgument(format!("the bytes are not a valid Arrow IPC file: {e}"))
    };
    let footer = check_file(bytes)?;
    let schema = footer
        .schema()
        .map(arrow_ipc::convert::fb_to_schema)
        .map(std::sync::Arc::new)
        .ok_or_else(|| Error::InvalidArgument("the Arrow IPC file has no schema".into()))?;
    // The decoder over the message blocks the footer lists (checked by `check_file`).
    let mut decoder = FileDecoder::new(schema.clone(), footer.version());
    let whole = arrow_buffer::Buffer::from(bytes);
    let slice = |b: &arrow_ipc::Block| {
        whole.slice_with_length(
            b.offset() as usize,
            b.metaDataLength() as usize + b.bodyLength() as usize,
        )
    };
    for block in footer.dictionaries().into_iter().flatten() {
        decoder.read_dictionary(block, &slice(block)).map_err(bad)?;
    }
    let mut batches = Vec::new();
    for block in footer.recordBatches().into_iter().flatten() {
        if let Some(b) = decoder
            .read_record_batch(block, &slice(block))
            .map_err(bad)?
        {
            batches.push(b);
        }
    }
    Ok((schema, batches))
}

/// What an IPC file starts and ends with.
const FILE_MAGIC: &[u8; 6] = b"ARROW1";

/// Checks an IPC file's frame (closing magic, footer length), its footer's schema, and each
/// message the footer points to, before arrow's decoder trusts any of them; the footer.
fn check_file(bytes: &[u8]) -> Result<arrow_ipc::Footer<'_>> {
    let bad = |what: String| {
        Error::InvalidArgument(format!(
            "the bytes start like an Arrow IPC file but {what}: send a whole file or a stream"
        ))
    };
    // Magic and padding, then at least the footer length and the closing magic.
    let head = 8;
    let tail = 4 + FILE_MAGIC.len();
    if bytes.len() < head + tail || !bytes.ends_with(FILE_MAGIC) {
        return Err(bad("do not end with its closing magic (cut short?)".into()));
    }
    let at = bytes.len() - tail;
    let len = le_i32(bytes, at)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n <= at - head)
        .ok_or_else(|| bad("declare a footer longer than the file".into()))?;
    let footer = arrow_ipc::root_as_footer(bytes.get(at - len..at).unwrap_or_default())
        .map_err(|e| bad(format!("have an unreadable footer: {e}")))?;
    let schema = footer
        .schema()
        .ok_or_else(|| bad("have no schema in the footer".into()))?;
    check_schema(schema).map_err(|what| bad(format!("have a bad schema: {what}")))?;
    let blocks = footer.dictionaries().into_iter().flatten();
    for block in blocks.chain(footer.recordBatches().into_iter().flatten()) {
        let (offset, meta, body) = (block.offset(), block.metaDataLength(), block.bodyLength());
        let range = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(meta).ok())
            .zip(usize::try_from(body).ok())
            .and_then(|((o, m), b)| Some(o..o.checked_add(m)?.checked_add(b)?))
            .filter(|r| r.end <= at - len)
            .ok_or_else(|| {
                bad(format!(
                    "list a message at offset {offset} ({meta} + {body} bytes) outside the file"
                ))
            })?;
        let frame = bytes.get(range).unwrap_or_default();
        // The decoder finds the body `metaDataLength` bytes in, where the message's own
        // length prefix must put it too: the checks below measure from there.
        let declared = message_prefix(frame, 0)
            .and_then(|(prefix, n)| usize::try_from(n).ok().map(|n| prefix + n));
        if declared != usize::try_from(meta).ok() {
            return Err(bad(format!(
                "list a message at offset {offset} whose metadata is not {meta} bytes long"
            )));
        }
        // One message, checked as a stream's are (against the footer's columns).
        check_frames(frame, schema.fields())?;
    }
    Ok(footer)
}

/// The little-endian `i32` at `at`, if the bytes hold one there.
fn le_i32(bytes: &[u8], at: usize) -> Option<i32> {
    bytes
        .get(at..at.checked_add(4)?)
        .and_then(|w| <[u8; 4]>::try_from(w).ok())
        .map(i32::from_le_bytes)
}

/// The length prefix of the message at `at`: its size in bytes (8 with the continuation
/// marker of format 0.15 and later, 4 without) and the metadata length it declares.
fn message_prefix(bytes: &[u8], at: usize) -> Option<(usize, i32)> {
    match le_i32(bytes, at)? {
        -1 => le_i32(bytes, at + 4).map(|n| (8, n)),
        n => Some((4, n)),
    }
}

/// Walks the stream's message frames and checks that every declared metadata and body length
/// fits in the bytes that follow it, before arrow's reader allocates buffers of those sizes.
/// Without this, a 200-byte stream that declares a body of terabytes makes the reader ask for
/// that much memory, which aborts a wasm instance.
fn check_framing(bytes: &[u8]) -> Result<()> {
    check_frames(bytes, None)
}

/// The columns of a schema message or footer, which a batch's layout is checked against.
type Fields<'a> = flatbuffers::Vector<'a, flatbuffers::ForwardsUOffset<arrow_ipc::Field<'a>>>;

/// [`check_framing`] of messages whose schema may be known already (`fields`, from a file's
/// footer); a schema message among them replaces it.
fn check_frames<'a>(bytes: &'a [u8], fields: Option<Fields<'a>>) -> Result<()> {
    let bad = |at: usize, what: String| {
        Error::InvalidArgument(format!(
            "the bytes are not a valid Arrow IPC stream: message at byte {at}: {what}"
        ))
    };
    let mut at = 0usize;
    let mut fields = fields;
    while at < bytes.len() {
        let start = at;
        let Some((prefix, len)) = message_prefix(bytes, at) else {
            return Err(bad(start, "truncated length prefix".into()));
        };
        at += prefix;
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
