use std::sync::Arc;

use futures::executor::block_on;

use super::*;
use crate::runtime::{CasBackoffConfig, Clock, ManualClock};
use crate::sst::SstMeta;
use crate::storage::{MemoryStorage, Storage};

fn meta(id: u64, ts: u64) -> SstMeta {
    SstMeta {
        id,
        level: 0,
        path: format!("sst/L0/{id}.parquet"),
        rows: 10,
        bytes: 1000 + id,
        min_key: vec![1, 2].into(),
        max_key: vec![9, 0, 255].into(),
        min_ts: ts,
        max_ts: ts,
        tombstones: 1,
        distinct_keys: 9,
        ts_shift: 3,
        tail_bytes: 700 + id,
        tail_crc: 0xdead_beef ^ id as u32,
    }
}

fn catalog() -> Catalog {
    Catalog {
        table_name: "t".into(),
        schema_ipc: vec![1, 2, 3],
        key_names: vec!["id".into(), "k2".into()],
        fingerprint: 77,
    }
}

fn add(ids: &[u64], ts: u64) -> Edit {
    Edit {
        kind: Some(EditKind::Put),
        commit_id: ts,
        add: ids.iter().map(|&i| meta(i, ts)).collect(),
        ..Edit::default()
    }
}

#[test]
fn state_round_trips_and_damage_is_a_typed_error() {
    let mut s = ManifestState::empty(catalog());
    s = add(&[1, 2], 5).apply(&s, 100).unwrap();
    s = Edit {
        kind: Some(EditKind::Compact),
        remove: vec![1],
        add: vec![meta(3, 5)],
        wal_floor: Some(WalFloor { segment: 4, ts: 5 }),
        ..Edit::default()
    }
    .apply(&s, 200)
    .unwrap();
    let bytes = encode_state(&s);
    assert_eq!(decode_state(&bytes).unwrap(), s);
    assert_eq!(&bytes[..8], b"ANXMANIF");
    for i in (0..bytes.len()).step_by(7) {
        let mut bad = bytes.clone();
        bad[i] ^= 0x20;
        assert_eq!(
            decode_state(&bad).unwrap_err().code(),
            crate::error::ErrorCode::Corrupt,
            "flip at {i}"
        );
    }
    assert!(decode_state(&bytes[..bytes.len() - 1]).is_err());
    let hist = encode_archive(&s.history);
    assert_eq!(decode_archive(&hist).unwrap(), s.history);
}

#[test]
fn apply_moves_files_floors_and_history() {
    let s0 = ManifestState::empty(catalog());
    let s1 = add(&[1], 3).apply(&s0, 10).unwrap();
    let s2 = add(&[2], 7).apply(&s1, 20).unwrap();
    assert_eq!(s2.version, 2);
    assert_eq!(s2.last_ts, 7);
    assert_eq!(
        s2.ssts.iter().map(|m| m.id).collect::<Vec<_>>(),
        [2, 1],
        "newest first"
    );
    let s3 = Edit {
        remove: vec![1, 2],
        add: vec![meta(9, 7)],
        ..Edit::default()
    }
    .apply(&s2, 30)
    .unwrap();
    // Dropped files leave the head entirely (their drop note tells GC when they may go), so
    // a head does not grow with the write rate.
    assert!(s3.graveyard.is_empty());
    assert_eq!(s3.ssts.iter().map(|m| m.id).collect::<Vec<_>>(), [9]);
    // Removing what is gone no longer applies.
    let err = Edit {
        remove: vec![1],
        ..Edit::default()
    }
    .apply(&s3, 40)
    .unwrap_err();
    assert_eq!(err.code(), crate::error::ErrorCode::Conflict);
    // Rows stamped at or below the head's timestamp must be rewritten.
    let stale = Edit {
        min_ts: Some(7),
        ..add(&[10], 7)
    };
    assert_eq!(
        stale.apply(&s3, 40).unwrap_err().code(),
        crate::error::ErrorCode::Conflict
    );
    // With restamp, the same edit shifts its rows just above the head instead.
    let rebased = Edit {
        restamp: true,
        ..stale
    }
    .apply(&s3, 40)
    .unwrap();
    let m = rebased.ssts.iter().find(|m| m.id == 10).unwrap();
    assert_eq!((m.ts_shift, m.min_ts, m.max_ts), (3 + 1, 8, 8));
    assert_eq!(rebased.last_ts, 8);
    assert_eq!(rebased.history.last().unwrap().ts, 8);
    // Floors only move forward.
    let s4 = Edit {
        wal_floor: Some(WalFloor { segment: 5, ts: 9 }),
        ..Edit::default()
    }
    .apply(&s3, 50)
    .unwrap();
    let s5 = Edit {
        wal_floor: Some(WalFloor { segment: 2, ts: 1 }),
        history_floor: Some((3, 7)),
        ..Edit::default()
    }
    .apply(&s4, 60)
    .unwrap();
    assert_eq!(s5.wal_floor, WalFloor { segment: 5, ts: 9 });
    assert_eq!(s5.history.first().map(|h| h.version), Some(3));
    assert_eq!(
        s5.history.last().map(|h| (h.version, h.wall_ms)),
        Some((5, 60))
    );
}

