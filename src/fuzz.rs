//! Entry points for the fuzz targets in `fuzz/` (feature `fuzz`, native only): one per decoder
//! that reads bytes Anax did not write in this run, each fed the fuzzer's bytes as a file an
//! adversary or a damaged disk put there. Every error is fine; a panic, a hang or an
//! allocation out of proportion to the input is a finding. [`seeds`] makes valid examples of
//! each format with the crate's own writers, so the fuzzer starts from real structure.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use futures_executor::block_on;

use crate::db::DbBuilder;
use crate::error::Result;
use crate::options::{Durability, ManualClock, WalConfig};
use crate::read::ScanOptions;
use crate::schema::TableSchema;
use crate::sst::{Sst, SstMeta};
use crate::storage::{MemoryStorage, PutMode, Storage};
use crate::value::Value;

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("v", DataType::Int64, true),
        Field::new("note", DataType::Utf8, true),
    ]))
}

fn table() -> Option<TableSchema> {
    TableSchema::with_key_name(schema(), "id").ok()
}

/// A WAL segment: frames are parsed as recovery parses them, and every committed payload is
/// decoded as an Arrow IPC stream.
pub fn wal_segment(data: &[u8]) {
    // The header names the segment's own number; take it from the bytes so that the fuzzer
    // can reach the frames.
    let seq = data
        .get(12..20)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes);
    let mut out = crate::wal::Replay::default();
    let _ = crate::wal::parse_segment(seq, data, 0, &mut out);
    for txn in out.txns {
        for (_, ipc) in txn.ops {
            let _ = crate::ipc::decode_stream(&ipc);
        }
    }
}

/// A manifest head, then the same bytes as a history chunk and as a drop note. What decodes
/// must encode to bytes that decode to the same state.
pub fn manifest(data: &[u8]) {
    if let Ok(state) = crate::manifest::decode_state(data) {
        let again = crate::manifest::encode_state(&state);
        assert_eq!(
            crate::manifest::decode_state(&again).ok().as_ref(),
            Some(&state),
            "a decoded head must round-trip"
        );
    }
    if let Ok(entries) = crate::manifest::decode_archive(data) {
        let again = crate::manifest::encode_archive(&entries);
        assert_eq!(
            crate::manifest::decode_archive(&again).ok(),
            Some(entries),
            "a decoded archive must round-trip"
        );
    }
    if let Ok(files) = crate::manifest::decode_note(data) {
        let again = crate::manifest::encode_note(&files);
        assert_eq!(
            crate::manifest::decode_note(&again).ok(),
            Some(files),
            "a decoded drop note must round-trip"
        );
    }
}

/// A table whose `manifest/HEAD` is `data`: open (catalog and schema checks), then a scan and
/// a get through whatever the head names.
pub fn open_head(data: &[u8]) {
    let store = MemoryStorage::new();
    block_on(async {
        if store
            .put(
                crate::manifest::HEAD_PATH,
                Bytes::copy_from_slice(data),
                PutMode::Overwrite,
            )
            .await
            .is_err()
        {
            return;
        }
        let Ok(db) = DbBuilder::from_schema_key_name(schema(), "id")
            .with_storage(Arc::new(store))
            .with_clock(Arc::new(ManualClock::new(1_000)))
            .open()
            .await
        else {
            return;
        };
        let _ = db.scan(&ScanOptions::default()).await;
        let _ = db.get(&[Value::from("a")]).await;
    });
}

/// Arrow IPC bytes (stream or file format) as `put(Uint8Array)` receives them.
pub fn ipc_stream(data: &[u8]) {
    let _ = crate::ipc::decode_stream_or_file(data);
}

/// An SST file named by a manifest: opened (footer, page index, blooms), then every row group
/// read, point gets and a range scan.
pub fn sst_file(data: &[u8]) {
    let Some(table) = table() else { return };
    let meta = SstMeta {
        id: 1,
        level: 0,
        path: "sst/L0/fuzz.parquet".into(),
        rows: 0,
        bytes: data.len() as u64,
        min_key: Vec::new().into(),
        max_key: vec![0xFF; 16].into(),
        min_ts: 0,
        max_ts: u64::MAX,
        tombstones: 0,
        distinct_keys: 0,
        ts_shift: 0,
        tail_bytes: 0,
        tail_crc: 0,
    };
    let bytes = Bytes::copy_from_slice(data);
    let Ok(sst) = Sst::from_bytes(&table, meta.clone(), bytes.clone()) else {
        return;
    };
    let sst = Arc::new(sst);
    let store = MemoryStorage::new();
    block_on(async {
        if store
            .put(&meta.path, bytes, PutMode::Overwrite)
            .await
            .is_err()
        {
            return;
        }
        let _ = sst.read_all(&store).await;
        for key in [&b""[..], b"\x02a\x00\x00", b"\x02k0001\x00\x00"] {
            let _ = sst.get(&store, key, u64::MAX, &[0, 1, 2]).await;
        }
        let mut source = sst.scan(
            std::ops::Bound::Unbounded,
            std::ops::Bound::Unbounded,
            u64::MAX,
            false,
            vec![0, 1, 2],
            // Read in pieces, as a scan with a limit does.
            Some(300),
        );
        for _ in 0..64 {
            match source.next_chunk(&store).await {
                Ok(Some(_)) => {}
                _ => break,
            }
        }
    });
}

