//! The on-disk formats, pinned. `tests/fixtures/format-v1/` is a small table written once by the
//! code of 2026-12-06 and committed: WAL segments holding commits no SST has, the manifest head
//! and its history, SSTs at L0 and L1, tombstones, overwrites, a key longer than 64 bytes and
//! Unicode, and a history long enough to be archived. Today's code must open a copy of it and read every row as it was written, so a
//! change to any byte layout (docs/format/) fails here and has to be a deliberate, versioned
//! step: a reader for the old layout, or a new fixture directory beside this one.
//!
//! The fixture is regenerated only on purpose:
//! `ANAX_WRITE_FORMAT_FIXTURE=1 cargo test --test format_v1 -- --ignored`.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anax::{DbBuilder, Retention, ScanOptions, SealPolicy, Value};
use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::executor::block_on;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-v1")
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("v", DataType::Int64, false),
        Field::new("note", DataType::Utf8, true),
    ]))
}

fn builder(dir: &Path) -> DbBuilder {
    DbBuilder::from_schema_key_name(schema(), "id")
        .on_disk(dir)
        .with_seal_policy(SealPolicy::BatchesThreshold { batches: 2 })
        .disable_minor_compaction()
        // Every version stays listed, so gc archives the history instead of dropping it.
        .with_retention(Retention {
            min_versions: 100_000,
            max_age_ms: 0,
            grace_ms: 0,
            drop_grace_ms: 0,
        })
}

/// Commits between the first and second writes, each flushed to its own SST, so that the
/// manifest history outgrows the head and gc archives it (the archive format is pinned too).
const TICKS: i64 = 260;

/// A key over 64 bytes with multi-byte characters, so long-key and UTF-8 handling is pinned too.
fn long_key() -> String {
    format!("{}-ключ-🔑-{}", "long".repeat(20), "é".repeat(8))
}

type Row = (i64, Option<String>);

/// The three writes the fixture holds, as (key, Some(row)) upserts and (key, None) deletes.
fn writes() -> Vec<Vec<(String, Option<Row>)>> {
    let mut first = Vec::new();
    for i in 0..40i64 {
        let note = (i % 3 != 0).then(|| format!("note {i} · ñ"));
        first.push((format!("k{i:03}"), Some((i, note))));
    }
    first.push((long_key(), Some((-1, Some("長いキー".to_string())))));
    let mut second = Vec::new();
    for i in 0..10i64 {
        second.push((format!("k{i:03}"), Some((1000 + i, None))));
    }
    for i in 10..15 {
        second.push((format!("k{i:03}"), None));
    }
    let mut third = Vec::new();
    for i in 40..45i64 {
        third.push((
            format!("k{i:03}"),
            Some((i, Some("only in the WAL".to_string()))),
        ));
    }
    third.push(("k020".to_string(), None));
    third.push((long_key(), Some((-2, None))));
    vec![first, second, third]
}

/// The table after the first `n` writes (the ticks follow the first).
fn state_after(n: usize) -> BTreeMap<String, Row> {
    let mut out = BTreeMap::new();
    for (i, write) in writes().into_iter().take(n).enumerate() {
        if i == 1 {
            out.insert("tick".to_string(), (TICKS - 1, None));
        }
        for (k, row) in write {
            match row {
                Some(r) => out.insert(k, r),
                None => out.remove(&k),
            };
        }
    }
    out
}

async fn apply(db: &anax::Db, write: &[(String, Option<Row>)]) -> u64 {
    let upserts: Vec<_> = write
        .iter()
        .filter_map(|(k, r)| r.as_ref().map(|r| (k, r)))
        .collect();
    let deletes: Vec<Vec<Value>> = write
        .iter()
        .filter(|(_, r)| r.is_none())
        .map(|(k, _)| vec![Value::from(k.as_str())])
        .collect();
    let mut ts = 0;
    if !upserts.is_empty() {
        let batch = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from_iter_values(
                    upserts.iter().map(|(k, _)| k.as_str()),
                )),
                Arc::new(Int64Array::from_iter_values(
                    upserts.iter().map(|(_, r)| r.0),
                )),
                Arc::new(StringArray::from_iter(
                    upserts.iter().map(|(_, r)| r.1.as_deref()),
                )),
            ],
        )
        .unwrap();
        ts = db.put(batch).await.unwrap();
    }
    if !deletes.is_empty() {
        ts = db.delete_many(&deletes).await.unwrap();
    }
    ts
}

