//! Byte layout of the manifest head and history archives (documented field by field in
//! docs/format/manifest.md). Both are [`crate::codec::seal`]ed: magic, format version, length,
//! body, CRC32C.

use super::{
    ArchiveRef, Catalog, Condemned, Dropped, EditKind, HistoryEntry, ManifestState, WalFloor,
};
use crate::codec::{Dec, Enc, seal, unseal, unseal_versions};
use crate::error::Result;
use crate::sst::SstMeta;

/// Magic of the head object.
pub const HEAD_MAGIC: &[u8; 8] = b"ANXMANIF";
/// Magic of a history archive.
pub const ARCHIVE_MAGIC: &[u8; 8] = b"ANXMHIST";
/// Format version of archives, and of heads with no condemned files.
pub const MANIFEST_FORMAT: u16 = 1;
/// Format version of a head that lists condemned files (format 1 plus that list at the end).
/// Earlier builds wrote it only when the list was not empty, so that a build reading only
/// format 1 refused a head whose condemned files it would not know to keep out of commits;
/// today every head is written in [`MANIFEST_FORMAT_CHECKED`], and format 2 is only read.
pub const MANIFEST_FORMAT_CONDEMNED: u16 = 2;
/// Format version every head is written in now: each SST record ends with its tail's length
/// and CRC32C, the condemned list is always present, then the WAL log fields. Builds that
/// read only formats 1 and 2 refuse it rather than drop the checksums or the log's hold.
pub const MANIFEST_FORMAT_CHECKED: u16 = 3;
/// Format version every head is written in now: format 3 plus `archived_to`, the end of the
/// history chunks no head lists. A build reading only formats 1 to 3 refuses it rather than
/// list history without them (or archive into the old, listed archives beside them).
pub const MANIFEST_FORMAT_CHUNKED: u16 = 4;

fn put_sst(e: &mut Enc, m: &SstMeta, format: u16) {
    e.u64(m.id);
    e.u32(m.level);
    e.str(&m.path);
    e.u64(m.rows);
    e.u64(m.bytes);
    e.bytes(&m.min_key);
    e.bytes(&m.max_key);
    e.u64(m.min_ts);
    e.u64(m.max_ts);
    e.u64(m.tombstones);
    e.u64(m.distinct_keys);
    e.u64(m.ts_shift);
    if format >= MANIFEST_FORMAT_CHECKED {
        e.u64(m.tail_bytes);
        e.u32(m.tail_crc);
    }
}

fn get_sst(d: &mut Dec<'_>, format: u16) -> Result<SstMeta> {
    let mut m = SstMeta {
        id: d.u64()?,
        level: d.u32()?,
        path: d.string()?,
        rows: d.u64()?,
        bytes: d.u64()?,
        min_key: d.bytes()?.to_vec().into(),
        max_key: d.bytes()?.to_vec().into(),
        min_ts: d.u64()?,
        max_ts: d.u64()?,
        tombstones: d.u64()?,
        distinct_keys: d.u64()?,
        ts_shift: d.u64()?,
        tail_bytes: 0,
        tail_crc: 0,
    };
    if format >= MANIFEST_FORMAT_CHECKED {
        m.tail_bytes = d.u64()?;
        m.tail_crc = d.u32()?;
    }
    Ok(m)
}

fn put_history(e: &mut Enc, h: &HistoryEntry) {
    e.u64(h.version);
    e.u64(h.ts);
    e.u64(h.wall_ms);
    e.u64(h.commit_id);
    e.u8(h.kind as u8);
    e.u32(h.ssts);
    e.u64(h.bytes);
    e.u32(h.added);
    e.u32(h.removed);
}

const HISTORY_BYTES: usize = 8 * 4 + 1 + 4 + 8 + 4 + 4;

