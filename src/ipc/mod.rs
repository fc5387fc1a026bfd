//! Arrow IPC stream encoding: the wire format of the JS API (`get`/`scan` results, `put` input).
//! Encoding is in `encode` (with the zero-copy record batch bodies in `body`), decoding in
//! `decode`; `layout` and `schema_check` refuse what arrow's reader would panic on.

mod body;
mod decode;
mod encode;
mod layout;
mod schema_check;

#[cfg(test)]
mod tests;

pub use decode::{decode_stream, decode_stream_or_file};
pub use encode::{encode_parts, encode_stream};

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
