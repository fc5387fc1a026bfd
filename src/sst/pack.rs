//! The tail pack: the tails (bloom filters, page index, footer) of a table's large SSTs in one
//! object at a fixed path, so that a fresh handle fetches them in the same round trip as the
//! manifest head instead of one round trip later, and a cold point read costs two round trips
//! (head and pack, then data) instead of three (head, tails, data).
//!
//! The pack only saves time, and is trusted no further than the SST it copies: each tail is
//! used only when its length and CRC32C equal those the manifest head records for that SST
//! (the check a tail read from the file passes), so a stale pack (written for an older head,
//! or by a compactor that lost a race) or a damaged one costs the round trip it would have
//! saved, never a wrong answer.
//!
//! Format (`docs/format/sst.md`, "Tail pack"): the 8 bytes `ANXTAIL1`, a u32 entry count, then
//! per entry a u16 path length, the UTF-8 path, the u64 file size, a u32 tail length and the
//! tail; last, the CRC32C of everything before it. Integers little-endian.

use bytes::{Bytes, BytesMut};

/// Where a table's tail pack lives (beside the manifest head, outside what GC sweeps).
pub const PACK_PATH: &str = "manifest/tails";

/// The first bytes of a pack.
const MAGIC: &[u8; 8] = b"ANXTAIL1";

/// The most a pack holds: an open reads it whole, also when it opens a table to write, so it
/// must stay small beside a Worker's memory. Tails that do not fit are left out (their SSTs
/// are opened with a ranged read, as without a pack).
pub const PACK_MAX_BYTES: u64 = 4 << 20;

/// One SST's tail in a pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackEntry {
    /// The SST's path, as the manifest names it.
    pub path: String,
    /// The SST's size.
    pub size: u64,
    /// Its last bytes (`SstMeta::tail_bytes` of them).
    pub tail: Bytes,
}

/// The bytes of a pack holding `entries` (the caller keeps them under [`PACK_MAX_BYTES`]); an
/// entry whose path or tail is too long for the format's length fields is left out.
pub fn encode(entries: &[PackEntry]) -> Bytes {
    let fits =
        |e: &&PackEntry| u16::try_from(e.path.len()).is_ok() && u32::try_from(e.tail.len()).is_ok();
    let entries: Vec<&PackEntry> = entries.iter().filter(fits).collect();
    let body: usize = entries
        .iter()
        .map(|e| 18 + e.path.len() + e.tail.len())
        .sum();
    let mut out = BytesMut::with_capacity(16 + body);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        let path = e.path.as_bytes();
        out.extend_from_slice(&(path.len() as u16).to_le_bytes());
        out.extend_from_slice(path);
        out.extend_from_slice(&e.size.to_le_bytes());
        out.extend_from_slice(&(e.tail.len() as u32).to_le_bytes());
        out.extend_from_slice(&e.tail);
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.freeze()
}

/// The entries of a pack, or `None` when `bytes` is not a whole, undamaged pack. The tails
/// share `bytes`' buffer; nothing is allocated beyond one entry per entry that is present.
pub fn decode(bytes: &Bytes) -> Option<Vec<PackEntry>> {
    let body_len = bytes.len().checked_sub(4)?;
    let (body, crc) = bytes.split_at(body_len);
    if crc32c::crc32c(body) != u32::from_le_bytes(crc.try_into().ok()?) {
        return None;
    }
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<std::ops::Range<usize>> {
        let end = at.checked_add(n).filter(|&e| e <= body_len)?;
        let r = at..end;
        at = end;
        Some(r)
    };
    if body.get(take(8)?)? != MAGIC {
        return None;
    }
    let count = u32::from_le_bytes(body.get(take(4)?)?.try_into().ok()?);
    // Each entry takes at least 18 bytes: a count beyond that is a lie, refused before any
    // memory is reserved for it.
    if count as usize > body_len / 18 {
        return None;
    }
    // Grown as entries are found, not reserved from the count: a forged count costs nothing.
    let mut entries = Vec::new();
    for _ in 0..count {
        let plen = u16::from_le_bytes(body.get(take(2)?)?.try_into().ok()?);
        let path = std::str::from_utf8(body.get(take(plen as usize)?)?).ok()?;
        let size = u64::from_le_bytes(body.get(take(8)?)?.try_into().ok()?);
        let tlen = u32::from_le_bytes(body.get(take(4)?)?.try_into().ok()?);
        let tail = take(tlen as usize)?;
        entries.push(PackEntry {
            path: path.to_owned(),
            size,
            tail: bytes.slice(tail),
        });
    }
    (at == body_len).then_some(entries)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn sample() -> Vec<PackEntry> {
        vec![
            PackEntry {
                path: "sst/L1/0001765000000000-00000000000000aa.parquet".into(),
                size: 9_000_000,
                tail: Bytes::from(vec![7u8; 5000]),
            },
            PackEntry {
                path: "sst/L2/é-🦀.parquet".into(),
                size: 300_000,
                tail: Bytes::new(),
            },
        ]
    }

    #[test]
    fn a_pack_reads_back_as_written() {
        let bytes = encode(&sample());
        assert_eq!(decode(&bytes).unwrap(), sample());
        assert_eq!(decode(&encode(&[])).unwrap(), Vec::new());
    }

    #[test]
    fn every_cut_and_every_flipped_byte_is_refused_without_a_panic() {
        let bytes = encode(&sample()[..1]);
        for n in 0..bytes.len() {
            assert_eq!(decode(&bytes.slice(..n)), None, "cut at {n}");
        }
        let mut step = 0;
        while step < bytes.len() {
            let mut v = bytes.to_vec();
            v[step] ^= 0x5A;
            assert_eq!(decode(&Bytes::from(v)), None, "flipped {step}");
            step += 97;
        }
    }

    #[test]
    fn a_lying_count_or_length_with_a_matching_checksum_is_refused() {
        // An adversary can make the checksum match: the structure is still checked.
        let forge = |body: Vec<u8>| {
            let mut v = body;
            let crc = crc32c::crc32c(&v);
            v.extend_from_slice(&crc.to_le_bytes());
            Bytes::from(v)
        };
        let mut huge_count = MAGIC.to_vec();
        huge_count.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&forge(huge_count)), None);
        let mut long_tail = MAGIC.to_vec();
        long_tail.extend_from_slice(&1u32.to_le_bytes());
        long_tail.extend_from_slice(&1u16.to_le_bytes());
        long_tail.push(b'p');
        long_tail.extend_from_slice(&10u64.to_le_bytes());
        long_tail.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&forge(long_tail)), None);
        let mut trailing = encode(&sample()).to_vec();
        trailing.truncate(trailing.len() - 4);
        trailing.push(0);
        assert_eq!(decode(&forge(trailing)), None);
        let mut bad_utf8 = MAGIC.to_vec();
        bad_utf8.extend_from_slice(&1u32.to_le_bytes());
        bad_utf8.extend_from_slice(&1u16.to_le_bytes());
        bad_utf8.push(0xFF);
        bad_utf8.extend_from_slice(&0u64.to_le_bytes());
        bad_utf8.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(decode(&forge(bad_utf8)), None);
    }
}
