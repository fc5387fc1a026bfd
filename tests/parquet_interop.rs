//! SSTs are standard Parquet: pyarrow (an independent reader) opens the files Anax wrote and
//! finds exactly the expected versions. Needs a Python with pyarrow: `ANAX_PYTHON` (set by
//! `scripts/test.sh`), else the repo's `.venv` (made by `scripts/setup.sh`), else `python3`.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::process::Command;
use std::sync::Arc;

use anax::DbBuilder;
use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use futures::executor::block_on;

const SCRIPT: &str = r#"
import sys, json, pyarrow.parquet as pq
rows = []
for path in sys.argv[1:]:
    t = pq.read_table(path)
    for r in t.to_pylist():
        rows.append([r["id"], r["v"], r["note"], r["_anax_ts"], r["_anax_tomb"]])
rows.sort(key=lambda r: (r[0], -r[3]))
print(json.dumps(rows))
"#;

#[test]
fn pyarrow_reads_the_ssts() {
    let dir = std::env::temp_dir().join(format!("anax-interop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("v", DataType::Int64, false),
        Field::new("note", DataType::Utf8, true),
    ]));
    let paths = block_on(async {
        let db = DbBuilder::from_schema_key_name(schema.clone(), "id")
            .on_disk(&dir)
            .disable_minor_compaction()
            .open()
            .await
            .unwrap();
        let batch = |ids: Vec<&str>, v: Vec<i64>, note: Vec<Option<&str>>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(ids)),
                    Arc::new(Int64Array::from(v)),
                    Arc::new(StringArray::from(note)),
                ],
            )
            .unwrap()
        };
        db.put(batch(vec!["b", "a"], vec![2, 1], vec![Some("x"), None]))
            .await
            .unwrap();
        db.flush().await.unwrap();
        db.put(batch(vec!["a"], vec![10], vec![Some("new")]))
            .await
            .unwrap();
        db.delete(&["b".into()]).await.unwrap();
        db.flush().await.unwrap();
        db.sst_paths().unwrap()
    });
    assert_eq!(paths.len(), 2);
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
    let python = std::env::var("ANAX_PYTHON").unwrap_or_else(|_| {
        if std::path::Path::new(venv).exists() {
            venv.into()
        } else {
            "python3".into()
        }
    });
    let out = Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .args(paths.iter().map(|p| dir.join(p)))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}; run scripts/setup.sh first"));
    assert!(
        out.status.success(),
        "pyarrow failed (is it installed? scripts/setup.sh installs it):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        got.trim(),
        r#"[["a", 10, "new", 2, false], ["a", 1, null, 1, false], ["b", null, null, 3, true], ["b", 2, "x", 1, false]]"#
    );
    let _ = std::fs::remove_dir_all(&dir);
}