#[test]
fn concurrent_committers_rebase_and_conflicting_edits_fail() {
    block_on(async {
        let store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let clock = Arc::new(ManualClock::new(0));
        let a = Manifest::new(store.clone(), clock.clone(), CasBackoffConfig::default());
        let b = Manifest::new(store.clone(), clock.clone(), CasBackoffConfig::default());
        let s0 = Edit::default()
            .apply(&ManifestState::empty(catalog()), 0)
            .unwrap();
        a.try_write(None, s0.clone()).await.unwrap();
        // A second creator loses.
        assert_eq!(
            b.try_write(None, s0).await.unwrap_err().code(),
            crate::error::ErrorCode::Conflict
        );
        b.load().await.unwrap();
        a.commit(&add(&[1], 1)).await.unwrap();
        // b's cached head is stale: its add is rebased onto a's commit.
        let h = b.commit(&add(&[2], 2)).await.unwrap();
        assert_eq!(h.state.ssts.len(), 2);
        assert_eq!(h.state.version, 3);
        // Both try to remove SST 1: the second finds it gone.
        let rm = Edit {
            remove: vec![1],
            ..Edit::default()
        };
        a.load().await.unwrap();
        a.commit(&rm).await.unwrap();
        assert_eq!(
            b.commit(&rm).await.unwrap_err().code(),
            crate::error::ErrorCode::Conflict
        );
        assert!(clock.now_millis() > 0, "the loser backed off");
    });
}

#[test]
fn heads_of_formats_1_to_3_still_decode() {
    let mut s = ManifestState::empty(catalog());
    s = add(&[1, 2], 5).apply(&s, 100).unwrap();
    // What a build before checksums and log holds knew: no tails, no log fields.
    let mut legacy = s.clone();
    for m in &mut legacy.ssts {
        (m.tail_bytes, m.tail_crc) = (0, 0);
    }
    let one = format::encode_state_as(&s, format::MANIFEST_FORMAT);
    assert_eq!(decode_state(&one).unwrap(), legacy);
    legacy.condemned = vec![Condemned {
        path: "sst/L0/9.parquet".into(),
        version: 3,
    }];
    s.condemned = legacy.condemned.clone();
    let two = format::encode_state_as(&s, format::MANIFEST_FORMAT_CONDEMNED);
    assert_eq!(decode_state(&two).unwrap(), legacy);
    // Format 3 adds SST tails and the log fields.
    s.wal_log = 7;
    s.wal_owner = 7;
    s.swept = 2;
    let three = format::encode_state_as(&s, format::MANIFEST_FORMAT_CHECKED);
    assert_eq!(decode_state(&three).unwrap(), s);
    assert_eq!(three.len(), two.len() + 2 * 12 + 24);
    // And the current format keeps everything: format 3 plus where the history chunks end.
    s.archived_to = 48;
    let four = encode_state(&s);
    assert_eq!(decode_state(&four).unwrap(), s);
    assert_eq!(four.len(), three.len() + 8);
    let mut s3 = s.clone();
    s3.archived_to = 0;
    assert_eq!(decode_state(&three).unwrap(), s3);
}

