//! Drop notes: a compaction records the files it removes from the head in a note outside it,
//! and GC deletes them once the note is older than the drop grace period (0 by default) and a
//! head read after the notes no longer names them; the orphan sweep
//! leaves noted files alone however old their names are; a note naming live files (a
//! compaction that lost its race) deletes nothing live; a damaged note is dropped, not obeyed.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::{Arc, Mutex};

use anax::manifest::{DROPPED_DIR, encode_note, note_path};
use anax::storage::{BoxFuture, MemoryStorage, ObjectMeta, PutMode, Storage};
use anax::{ManualClock, Retention};
use bytes::Bytes;
use common::kv::{Op, State, apply, read_all, run, seal_db};
use futures::channel::oneshot;
use futures::executor::block_on;

/// A handle on `store` that compacts only when asked, on `clock`, keeping `retention`.
async fn compacting_by_hand(
    store: &MemoryStorage,
    clock: &Arc<ManualClock>,
    retention: Retention,
) -> anax::Db {
    seal_db(store)
        .with_compaction_options(anax::CompactionOptions {
            automatic: false,
            ..Default::default()
        })
        .with_clock(clock.clone())
        .with_retention(retention)
        .open()
        .await
        .unwrap()
}

#[test]
fn dropped_files_wait_for_their_note_to_age_and_nothing_live_is_deleted() {
    block_on(async {
        let store = MemoryStorage::new();
        let clock = Arc::new(ManualClock::new(10_000));
        let db = compacting_by_hand(
            &store,
            &clock,
            Retention {
                min_versions: 4,
                max_age_ms: 1_000,
                grace_ms: 500,
                drop_grace_ms: 500,
            },
        )
        .await;
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
        let db = compacting_by_hand(
            &store,
            &clock,
            Retention {
                grace_ms: 500,
                ..Retention::default()
            },
        )
        .await;
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

/// A store that, the first time GC lists the drop notes, says so and waits for the word to go
/// on: what another handle does in between happens between the head GC started from and its
/// reading of the notes.
struct ListGate {
    inner: MemoryStorage,
    listing: Mutex<Option<oneshot::Sender<()>>>,
    go: Mutex<Option<oneshot::Receiver<()>>>,
}

impl std::fmt::Debug for ListGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ListGate")
    }
}

impl Storage for ListGate {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<Bytes>> {
        self.inner.get(path)
    }
    fn get_range<'a>(
        &'a self,
        path: &'a str,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'a, anax::Result<Bytes>> {
        self.inner.get_range(path, range)
    }
    fn put<'a>(
        &'a self,
        path: &'a str,
        data: Bytes,
        mode: PutMode,
    ) -> BoxFuture<'a, anax::Result<ObjectMeta>> {
        self.inner.put(path, data, mode)
    }
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, anax::Result<Vec<ObjectMeta>>> {
        Box::pin(async move {
            if prefix == DROPPED_DIR {
                let listing = self.listing.lock().unwrap().take();
                let go = self.go.lock().unwrap().take();
                if let (Some(listing), Some(go)) = (listing, go) {
                    listing.send(()).unwrap();
                    go.await.unwrap();
                }
            }
            self.inner.list(prefix).await
        })
    }
    fn delete<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<()>> {
        self.inner.delete(path)
    }
    fn head<'a>(&'a self, path: &'a str) -> BoxFuture<'a, anax::Result<Option<ObjectMeta>>> {
        self.inner.head(path)
    }
}

/// While GC runs, another handle commits a new file and a compaction of it writes its note
/// and has not committed yet (it may never). The file is absent from the head GC started from,
/// yet live: GC must judge the note against a head read after the notes, and keep the file.
#[test]
fn a_file_committed_while_gc_runs_and_noted_by_a_compaction_in_flight_stays() {
    block_on(async {
        let store = MemoryStorage::new();
        let writer = seal_db(&store).open().await.unwrap();
        let mut state = State::new();
        let first = Op::Put(vec![(format!("k0-{}", "é".repeat(40)), Some(0))]);
        run(&writer, &first).await.unwrap();
        apply(&mut state, &first);
        let late = Op::Put(vec![(format!("k1-{}", "é".repeat(40)), Some(1))]);
        apply(&mut state, &late);
        let (listing_tx, listing_rx) = oneshot::channel();
        let (go_tx, go_rx) = oneshot::channel();
        let gated = Arc::new(ListGate {
            inner: store.clone(),
            listing: Mutex::new(Some(listing_tx)),
            go: Mutex::new(Some(go_rx)),
        });
        // The collector's clock is far ahead: every note is ripe by the drop grace (0).
        let collector = anax::DbBuilder::from_schema_key_name(common::kv::schema(), "id")
            .with_storage(gated)
            .with_clock(Arc::new(ManualClock::new(4_000_000_000_000)))
            .open()
            .await
            .unwrap();
        let meanwhile = async {
            listing_rx.await.unwrap();
            let before = writer.sst_paths().unwrap();
            run(&writer, &late).await.unwrap();
            let new: Vec<(String, u64)> = writer
                .sst_paths()
                .unwrap()
                .into_iter()
                .filter(|p| !before.contains(p))
                .map(|p| (p, 1))
                .collect();
            assert_eq!(new.len(), 1);
            store
                .put(
                    &note_path(3_999_999_999_000, 9),
                    Bytes::from(encode_note(&new)),
                    PutMode::CreateNew,
                )
                .await
                .unwrap();
            go_tx.send(()).unwrap();
        };
        let (gc, ()) = futures::future::join(collector.gc(), meanwhile).await;
        gc.unwrap();
        for p in writer.sst_paths().unwrap() {
            assert!(
                store.head(&p).await.unwrap().is_some(),
                "{p} is named by the head and must stay"
            );
        }
        let fresh = seal_db(&store).open().await.unwrap();
        assert_eq!(read_all(&fresh).await, state);
    });
}