fn get_history(d: &mut Dec<'_>) -> Result<HistoryEntry> {
    let version = d.u64()?;
    let ts = d.u64()?;
    let wall_ms = d.u64()?;
    let commit_id = d.u64()?;
    let kind = EditKind::from_u8(d.u8()?).ok_or_else(|| d.corrupt("unknown edit kind"))?;
    Ok(HistoryEntry {
        version,
        ts,
        wall_ms,
        commit_id,
        kind,
        ssts: d.u32()?,
        bytes: d.u64()?,
        added: d.u32()?,
        removed: d.u32()?,
    })
}

/// Encodes a head object.
pub fn encode_state(s: &ManifestState) -> Vec<u8> {
    encode_state_as(s, MANIFEST_FORMAT_CHUNKED)
}

/// Encodes a head in `format`; the older formats (what earlier builds wrote) only so tests
/// can pin that they still decode. Fields a format lacks are left out.
pub(super) fn encode_state_as(s: &ManifestState, format: u16) -> Vec<u8> {
    let mut e = Enc::default();
    e.u64(s.version);
    e.u64(s.last_ts);
    e.str(&s.catalog.table_name);
    e.bytes(&s.catalog.schema_ipc);
    e.u32(s.catalog.key_names.len() as u32);
    for k in &s.catalog.key_names {
        e.str(k);
    }
    e.u32(s.catalog.fingerprint);
    e.u64(s.wal_floor.segment);
    e.u64(s.wal_floor.ts);
    e.u64(s.history_floor);
    e.u64(s.history_floor_ts);
    e.u32(s.ssts.len() as u32);
    for m in &s.ssts {
        put_sst(&mut e, m, format);
    }
    e.u32(s.graveyard.len() as u32);
    for g in &s.graveyard {
        e.str(&g.path);
        e.u64(g.bytes);
        e.u64(g.dropped_ms);
        e.u64(g.last_version);
    }
    e.u32(s.archives.len() as u32);
    for a in &s.archives {
        e.u64(a.first);
        e.u64(a.last);
        e.str(&a.path);
    }
    e.u32(s.history.len() as u32);
    for h in &s.history {
        put_history(&mut e, h);
    }
    if format >= MANIFEST_FORMAT_CONDEMNED {
        e.u32(s.condemned.len() as u32);
        for c in &s.condemned {
            e.str(&c.path);
            e.u64(c.version);
        }
    }
    if format >= MANIFEST_FORMAT_CHECKED {
        e.u64(s.wal_log);
        e.u64(s.wal_owner);
        e.u64(s.swept);
    }
    if format >= MANIFEST_FORMAT_CHUNKED {
        e.u64(s.archived_to);
    }
    seal(HEAD_MAGIC, format, &e.0)
}