fn claim(log: u64, take_over: bool) -> Edit {
    Edit {
        kind: Some(EditKind::Claim),
        claim: Some(log),
        take_over,
        log,
        ..Edit::default()
    }
}

#[test]
fn a_held_table_refuses_other_logs_and_their_writes_until_released() {
    let mut s = add(&[1], 5)
        .apply(&ManifestState::empty(catalog()), 100)
        .unwrap();
    s = claim(11, false).apply(&s, 110).unwrap();
    assert_eq!((s.wal_owner, s.wal_log), (11, 11));
    // A new log starts above everything committed, from its own first segment.
    assert_eq!(s.wal_floor, WalFloor { segment: 0, ts: 5 });
    let err = claim(22, false).apply(&s, 120).unwrap_err();
    assert_eq!(err.code(), crate::error::ErrorCode::Conflict, "{err}");
    for kind in [EditKind::Put, EditKind::Flush] {
        let mut other = add(&[2], 6);
        other.kind = Some(kind);
        other.log = 22;
        let err = other.apply(&s, 130).unwrap_err();
        assert_eq!(err.code(), crate::error::ErrorCode::Conflict, "{err}");
        // Seal-every-batch writers (log 0) too.
        other.log = 0;
        assert!(other.apply(&s, 130).is_err());
    }
    // The holder writes and moves its floor; compaction and GC (no writes) still apply.
    let mut own = add(&[3], 7);
    own.kind = Some(EditKind::Flush);
    own.log = 11;
    own.wal_floor = Some(WalFloor { segment: 2, ts: 7 });
    s = own.apply(&s, 140).unwrap();
    assert_eq!(s.wal_floor, WalFloor { segment: 2, ts: 7 });
    let compact = Edit {
        kind: Some(EditKind::Compact),
        remove: vec![1],
        add: vec![meta(4, 5)],
        ..Edit::default()
    };
    s = compact.apply(&s, 150).unwrap();
    // A take-over moves the hold, and the floor to the new log above everything committed.
    let taken = claim(22, true).apply(&s, 160).unwrap();
    assert_eq!((taken.wal_owner, taken.wal_log), (22, 22));
    assert_eq!(taken.wal_floor, WalFloor { segment: 0, ts: 7 });
    // Release by anyone but the holder changes nothing; by the holder it frees the table.
    let release = |log| Edit {
        kind: Some(EditKind::Claim),
        release: Some(log),
        log,
        ..Edit::default()
    };
    assert_eq!(release(22).apply(&s, 170).unwrap().wal_owner, 11);
    let free = release(11).apply(&s, 170).unwrap();
    assert_eq!((free.wal_owner, free.wal_log), (0, 11));
    assert_eq!(free.wal_floor, WalFloor { segment: 2, ts: 7 });
    // Reclaimed by the same log: its floor still counts.
    let again = claim(11, false).apply(&free, 180).unwrap();
    assert_eq!(again.wal_floor, WalFloor { segment: 2, ts: 7 });
    // Encoded and decoded alike.
    assert_eq!(decode_state(&encode_state(&again)).unwrap(), again);
}

