use std::sync::Arc;

use futures::executor::block_on;

use super::*;
use crate::options::ManualClock;
use crate::storage::MemoryStorage;

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
            crate::ErrorCode::Corrupt,
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
    assert_eq!(s3.graveyard.len(), 2);
    assert!(s3.graveyard.iter().all(|d| d.dropped_ms == 30));
    // Removing what is gone no longer applies.
    let err = Edit {
        remove: vec![1],
        ..Edit::default()
    }
    .apply(&s3, 40)
    .unwrap_err();
    assert_eq!(err.code(), crate::ErrorCode::Conflict);
    // Rows stamped at or below the head's timestamp must be rewritten.
    let stale = Edit {
        min_ts: Some(7),
        ..add(&[10], 7)
    };
    assert_eq!(
        stale.apply(&s3, 40).unwrap_err().code(),
        crate::ErrorCode::Conflict
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
            crate::ErrorCode::Conflict
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
            crate::ErrorCode::Conflict
        );
        assert!(clock.now_millis() > 0, "the loser backed off");
    });
}
