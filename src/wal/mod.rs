//! The write-ahead log: commits are appended as checksummed frames to segment objects under
//! `{root}/wal/` before they become visible, and replayed on open.
//!
//! Segment `wal/{seq:020}.wal` = a 24-byte header (`ANXWALSG`, format version u16, reserved
//! u16, segment seq u64, CRC32C u32 of the preceding 20 bytes) followed by frames:
//! `len u32 | crc32c u32 | type u8 | payload` where `len` counts type + payload and the CRC
//! covers them. Frame types: BEGIN {txn u64, ts u64}, APPEND {txn u64, op u8, Arrow IPC stream},
//! COMMIT {txn u64}, ABORT {txn u64}, ABANDONED {segment u64} (written at the start of a
//! segment: that older segment was given up after a failed write and may end torn). A transaction's frames are written by one append, and only
//! transactions with a COMMIT frame are replayed, so a torn write never applies half a commit.

use bytes::Bytes;

use crate::codec::{Dec, Enc};
use crate::error::{Error, Result};
use crate::key::Timestamp;
use crate::options::{WalConfig, WalRecoveryMode, WalSyncPolicy};
use crate::storage::Storage;

/// Segment header magic.
pub const SEGMENT_MAGIC: &[u8; 8] = b"ANXWALSG";
/// Segment format version.
pub const WAL_FORMAT: u16 = 1;
/// Segment header size.
pub const HEADER_BYTES: usize = 24;
/// Frame header size (len + crc).
pub const FRAME_HEADER_BYTES: usize = 8;

const BEGIN: u8 = 1;
const APPEND: u8 = 2;
const COMMIT: u8 = 3;
const ABORT: u8 = 4;
const ABANDONED: u8 = 5;

/// What an APPEND frame does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalOp {
    /// Upsert the rows of the IPC payload (table schema).
    Put = 1,
    /// Delete the keys of the IPC payload (key columns).
    Delete = 2,
}

/// Path of segment `seq` under `dir`.
pub fn segment_path(dir: &str, seq: u64) -> String {
    format!("{dir}/{seq:020}.wal")
}

/// The segment number in a segment path, if it is one.
pub fn segment_seq(dir: &str, path: &str) -> Option<u64> {
    path.strip_prefix(dir)?
        .strip_prefix('/')?
        .strip_suffix(".wal")?
        .parse()
        .ok()
}

fn segment_header(seq: u64) -> Vec<u8> {
    let mut e = Enc::default();
    e.0.extend_from_slice(SEGMENT_MAGIC);
    e.u16(WAL_FORMAT);
    e.u16(0);
    e.u64(seq);
    let crc = crc32c::crc32c(&e.0);
    e.u32(crc);
    e.0
}

fn frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    let mut body = Vec::with_capacity(payload.len() + 1);
    body.push(kind);
    body.extend_from_slice(payload);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    out.extend_from_slice(&body);
}

/// Encodes one committed transaction: BEGIN, one APPEND per op, COMMIT.
pub fn encode_txn(out: &mut Vec<u8>, txn: u64, ts: Timestamp, ops: &[(WalOp, &[u8])]) {
    let mut e = Enc::default();
    e.u64(txn);
    e.u64(ts);
    frame(out, BEGIN, &e.0);
    for (op, ipc) in ops {
        let mut e = Enc::default();
        e.u64(txn);
        e.u8(*op as u8);
        e.0.extend_from_slice(ipc);
        frame(out, APPEND, &e.0);
    }
    frame(out, COMMIT, &txn.to_le_bytes());
}

/// Encodes an aborted transaction marker (a transaction whose frames must be ignored).
pub fn encode_abort(out: &mut Vec<u8>, txn: u64) {
    frame(out, ABORT, &txn.to_le_bytes());
}

/// A transaction found by replay.
#[derive(Debug, Clone)]
pub struct ReplayedTxn {
    /// Its commit timestamp.
    pub ts: Timestamp,
    /// Its operations, in order.
    pub ops: Vec<(WalOp, Bytes)>,
}

/// What replay found.
#[derive(Debug, Default)]
pub struct Replay {
    /// Committed transactions above the floor, in log order.
    pub txns: Vec<ReplayedTxn>,
    /// The highest timestamp seen in any committed transaction (floor included).
    pub max_ts: Timestamp,
    /// The highest segment number present.
    pub last_segment: Option<u64>,
    /// Segments whose tail was cut at a bad frame.
    pub cut_segments: Vec<u64>,
    /// Bytes ignored after those cuts.
    pub cut_bytes: u64,
    /// Segments the writer declared abandoned (their torn tails are expected).
    pub abandoned: Vec<u64>,
}

