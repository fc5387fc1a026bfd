//! Drop notes: a compaction records the files it removes from the head in a note outside it,
//! and GC deletes them only once the note is older than the grace period; the orphan sweep
//! leaves noted files alone however old their names are; a note naming live files (a
//! compaction that lost its race) deletes nothing live; a damaged note is dropped, not obeyed.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use anax::manifest::{DROPPED_DIR, encode_note, note_path};
use anax::storage::{MemoryStorage, PutMode, Storage};
use anax::{ManualClock, Retention};
use bytes::Bytes;
use common::kv::{Op, State, apply, read_all, run, seal_db};
use futures::executor::block_on;

#[test]
fn dropped_files_wait_for_their_note_to_age_and_nothing_live_is_deleted() {
    block_on(async {
        let store = MemoryStorage::new();
        let clock = Arc::new(ManualClock::new(10_000));
        let db = seal_db(&store)
            .with_compaction_options(anax::CompactionOptions {
                automatic: false,
                ..Default::default()
            })
            .with_clock(clock.clone())
            .with_retention(Retention {
                min_versions: 4,
                max_age_ms: 1_000,
                grace_ms: 500,
                drop_grace_ms: 500,
            })
            .open()
            .await
            .unwrap();
        let mut state = State::new();
        for i in 0..3i64 {
            let op = Op::Put(vec![(format!("k{i}-{}", "é".repeat(40)), Some(i))]);
            run(&db, &op).await.unwrap();
            apply(&mut state, &op);
        }
        let before = store.list("sst/").await.unwrap();
        assert_eq!(before.len(), 3);
        // The three files are now far older than the grace period by their names.
        clock.advance(10_000);
        db.compact().await.unwrap();
        let notes = store.list(DROPPED_DIR).await.unwrap();
        assert_eq!(notes.len(), 1, "one note per compaction: {notes:?}");
        assert!(
            store.get("manifest/HEAD").await.unwrap().len() < 2_000,
            "the head does not list the dropped files"
        );

        // The note is young: nothing goes, and the orphan sweep does not take the dropped
        // files for orphans although their names are old.
        let gc = db.gc().await.unwrap();
        assert_eq!(
            (gc.ssts_deleted, gc.orphans_deleted, gc.notes_deleted),
            (0, 0, 0)
        );
        assert_eq!(store.list("sst/").await.unwrap().len(), 4);

        // A note of a compaction that lost its race names a live file; a damaged one names
        // nothing it can be trusted with. Both are old.
        let live = db.sst_paths().unwrap();
        assert_eq!(live.len(), 1);
        let stale = encode_note(&[(live[0].clone(), 1)]);
        store
            .put(&note_path(1, 1), Bytes::from(stale), PutMode::Overwrite)
            .await
            .unwrap();
        store
            .put(
                &note_path(2, 2),
                Bytes::from_static(b"ANXMDROP not a note"),
                PutMode::Overwrite,
            )
            .await
            .unwrap();

        clock.advance(1_000);
        let gc = db.gc().await.unwrap();
        assert_eq!(gc.ssts_deleted, 3, "the compaction's inputs");
        let notes_left = store.list(DROPPED_DIR).await.unwrap();
        assert_eq!(
            gc.notes_deleted, 3,
            "its note, the stale one and the damaged one: {notes_left:?}"
        );
        assert_eq!(gc.orphans_deleted, 0);
        let left = common::paths(&store, "sst/").await;
        assert_eq!(left, live);
        assert!(store.list(DROPPED_DIR).await.unwrap().is_empty());
        assert_eq!(read_all(&db).await, state);
        // A fresh handle reads every row from what is left.
        let other = seal_db(&store).open().await.unwrap();
        assert_eq!(read_all(&other).await, state);
    });
}

/// With no drop grace, a compaction's inputs go at the next GC; a note naming a file the head
/// still has (a compaction whose commit is in flight, or lost) is kept for the orphan grace
/// period, so that a commit landing late still finds its inputs noted, and goes after it.
#[test]
fn dropped_files_go_at_once_and_a_note_of_a_commit_in_flight_waits() {
    block_on(async {
        let store = MemoryStorage::new();
        let clock = Arc::new(ManualClock::new(10_000));
        let db = seal_db(&store)
            .with_compaction_options(anax::CompactionOptions {
                automatic: false,
                ..Default::default()
            })
            .with_clock(clock.clone())
            .with_retention(Retention {
                grace_ms: 500,
                ..Retention::default()
            })
            .open()
            .await
            .unwrap();
        assert_eq!(Retention::default().drop_grace_ms, 0);
        let mut state = State::new();
        for i in 0..3i64 {
            let op = Op::Put(vec![(format!("k{i}-{}", "é".repeat(40)), Some(i))]);
            run(&db, &op).await.unwrap();
            apply(&mut state, &op);
        }
        db.compact().await.unwrap();
        let live = db.sst_paths().unwrap();
        // A note written just now for a commit that has not landed: it names the live file.
        store
            .put(
                &note_path(10_000, 7),
                Bytes::from(encode_note(&[(live[0].clone(), 1)])),
                PutMode::Overwrite,
            )
            .await
            .unwrap();
        let gc = db.gc().await.unwrap();
        assert_eq!(gc.ssts_deleted, 3, "the inputs, without waiting");
        assert_eq!(gc.notes_deleted, 1, "the compaction's own note");
        assert_eq!(common::paths(&store, "sst/").await, live);
        let notes = common::paths(&store, DROPPED_DIR).await;
        assert_eq!(notes, vec![note_path(10_000, 7)], "the young note stays");

        clock.advance(1_000);
        let gc = db.gc().await.unwrap();
        assert_eq!((gc.ssts_deleted, gc.notes_deleted), (0, 1));
        assert!(store.list(DROPPED_DIR).await.unwrap().is_empty());
        assert_eq!(
            common::paths(&store, "sst/").await,
            live,
            "the live file stays"
        );
        assert_eq!(read_all(&db).await, state);
    });
}
