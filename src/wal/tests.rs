use futures::executor::block_on;

use super::*;
use crate::storage::MemoryStorage;

fn txn_bytes(txn: u64, ts: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_txn(
        &mut out,
        txn,
        ts,
        &[(WalOp::Put, payload), (WalOp::Delete, b"k")],
    );
    out
}

fn write_all(store: &MemoryStorage, txns: &[(u64, &[u8])]) {
    block_on(async {
        let mut w = WalWriter::new(WalConfig::default(), 1, 0);
        for (ts, p) in txns {
            w.write(store, txn_bytes(*ts, *ts, p), 0).await.unwrap();
        }
    });
}

fn replay_all(store: &MemoryStorage) -> Replay {
    block_on(replay(
        store,
        "wal",
        0,
        0,
        WalRecoveryMode::TruncateTail,
        &Default::default(),
    ))
    .unwrap()
}

#[test]
fn committed_transactions_replay_in_order() {
    let store = MemoryStorage::new();
    write_all(&store, &[(1, b"a"), (2, b"bb"), (3, b"ccc")]);
    let r = replay_all(&store);
    assert_eq!(r.txns.iter().map(|t| t.ts).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(r.max_ts, 3);
    assert_eq!(r.txns[1].ops[0], (WalOp::Put, Bytes::from_static(b"bb")));
    assert_eq!(r.txns[1].ops[1], (WalOp::Delete, Bytes::from_static(b"k")));
    assert!(r.cut_segments.is_empty());
    // The floor skips what is already in SSTs but still reports the highest timestamp.
    let r = block_on(replay(
        &store,
        "wal",
        0,
        2,
        WalRecoveryMode::TruncateTail,
        &Default::default(),
    ))
    .unwrap();
    assert_eq!(r.txns.iter().map(|t| t.ts).collect::<Vec<_>>(), [3]);
}

#[test]
fn a_torn_tail_at_every_byte_keeps_exactly_the_whole_transactions() {
    let store = MemoryStorage::new();
    write_all(&store, &[(1, b"a"), (2, b"bb"), (3, b"ccc")]);
    let full = block_on(store.get("wal/00000000000000000001.wal")).unwrap();
    let one = HEADER_BYTES + txn_bytes(1, 1, b"a").len();
    let two = one + txn_bytes(2, 2, b"bb").len();
    for cut in 0..full.len() {
        let s = MemoryStorage::new();
        block_on(s.put(
            "wal/00000000000000000001.wal",
            full.slice(..cut),
            crate::storage::PutMode::Overwrite,
        ))
        .unwrap();
        let r = replay_all(&s);
        let expect = if cut >= two {
            2
        } else if cut >= one {
            1
        } else {
            0
        };
        assert_eq!(r.txns.len(), expect, "cut at {cut}");
    }
}

#[test]
fn a_flipped_bit_cuts_the_segment_there() {
    let store = MemoryStorage::new();
    write_all(&store, &[(1, b"a"), (2, b"bb"), (3, b"ccc")]);
    let path = "wal/00000000000000000001.wal";
    let full = block_on(store.get(path)).unwrap().to_vec();
    let one = HEADER_BYTES + txn_bytes(1, 1, b"a").len();
    let two = one + txn_bytes(2, 2, b"bb").len();
    for i in 0..full.len() {
        let mut bad = full.clone();
        bad[i] ^= 0x10;
        let s = MemoryStorage::new();
        block_on(s.put(path, Bytes::from(bad), crate::storage::PutMode::Overwrite)).unwrap();
        let r = replay_all(&s);
        // Exactly the transactions wholly before the damaged byte survive.
        let expect = if i < one {
            0
        } else if i < two {
            1
        } else {
            2
        };
        assert_eq!(r.txns.len(), expect, "flip at {i}");
        if i >= HEADER_BYTES {
            assert_eq!(r.cut_segments, [1]);
        }
    }
}

#[test]
fn uncommitted_and_aborted_transactions_are_ignored() {
    let store = MemoryStorage::new();
    let mut data = segment_header(1);
    let mut t = Vec::new();
    encode_txn(&mut t, 7, 7, &[(WalOp::Put, b"x")]);
    // Drop the COMMIT frame (its last 8 + 1 + 8 bytes).
    data.extend_from_slice(&t[..t.len() - 17]);
    encode_abort(&mut data, 7);
    encode_txn(&mut data, 8, 8, &[(WalOp::Put, b"y")]);
    block_on(store.put(
        "wal/00000000000000000001.wal",
        Bytes::from(data),
        crate::storage::PutMode::Overwrite,
    ))
    .unwrap();
    let r = replay_all(&store);
    assert_eq!(r.txns.iter().map(|t| t.ts).collect::<Vec<_>>(), [8]);
}

#[test]
fn strict_recovery_rejects_damage_before_the_newest_segment() {
    let store = MemoryStorage::new();
    block_on(async {
        let cfg = WalConfig {
            segment_max_bytes: 1,
            ..WalConfig::default()
        };
        let mut w = WalWriter::new(cfg, 1, 0);
        for ts in 1..=3 {
            w.write(&store, txn_bytes(ts, ts, b"p"), 0).await.unwrap();
        }
        assert_eq!(w.segment(), 3, "each write rotated");
    });
    let path = "wal/00000000000000000001.wal";
    let mut first = block_on(store.get(path)).unwrap().to_vec();
    let last = first.len() - 1;
    first[last] ^= 1;
    block_on(store.put(path, Bytes::from(first), crate::storage::PutMode::Overwrite)).unwrap();
    let err = block_on(replay(
        &store,
        "wal",
        0,
        0,
        WalRecoveryMode::Strict,
        &Default::default(),
    ))
    .unwrap_err();
    assert_eq!(err.code(), crate::error::ErrorCode::Corrupt);
    let r = replay_all(&store);
    assert_eq!(r.txns.iter().map(|t| t.ts).collect::<Vec<_>>(), [2, 3]);
}