/// A transaction whose COMMIT frame was not seen yet: (txn id, ts, ops).
type OpenTxn = (u64, Timestamp, Vec<(WalOp, Bytes)>);

/// Parses one segment's frames into `out`. Returns where the valid prefix ends.
pub(crate) fn parse_segment(seq: u64, data: &[u8], floor_ts: Timestamp, out: &mut Replay) -> usize {
    if data.get(..HEADER_BYTES) != Some(&segment_header(seq)[..]) {
        return 0;
    }
    let mut pos = HEADER_BYTES;
    let mut valid_end = pos;
    // Open transactions: (txn, ts, ops).
    let mut open: Vec<OpenTxn> = Vec::new();
    while let Some(head) = data.get(pos..pos + FRAME_HEADER_BYTES) {
        let mut d = Dec::new(head, "wal frame");
        let (Ok(len), Ok(crc)) = (d.u32(), d.u32()) else {
            break;
        };
        let start = pos + FRAME_HEADER_BYTES;
        let Some(body) = start
            .checked_add(len as usize)
            .and_then(|end| data.get(start..end))
        else {
            break;
        };
        if crc32c::crc32c(body) != crc {
            break;
        }
        let Some((&kind, payload)) = body.split_first() else {
            break;
        };
        let mut d = Dec::new(payload, "wal frame");
        let Ok(txn) = d.u64() else { break };
        let ok = match kind {
            BEGIN => match d.u64() {
                Ok(ts) => {
                    open.retain(|o| o.0 != txn);
                    open.push((txn, ts, Vec::new()));
                    true
                }
                Err(_) => false,
            },
            APPEND => {
                let op = match d.u8() {
                    Ok(1) => Some(WalOp::Put),
                    Ok(2) => Some(WalOp::Delete),
                    _ => None,
                };
                match (op, open.iter_mut().find(|o| o.0 == txn)) {
                    (Some(op), Some(o)) => {
                        let rest = payload.get(9..).unwrap_or(&[]);
                        o.2.push((op, Bytes::copy_from_slice(rest)));
                        true
                    }
                    _ => false,
                }
            }
            COMMIT => match open.iter().position(|o| o.0 == txn) {
                Some(i) => {
                    let (_, ts, ops) = open.remove(i);
                    out.max_ts = out.max_ts.max(ts);
                    if ts > floor_ts {
                        out.txns.push(ReplayedTxn { ts, ops });
                    }
                    true
                }
                None => false,
            },
            ABORT => {
                open.retain(|o| o.0 != txn);
                true
            }
            ABANDONED => {
                out.abandoned.push(txn);
                true
            }
            _ => false,
        };
        if !ok {
            break;
        }
        pos = start + len as usize;
        valid_end = pos;
    }
    valid_end
}

/// Replays every segment at or above `floor_segment` under `dir`.
pub async fn replay(
    storage: &dyn Storage,
    dir: &str,
    floor_segment: u64,
    floor_ts: Timestamp,
    recovery: WalRecoveryMode,
    control: &crate::control::Control,
) -> Result<Replay> {
    let prefix = format!("{dir}/");
    let mut segments: Vec<(u64, String)> = storage
        .list(&prefix)
        .await?
        .into_iter()
        .filter_map(|m| segment_seq(dir, &m.path).map(|s| (s, m.path)))
        .collect();
    segments.sort();
    let mut out = Replay {
        max_ts: floor_ts,
        last_segment: segments.last().map(|s| s.0),
        ..Replay::default()
    };
    segments.retain(|(seq, _)| *seq >= floor_segment);
    let last = segments.last().map(|s| s.0);
    let mut damaged = Vec::new();
    let total = segments.len() as u64;
    control.step(crate::control::Phase::Replay, 0, total)?;
    for (done, (seq, path)) in (1u64..).zip(segments) {
        let data = storage.get(&path).await?;
        let end = parse_segment(seq, &data, floor_ts, &mut out);
        if end < data.len() {
            if Some(seq) != last {
                damaged.push((seq, path, end));
            }
            out.cut_segments.push(seq);
            out.cut_bytes += (data.len() - end) as u64;
        }
        control.step(crate::control::Phase::Replay, done, total)?;
    }
    if recovery == WalRecoveryMode::Strict
        && let Some((_, path, end)) = damaged.iter().find(|d| !out.abandoned.contains(&d.0))
    {
        return Err(Error::Corrupt(format!(
            "WAL segment {path} is damaged at byte {end} and newer segments follow"
        )));
    }
    Ok(out)
}

