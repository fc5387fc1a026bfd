//! The void marker: what a reader leaves at an SST's path when the manifest names a file that
//! never arrived. A seal-every-batch put uploads its SST and publishes the manifest commit at the
//! same time, so for a moment (or forever, if the writer died) the head can name a file that is
//! not there yet. Both the upload and the marker are create-if-absent writes to the same path,
//! so exactly one lands: the rows, which the writer then acknowledges, or the marker, which
//! every reader takes for an empty file and which makes the writer report its put as failed.
//! Format: the 8 bytes `ANXVOID1`, then a UTF-8 note for people; never longer than 256 bytes.

/// The first bytes of a void marker (a Parquet file starts with `PAR1`, so never these).
pub const VOID_MAGIC: &[u8; 8] = b"ANXVOID1";

/// The bound on a marker's size: anything longer at an SST's path is a file, not a marker.
pub const VOID_MAX_BYTES: usize = 256;

/// The bytes of a marker.
pub fn void_marker() -> bytes::Bytes {
    let mut b = VOID_MAGIC.to_vec();
    b.extend_from_slice(b" the commit naming this SST was published, its upload never landed");
    bytes::Bytes::from(b)
}

/// Whether `bytes` (a whole object) is a void marker.
pub fn is_void(bytes: &[u8]) -> bool {
    bytes.len() <= VOID_MAX_BYTES && bytes.starts_with(VOID_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_is_told_from_a_file() {
        assert!(is_void(&void_marker()));
        assert!(!is_void(b"PAR1"));
        assert!(!is_void(b"ANXVOID"));
        let mut long = VOID_MAGIC.to_vec();
        long.resize(VOID_MAX_BYTES + 1, b' ');
        assert!(!is_void(&long));
    }
}