fn rows_of(batch: &RecordBatch) -> BTreeMap<String, Row> {
    let ids = batch
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let vs = batch
        .column(1)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    let notes = batch
        .column(2)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    (0..batch.num_rows())
        .map(|i| {
            let note = (!notes.is_null(i)).then(|| notes.value(i).to_string());
            (ids.value(i).to_string(), (vs.value(i), note))
        })
        .collect()
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(
                    p.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    for f in files_under(from) {
        let dest = to.join(&f);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&f), dest).unwrap();
    }
}

fn scratch(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("anax-format-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn the_committed_v1_table_opens_and_reads_every_row_as_written() {
    let dir = scratch("read");
    copy_dir(&fixture(), &dir);
    let files = files_under(&dir);
    // The fixture covers every format: if one of these kinds disappears the test says so
    // rather than passing on a smaller table.
    for kind in [
        "sst/L0/",
        "sst/L1/",
        "wal/",
        "manifest/HEAD",
        "manifest/history",
    ] {
        assert!(
            files.iter().any(|f| f.contains(kind)),
            "the fixture holds no {kind} object: {files:?}"
        );
    }
    let stamps = std::fs::read_to_string(fixture().join("../format-v1.timestamps")).unwrap();
    let stamps: Vec<u64> = stamps
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(stamps.len(), 3, "one commit timestamp per write");
    block_on(async {
        let db = builder(&dir).open().await.unwrap();
        let all = db.scan(&ScanOptions::default()).await.unwrap();
        assert_eq!(
            rows_of(&all),
            state_after(3),
            "a full scan reads the table as written"
        );
        for (k, row) in state_after(3) {
            let got = db.get(&[Value::from(k.as_str())]).await.unwrap();
            let got = got.map(|b| rows_of(&b));
            assert_eq!(got, Some(BTreeMap::from([(k.clone(), row)])), "get {k}");
        }
        for gone in ["k010", "k014", "k020"] {
            assert!(
                db.get(&[Value::from(gone)]).await.unwrap().is_none(),
                "{gone} was deleted"
            );
        }
        // History: the state after the first and second writes, from the manifest history and
        // the older SSTs.
        for (n, ts) in stamps.iter().enumerate().take(2) {
            let then = db.at_timestamp(*ts).await.unwrap();
            let rows = rows_of(&then.scan(&ScanOptions::default()).await.unwrap());
            assert_eq!(rows, state_after(n + 1), "the table as of write {}", n + 1);
        }
        let versions = db.versions().await.unwrap();
        assert!(
            versions.len() >= 3,
            "the manifest history lists the commits: {versions:?}"
        );
        db.close().await.unwrap();
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes the fixture: the first write and the ticks compacted to L1 and the history archived
/// by gc, the second write flushed to L0, the third only in the WAL (the handle is dropped
/// without close, as a crash would leave it).
#[test]
#[ignore = "writes tests/fixtures/format-v1; run on a deliberate format change only"]
fn write_the_v1_fixture() {
    if std::env::var_os("ANAX_WRITE_FORMAT_FIXTURE").is_none() {
        return;
    }
    let dir = scratch("write");
    let writes = writes();
    let stamps = block_on(async {
        let db = builder(&dir).open().await.unwrap();
        let a = apply(&db, &writes[0]).await;
        db.flush().await.unwrap();
        for i in 0..TICKS {
            db.put_rows(&[vec![Value::from("tick"), Value::from(i), Value::Null]])
                .await
                .unwrap();
            db.flush().await.unwrap();
        }
        db.compact().await.unwrap();
        let gc = db.gc().await.unwrap();
        println!("{gc:?}");
        let b = apply(&db, &writes[1]).await;
        db.flush().await.unwrap();
        let c = apply(&db, &writes[2]).await;
        db.sync().await.unwrap();
        drop(db);
        vec![a, b, c]
    });
    let out = fixture();
    let _ = std::fs::remove_dir_all(&out);
    copy_dir(&dir, &out);
    // Lock files are the writer's, not the format's.
    for f in files_under(&out) {
        if f.ends_with("LOCK") || f.ends_with(".lock") {
            std::fs::remove_file(out.join(f)).unwrap();
        }
    }
    let text: Vec<String> = stamps.iter().map(u64::to_string).collect();
    std::fs::write(out.join("../format-v1.timestamps"), text.join("\n") + "\n").unwrap();
    println!("{:#?}", files_under(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
