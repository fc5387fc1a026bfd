//! How SSTs store large values: a compaction output keeps its inputs' choices (no dictionary,
//! no compression) even where its first row group holds no large value.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;

use anax::storage::{MemoryStorage, Storage};
use anax::{DbBuilder, Value};
use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::executor::block_on;
use parquet::basic::Compression;
use parquet::file::metadata::ParquetMetaDataReader;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("n", DataType::Int64, true),
        Field::new("payload", DataType::Utf8, true),
    ]))
}

fn batch(ids: Vec<String>, payloads: Vec<String>) -> RecordBatch {
    let n = ids.len() as i64;
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(Int64Array::from((0..n).collect::<Vec<_>>())),
            Arc::new(StringArray::from(payloads)),
        ],
    )
    .unwrap()
}

#[test]
fn a_compaction_keeps_large_values_uncompressed_past_its_first_row_group() {
    block_on(async {
        let storage = Arc::new(MemoryStorage::new());
        let db = DbBuilder::from_schema_key_name(schema(), "id")
            .with_storage(storage.clone())
            .with_background_compaction(false)
            .open()
            .await
            .unwrap();
        // 40,000 small rows (more than one 32,768-row group), then one 1.5 MiB value whose
        // key sorts after all of them: in the compacted file it lands in the second group.
        let ids: Vec<String> = (0..40_000).map(|i| format!("a{i:05}")).collect();
        let small: Vec<String> = (0..40_000).map(|i| format!("payload {}", i % 7)).collect();
        db.put(batch(ids, small)).await.unwrap();
        let big = "ü-large-".repeat(150_000);
        db.put(batch(vec!["zz".into()], vec![big.clone()]))
            .await
            .unwrap();
        db.compact().await.unwrap();

        // The compacted file (the inputs stay in L0 until a gc collects them).
        let ssts = storage.list("sst/L1/").await.unwrap();
        assert_eq!(ssts.len(), 1, "{ssts:?}");
        let bytes = storage.get(&ssts[0].path).await.unwrap();
        let meta = ParquetMetaDataReader::new()
            .parse_and_finish(&bytes)
            .unwrap();
        assert!(meta.num_row_groups() >= 2);
        let payload = |rg: usize| {
            meta.row_group(rg)
                .columns()
                .iter()
                .find(|c| c.column_path().string() == "payload")
                .unwrap()
                .clone()
        };
        let last = meta.num_row_groups() - 1;
        // The first row group holds only small values; the file still follows its inputs.
        for rg in [0, last] {
            assert_eq!(payload(rg).compression(), Compression::UNCOMPRESSED);
            assert!(payload(rg).dictionary_page_offset().is_none());
        }
        let got = db.get(&[Value::from("zz")]).await.unwrap().unwrap();
        let col = got
            .column(2)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(col.value(0), big);
        assert_eq!(
            db.get(&[Value::from("a39999")])
                .await
                .unwrap()
                .unwrap()
                .num_rows(),
            1
        );

        // Small values that outweigh the large one: compressed again (still no dictionary),
        // so one large value does not leave a column uncompressed for good.
        let ids: Vec<String> = (0..200_000).map(|i| format!("b{i:06}")).collect();
        let small: Vec<String> = (0..200_000).map(|i| format!("payload {i:08}")).collect();
        db.put(batch(ids, small)).await.unwrap();
        db.compact().await.unwrap();
        let mut whole = Vec::new();
        for m in storage.list("sst/L1/").await.unwrap() {
            let bytes = storage.get(&m.path).await.unwrap();
            let meta = ParquetMetaDataReader::new()
                .parse_and_finish(&bytes)
                .unwrap();
            if meta.file_metadata().num_rows() > 200_000 {
                whole.push(meta);
            }
        }
        assert_eq!(whole.len(), 1);
        let chunk = whole[0]
            .row_group(0)
            .columns()
            .iter()
            .find(|c| c.column_path().string() == "payload")
            .unwrap()
            .clone();
        assert_eq!(chunk.compression(), Compression::LZ4_RAW);
        assert!(chunk.dictionary_page_offset().is_none());
    });
}