/// Appends frames to the current segment, rotating and syncing per [`WalConfig`].
#[derive(Debug)]
pub struct WalWriter {
    config: WalConfig,
    seq: u64,
    /// Bytes in the current segment (0: not created yet).
    bytes: u64,
    started_ms: u64,
    unsynced: u64,
    last_sync_ms: u64,
    /// Segments given up after a failed write, announced at the start of the next segment.
    abandoned: Vec<u64>,
}

impl WalWriter {
    /// A writer whose first segment will be `seq`.
    pub fn new(config: WalConfig, seq: u64, now_ms: u64) -> Self {
        Self {
            config,
            seq,
            bytes: 0,
            started_ms: now_ms,
            unsynced: 0,
            last_sync_ms: now_ms,
            abandoned: Vec::new(),
        }
    }

    /// Records that segment `seq` ends torn (a crash cut its last write): the next segment's
    /// first frames say so, which `Strict` recovery then accepts.
    pub fn announce_abandoned(&mut self, seq: u64) {
        if !self.abandoned.contains(&seq) {
            self.abandoned.push(seq);
        }
    }

    /// The segment the next frames go to.
    pub fn segment(&self) -> u64 {
        self.seq
    }

    /// Starts a new segment for the next frames (after syncing the current one).
    pub async fn rotate(&mut self, storage: &dyn Storage, now_ms: u64) -> Result<u64> {
        if self.bytes > 0 {
            self.sync(storage, now_ms).await?;
            self.seq += 1;
            self.bytes = 0;
        }
        self.started_ms = now_ms;
        Ok(self.seq)
    }

    /// Appends `frames` (whole transactions) and syncs when the policy says so. On return the
    /// frames are written, and durable unless the policy deferred the sync.
    pub async fn write(
        &mut self,
        storage: &dyn Storage,
        frames: Vec<u8>,
        now_ms: u64,
    ) -> Result<()> {
        let aged = self
            .config
            .segment_max_age_ms
            .is_some_and(|age| now_ms.saturating_sub(self.started_ms) >= age);
        if self.bytes > 0 && (self.bytes >= self.config.segment_max_bytes || aged) {
            self.rotate(storage, now_ms).await?;
        }
        let path = segment_path(&self.config.dir, self.seq);
        let fresh = self.bytes == 0;
        let data = if fresh {
            self.started_ms = now_ms;
            let mut with_header = segment_header(self.seq);
            for seq in &self.abandoned {
                frame(&mut with_header, ABANDONED, &seq.to_le_bytes());
            }
            with_header.extend_from_slice(&frames);
            with_header
        } else {
            frames
        };
        let n = data.len() as u64;
        self.bytes = storage.append(&path, Bytes::from(data)).await?;
        if fresh {
            self.abandoned.clear();
        }
        self.unsynced += n;
        let due = match self.config.sync {
            WalSyncPolicy::Always => true,
            WalSyncPolicy::IntervalBytes(b) => self.unsynced >= b,
            WalSyncPolicy::IntervalTime(ms) => now_ms.saturating_sub(self.last_sync_ms) >= ms,
            WalSyncPolicy::Disabled => false,
        };
        if due {
            self.sync(storage, now_ms).await?;
        }
        Ok(())
    }

    /// Gives up the current segment after a failed write (it may end in a torn frame that
    /// replay stops at): the next write starts a new segment, which records the abandonment.
    /// Acknowledged frames in the old segment still get the sync they are owed (best effort).
    pub async fn abandon_segment(&mut self, storage: &dyn Storage) {
        if self.unsynced > 0 && self.bytes > 0 {
            let _ = storage
                .sync(&segment_path(&self.config.dir, self.seq))
                .await;
        }
        self.abandoned.push(self.seq);
        // Even a failed first write may have left a torn header behind.
        self.seq += 1;
        self.bytes = 0;
        self.unsynced = 0;
    }

    /// Makes everything written durable.
    pub async fn sync(&mut self, storage: &dyn Storage, now_ms: u64) -> Result<()> {
        if self.unsynced > 0 && self.bytes > 0 {
            storage
                .sync(&segment_path(&self.config.dir, self.seq))
                .await?;
        }
        self.unsynced = 0;
        self.last_sync_ms = now_ms;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
