//! Drop notes: which SSTs a commit removed from the head, and when, kept outside the head.
//!
//! A reader on another worker may still be reading a file a compaction just dropped, so files
//! are deleted only a grace period after they leave the head. Listing them in the head made it
//! grow with the write rate times the grace period (10,000 one-row puts left a 917 KB head that
//! every later commit rewrote). Instead a compaction writes one immutable note before its
//! compare-and-swap, named by the committer's clock and the commit's id; GC lists the notes,
//! deletes the files of those older than the grace period (unless a head still names them: the
//! note of a commit that lost its race names live files), then the note.

use bytes::Bytes;

use super::commit::Manifest;
use super::format::{decode_note, encode_note};
use crate::error::Result;
use crate::storage::PutMode;

/// Where drop notes live.
pub const DROPPED_DIR: &str = "manifest/dropped/";

/// One note, as its name tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteRef {
    /// The object's path.
    pub path: String,
    /// The committer's clock when it dropped the files (milliseconds since the epoch).
    pub dropped_ms: u64,
}

/// The path of the note of commit `commit_id`, made at `ms`.
pub fn note_path(ms: u64, commit_id: u64) -> String {
    format!("{DROPPED_DIR}{ms:016}-{commit_id:016x}")
}

/// The time in a note's path, or `None` for anything else under the directory.
fn note_ms(path: &str) -> Option<u64> {
    let name = path.strip_prefix(DROPPED_DIR)?;
    let (ms, id) = name.split_once('-')?;
    let ok = ms.len() == 16
        && id.len() == 16
        && ms.bytes().all(|b| b.is_ascii_digit())
        && id.bytes().all(|b| b.is_ascii_hexdigit());
    if ok { ms.parse().ok() } else { None }
}

impl Manifest {
    /// Writes the note of a commit that will drop `files` (path, bytes).
    pub async fn write_note(&self, path: &str, files: &[(String, u64)]) -> Result<()> {
        let bytes = Bytes::from(encode_note(files));
        self.storage.put(path, bytes, PutMode::Overwrite).await?;
        Ok(())
    }

    /// Every note, oldest first.
    pub async fn notes(&self) -> Result<Vec<NoteRef>> {
        let mut out: Vec<NoteRef> = self
            .storage
            .list(DROPPED_DIR)
            .await?
            .into_iter()
            .filter_map(|o| {
                note_ms(&o.path).map(|dropped_ms| NoteRef {
                    path: o.path,
                    dropped_ms,
                })
            })
            .collect();
        out.sort_by(|a, b| a.dropped_ms.cmp(&b.dropped_ms).then(a.path.cmp(&b.path)));
        Ok(out)
    }

    /// The files a note names.
    pub async fn read_note(&self, note: &NoteRef) -> Result<Vec<(String, u64)>> {
        decode_note(&self.storage.get(&note.path).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_paths_carry_their_time_and_nothing_else_parses() {
        let p = note_path(1_765_000_000_123, 0xdead_beef);
        assert_eq!(p, "manifest/dropped/0001765000000123-00000000deadbeef");
        assert_eq!(note_ms(&p), Some(1_765_000_000_123));
        for bad in [
            "manifest/dropped/",
            "manifest/dropped/0001765000000123",
            "manifest/dropped/176500000012-00000000deadbeef",
            "manifest/dropped/0001765000000123-00000000deadbeeg",
            "manifest/dropped/+001765000000123-00000000deadbeef",
            "manifest/HEAD",
        ] {
            assert_eq!(note_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn notes_round_trip_and_damage_is_a_typed_error() {
        let files = vec![
            (
                "sst/L0/0000000000001-00000000000000aa.parquet".to_owned(),
                123,
            ),
            ("sst/L1/ünïcode".to_owned(), u64::MAX),
        ];
        let bytes = encode_note(&files);
        assert_eq!(decode_note(&bytes).unwrap(), files);
        assert_eq!(decode_note(&encode_note(&[])).unwrap(), vec![]);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            if let Some(x) = b.get_mut(i) {
                *x ^= 0x10;
            }
            let err = decode_note(&b).unwrap_err();
            assert_eq!(err.code(), crate::error::ErrorCode::Corrupt, "byte {i}");
        }
        assert!(decode_note(bytes.get(..bytes.len() - 1).unwrap_or(&[])).is_err());
    }
}