#[test]
fn files_written_before_a_forgotten_condemnation_are_never_committed() {
    let mut s = add(&[1], 5)
        .apply(&ManifestState::empty(catalog()), 100)
        .unwrap();
    let born = s.version;
    let gc = |condemn: Vec<String>, forget: Vec<String>| Edit {
        kind: Some(EditKind::Gc),
        condemn,
        forget,
        ..Edit::default()
    };
    // GC condemns an orphan (a slow writer's file), deletes it, and forgets it.
    let orphan = meta(2, 6);
    s = gc(vec![orphan.path.clone()], vec![])
        .apply(&s, 110)
        .unwrap();
    let condemned_at = s.version;
    let mut late = add(&[2], 6);
    late.born = born;
    // While the name is listed, the commit naming it is refused...
    assert!(late.apply(&s, 115).is_err());
    s = gc(vec![], vec![orphan.path.clone()])
        .apply(&s, 120)
        .unwrap();
    assert!(s.condemned.is_empty());
    assert_eq!(s.swept, condemned_at);
    // ...and after it is forgotten too: the file is gone.
    let err = late.apply(&s, 130).unwrap_err();
    assert_eq!(err.code(), crate::error::ErrorCode::Conflict, "{err}");
    // Files written once that condemnation was known commit as usual.
    let mut fresh = add(&[3], 7);
    fresh.born = condemned_at;
    assert!(fresh.apply(&s, 140).is_ok());
    // Edits that add nothing (compaction removing only, GC) are not affected.
    assert!(gc(vec![], vec![]).apply(&s, 150).is_ok());
}

#[test]
fn history_moves_into_chunks_found_by_version_and_the_head_stays_small() {
    block_on(async {
        let store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let clock = Arc::new(ManualClock::new(0));
        let m = Manifest::new(store.clone(), clock.clone(), CasBackoffConfig::default());
        let s0 = Edit::default()
            .apply(&ManifestState::empty(catalog()), 0)
            .unwrap();
        m.try_write(None, s0).await.unwrap();
        let mut sizes = Vec::new();
        for i in 1..=500u64 {
            let head = m.cached().unwrap();
            let archived = m
                .archive_if_due(&head.state, HISTORY_TAIL - 1)
                .await
                .unwrap();
            let edit = Edit {
                commit_id: 1_000 + i,
                archived,
                ..add(&[i], i)
            };
            let h = m.commit(&edit).await.unwrap();
            assert!(
                h.state.history.len() <= HISTORY_TAIL,
                "tail {}",
                h.state.history.len()
            );
            assert!(h.state.archives.is_empty(), "chunks are not listed");
            sizes.push(h.state.history.len());
        }
        let head = m.cached().unwrap();
        // Version 1 is the creation; 2..=501 the adds. Every one is listed, in order.
        let all = m.versions(&head.state).await.unwrap();
        assert_eq!(
            all.iter().map(|h| h.version).collect::<Vec<_>>(),
            (1..=501).collect::<Vec<_>>()
        );
        assert!(head.state.archived_to >= 501 - HISTORY_TAIL as u64);
        assert_eq!(head.state.archived_to % ARCHIVE_CHUNK as u64, 0);
        // A chunk is where its name says.
        let chunk = store
            .get("manifest/history/00000000000000000017-00000000000000000032")
            .await
            .unwrap();
        let entries = decode_archive(&chunk).unwrap();
        assert_eq!(entries.first().map(|h| h.version), Some(17));
        assert_eq!(entries.last().map(|h| h.version), Some(32));
        // Reading from a version on touches only what it needs.
        let from = m
            .versions_from(&head.state, 100, |h| h.version >= 101)
            .await
            .unwrap();
        assert_eq!(
            from.iter().map(|h| h.version).collect::<Vec<_>>(),
            [100, 101]
        );
        // A commit whose entry left the head is still found by its version.
        assert!(m.archived_commit(&head.state, 50, 1_049).await.unwrap());
        assert!(!m.archived_commit(&head.state, 50, 1_050).await.unwrap());
        assert!(!m.archived_commit(&head.state, 500, 1_499).await.unwrap());
        // A raised floor hides what is below it.
        let floored = Edit {
            history_floor: Some((300, 300)),
            ..Edit::default()
        };
        let h = m.commit(&floored).await.unwrap();
        let kept = m.versions(&h.state).await.unwrap();
        assert_eq!(kept.first().map(|h| h.version), Some(300));
        assert_eq!(kept.len(), 502 - 300 + 1);
    });
}