/// Decodes a head object; damage is a `CORRUPT` error.
pub fn decode_state(bytes: &[u8]) -> Result<ManifestState> {
    let what = "manifest head";
    let (format, body) = unseal_versions(
        HEAD_MAGIC,
        MANIFEST_FORMAT..=MANIFEST_FORMAT_CHUNKED,
        bytes,
        what,
    )?;
    let mut d = Dec::new(body, what);
    let version = d.u64()?;
    let last_ts = d.u64()?;
    let table_name = d.string()?;
    let schema_ipc = d.bytes()?.to_vec();
    let n = d.count(4)?;
    let key_names = (0..n).map(|_| d.string()).collect::<Result<_>>()?;
    let fingerprint = d.u32()?;
    let wal_floor = WalFloor {
        segment: d.u64()?,
        ts: d.u64()?,
    };
    let history_floor = d.u64()?;
    let history_floor_ts = d.u64()?;
    let n = d.count(if format >= MANIFEST_FORMAT_CHECKED {
        80
    } else {
        68
    })?;
    let ssts = (0..n)
        .map(|_| get_sst(&mut d, format))
        .collect::<Result<_>>()?;
    let n = d.count(28)?;
    let graveyard = (0..n)
        .map(|_| {
            Ok(Dropped {
                path: d.string()?,
                bytes: d.u64()?,
                dropped_ms: d.u64()?,
                last_version: d.u64()?,
            })
        })
        .collect::<Result<_>>()?;
    let n = d.count(20)?;
    let archives = (0..n)
        .map(|_| {
            Ok(ArchiveRef {
                first: d.u64()?,
                last: d.u64()?,
                path: d.string()?,
            })
        })
        .collect::<Result<_>>()?;
    let n = d.count(HISTORY_BYTES)?;
    let history = (0..n).map(|_| get_history(&mut d)).collect::<Result<_>>()?;
    let condemned = if format >= MANIFEST_FORMAT_CONDEMNED {
        let n = d.count(12)?;
        (0..n)
            .map(|_| {
                Ok(Condemned {
                    path: d.string()?,
                    version: d.u64()?,
                })
            })
            .collect::<Result<_>>()?
    } else {
        Vec::new()
    };
    let (wal_log, wal_owner, swept) = if format >= MANIFEST_FORMAT_CHECKED {
        (d.u64()?, d.u64()?, d.u64()?)
    } else {
        (0, 0, 0)
    };
    let archived_to = if format >= MANIFEST_FORMAT_CHUNKED {
        d.u64()?
    } else {
        0
    };
    if d.remaining() != 0 {
        return Err(d.corrupt("trailing bytes"));
    }
    Ok(ManifestState {
        condemned,
        wal_log,
        wal_owner,
        swept,
        version,
        last_ts,
        catalog: Catalog {
            table_name,
            schema_ipc,
            key_names,
            fingerprint,
        },
        wal_floor,
        ssts,
        graveyard,
        history,
        archives,
        archived_to,
        history_floor,
        history_floor_ts,
    })
}

/// Encodes a history archive.
pub fn encode_archive(entries: &[HistoryEntry]) -> Vec<u8> {
    let mut e = Enc::default();
    e.u32(entries.len() as u32);
    for h in entries {
        put_history(&mut e, h);
    }
    seal(ARCHIVE_MAGIC, MANIFEST_FORMAT, &e.0)
}

/// Decodes a history archive.
pub fn decode_archive(bytes: &[u8]) -> Result<Vec<HistoryEntry>> {
    let what = "manifest history archive";
    let body = unseal(ARCHIVE_MAGIC, MANIFEST_FORMAT, bytes, what)?;
    let mut d = Dec::new(body, what);
    let n = d.count(HISTORY_BYTES)?;
    let out = (0..n).map(|_| get_history(&mut d)).collect::<Result<_>>()?;
    if d.remaining() != 0 {
        return Err(d.corrupt("trailing bytes"));
    }
    Ok(out)
}

/// Magic of a drop note.
pub const NOTE_MAGIC: &[u8; 8] = b"ANXMDROP";
/// Format version of drop notes.
pub const NOTE_FORMAT: u16 = 1;
/// Least bytes of one note entry: an empty path's length and the size.
const NOTE_ENTRY_BYTES: usize = 12;

/// Encodes a drop note: the paths and sizes of the SSTs one commit removes from the head.
pub fn encode_note(dropped: &[(String, u64)]) -> Vec<u8> {
    let mut e = Enc::default();
    e.u32(dropped.len() as u32);
    for (path, bytes) in dropped {
        e.str(path);
        e.u64(*bytes);
    }
    seal(NOTE_MAGIC, NOTE_FORMAT, &e.0)
}

/// Decodes a drop note.
pub fn decode_note(bytes: &[u8]) -> Result<Vec<(String, u64)>> {
    let what = "manifest drop note";
    let body = unseal(NOTE_MAGIC, NOTE_FORMAT, bytes, what)?;
    let mut d = Dec::new(body, what);
    let n = d.count(NOTE_ENTRY_BYTES)?;
    let out = (0..n)
        .map(|_| Ok((d.string()?, d.u64()?)))
        .collect::<Result<_>>()?;
    if d.remaining() != 0 {
        return Err(d.corrupt("trailing bytes"));
    }
    Ok(out)
}