/// A ListObjectsV2 answer from an S3-compatible server.
pub fn s3_list(data: &[u8]) {
    let _ = crate::storage::s3::list_page(data, 0);
    let _ = crate::storage::s3::list_page(data, 3);
}

/// A tail pack (`manifest/tails`): decoded or refused, and what decodes re-encodes to the same
/// bytes (the format has one encoding).
pub fn tail_pack(data: &[u8]) {
    let bytes = bytes::Bytes::copy_from_slice(data);
    if let Some(entries) = crate::sst::pack::decode(&bytes) {
        assert_eq!(
            crate::sst::pack::encode(&entries),
            bytes,
            "a decoded pack must re-encode to its bytes"
        );
    }
}

/// Valid examples of every format above, written by this build: `(target, bytes)`.
pub fn seeds() -> Result<Vec<(&'static str, Vec<u8>)>> {
    let store = MemoryStorage::new();
    let shared: Arc<dyn Storage> = Arc::new(store.clone());
    let mut out = Vec::new();
    block_on(async {
        let db = DbBuilder::from_schema_key_name(schema(), "id")
            .with_storage(shared.clone())
            .with_durability(Durability::Wal(WalConfig::default()))
            .with_clock(Arc::new(ManualClock::new(1_000)))
            .open()
            .await?;
        let ids: Vec<String> = (0..300).map(|i| format!("k{i:04}")).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(ids.clone())),
            Arc::new(Int64Array::from_iter(
                (0..300).map(|i| (i % 7 != 0).then_some(i)),
            )),
            Arc::new(StringArray::from_iter(
                (0..300).map(|i| (i % 5 != 0).then(|| format!("note {i} é"))),
            )),
        ];
        let batch = RecordBatch::try_new(schema(), columns)?;
        out.push((
            "ipc_stream",
            crate::ipc::encode_stream(&schema(), std::slice::from_ref(&batch))?,
        ));
        db.put(batch).await?;
        db.delete(&[Value::from("k0003")]).await?;
        for obj in store.list("wal/").await? {
            out.push(("wal_segment", store.get(&obj.path).await?.to_vec()));
        }
        db.flush().await?;
        for obj in store.list("sst/").await? {
            out.push(("sst_file", store.get(&obj.path).await?.to_vec()));
        }
        if let Some(obj) = store.list("sst/").await?.into_iter().next() {
            let file = store.get(&obj.path).await?;
            let tail = file.slice(file.len().saturating_sub(600)..);
            let entry = crate::sst::pack::PackEntry {
                path: obj.path,
                size: file.len() as u64,
                tail,
            };
            out.push(("tail_pack", crate::sst::pack::encode(&[entry]).to_vec()));
        }
        let head = store.get(crate::manifest::HEAD_PATH).await?.to_vec();
        out.push(("manifest", head.clone()));
        out.push(("open_head", head));
        Ok::<_, crate::error::Error>(())
    })?;
    out.push((
        "s3_list",
        b"<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>p/sst/a&amp;b</Key>\
          <Size>3</Size><ETag>&quot;x&quot;</ETag></Contents><NextContinuationToken>t\
          </NextContinuationToken></ListBucketResult>"
            .to_vec(),
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    /// Inputs that once crashed a target, each replayed through it: an error is fine, a
    /// panic fails the test. `sst_file/dictionary-index-out-of-range`: a data page whose
    /// dictionary indexes point past its dictionary made parquet 57's RLE decoder index out of
    /// bounds (a trap in wasm); parquet 58 reports it as an error.
    /// `sst_file/embedded-arrow-schema-int-width-0`: the Arrow schema parquet embeds in the
    /// footer, damaged to an Int of bit width 0, made arrow-ipc panic; SSTs are now read under
    /// the table's own schema and that metadata is never decoded.
    #[test]
    fn sst_files_the_fuzzer_found_are_read_or_refused_without_a_panic() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz/sst_file");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).expect("the fixture directory") {
            let bytes = std::fs::read(entry.expect("an entry").path()).expect("a fixture");
            super::sst_file(&bytes);
            n += 1;
        }
        assert!(n >= 1);
    }
}
