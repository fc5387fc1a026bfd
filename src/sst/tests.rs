use std::ops::Range;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use futures::executor::block_on;
use parquet::file::metadata::ParquetMetaDataReader;

use super::format::{FORMAT_KEY, ROW_GROUP_ROWS};
use super::*;
use crate::memtable::Memtable;
use crate::read::sst_source::SstSource;
use crate::schema::TableSchema;
use crate::storage::{MemoryStorage, PutMode, Storage};

fn table() -> TableSchema {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("v", DataType::Int64, false),
    ]));
    TableSchema::with_key_name(schema, "id").unwrap()
}

fn key(s: &str) -> KeyBytes {
    let col: ArrayRef = Arc::new(StringArray::from(vec![s]));
    crate::key::encode_rows(&[col], &["id"]).unwrap().remove(0)
}

fn put(m: &mut Memtable, t: &TableSchema, ids: Vec<String>, v: i64, ts: u64) {
    let keys = ids.iter().map(|s| key(s)).collect();
    let n = ids.len();
    let b = RecordBatch::try_new(
        t.arrow().clone(),
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(Int64Array::from(vec![v; n])),
        ],
    )
    .unwrap();
    m.insert_batch(b, keys, ts).unwrap();
}

/// 40,000 keys, with key "k032767" (at the row-group cut) holding 50 versions.
fn big_sst() -> (Bytes, Arc<Sst>) {
    big_sst_with(false)
}

/// [`big_sst`], with point-read blocks when `blocks`.
fn big_sst_with(blocks: bool) -> (Bytes, Arc<Sst>) {
    let t = table();
    let mut m = Memtable::new();
    let ids: Vec<String> = (0..40_000).map(|i| format!("k{i:06}")).collect();
    put(&mut m, &t, ids, 0, 1);
    for ts in 2..52 {
        put(
            &mut m,
            &t,
            vec![format!("k{:06}", ROW_GROUP_ROWS - 1)],
            ts as i64,
            ts,
        );
    }
    let mk = |k: &str| {
        let col: ArrayRef = Arc::new(StringArray::from(vec![k]));
        let keys = crate::key::encode_rows(std::slice::from_ref(&col), &["id"]).unwrap();
        (
            RecordBatch::try_new(t.key_schema(), vec![col]).unwrap(),
            keys,
        )
    };
    let (b, k) = mk("k000005");
    m.delete_batch(b, k, 60).unwrap();
    writer::write_sst(&t, &[&m], 7, 0, "sst/L0/7.parquet".into(), blocks)
        .unwrap()
        .unwrap()
}

#[test]
fn a_key_never_spans_row_groups_and_metadata_is_complete() {
    let (_, sst) = big_sst();
    let pq = sst.arrow_meta.metadata();
    assert!(pq.num_row_groups() >= 2);
    for w in sst.rg_keys.windows(2) {
        assert!(w[0].1 < w[1].0, "row groups overlap in keys: {:?}", w);
    }
    assert!(
        sst.blooms.iter().all(Option::is_some),
        "every row group has a key bloom filter"
    );
    assert!(
        pq.offset_index().is_some() && pq.column_index().is_some(),
        "page index written"
    );
    let kv = pq.file_metadata().key_value_metadata().unwrap();
    assert!(kv.iter().any(|e| e.key == FORMAT_KEY));
    assert_eq!(sst.meta.rows, 40_000 + 50 + 1);
    assert_eq!(sst.meta.tombstones, 1);
    assert_eq!(sst.meta.distinct_keys, 40_000);
    assert_eq!((sst.meta.min_ts, sst.meta.max_ts), (1, 60));
    assert_eq!(sst.meta.min_key, key("k000000"));
    assert_eq!(sst.meta.max_key, key("k039999"));
}

#[test]
fn get_resolves_versions_through_pruning() {
    get_resolves_versions(false);
}

#[test]
fn get_resolves_versions_through_point_read_blocks() {
    let (_, sst) = big_sst_with(true);
    assert!(sst.block_schema.is_some(), "the file has blocks");
    get_resolves_versions(true);
}

fn get_resolves_versions(blocks: bool) {
    block_on(async {
        let (bytes, sst) = big_sst_with(blocks);
        let storage = MemoryStorage::new();
        storage
            .put("sst/L0/7.parquet", bytes, PutMode::CreateNew)
            .await
            .unwrap();
        let hot = format!("k{:06}", ROW_GROUP_ROWS - 1);
        let v = |found: Option<Found>| match found {
            Some(Found::Row(b, ts)) => {
                let v = b
                    .column(1)
                    .as_primitive::<arrow_array::types::Int64Type>()
                    .value(0);
                Some((v, ts))
            }
            Some(Found::Deleted(ts)) => Some((-1, ts)),
            None => None,
        };
        assert_eq!(
            v(sst.get(&storage, &key(&hot), 100, &[0, 1]).await.unwrap()),
            Some((51, 51))
        );
        assert_eq!(
            v(sst.get(&storage, &key(&hot), 20, &[0, 1]).await.unwrap()),
            Some((20, 20))
        );
        assert_eq!(
            v(sst.get(&storage, &key(&hot), 1, &[0, 1]).await.unwrap()),
            Some((0, 1))
        );
        assert_eq!(
            v(sst.get(&storage, &key(&hot), 0, &[0, 1]).await.unwrap()),
            None
        );
        assert_eq!(
            v(sst
                .get(&storage, &key("k000005"), 100, &[0, 1])
                .await
                .unwrap()),
            Some((-1, 60))
        );
        assert_eq!(
            v(sst
                .get(&storage, &key("k000005"), 59, &[0, 1])
                .await
                .unwrap()),
            Some((0, 1))
        );
        assert_eq!(
            v(sst
                .get(&storage, &key("k039999"), 9, &[0, 1])
                .await
                .unwrap()),
            Some((0, 1))
        );
        assert_eq!(
            v(sst
                .get(&storage, &key("k0400000"), 9, &[0, 1])
                .await
                .unwrap()),
            None
        );
        assert_eq!(
            v(sst.get(&storage, &key("a"), 9, &[0, 1]).await.unwrap()),
            None
        );
    });
}

#[test]
fn page_index_narrows_a_point_lookup_to_a_page_or_two() {
    let (_, sst) = big_sst();
    let k = key("k000100");
    let r = sst
        .pages_for_range(0, Bound::Included(&k), Bound::Included(&k))
        .expect("page index present");
    assert!(r.end - r.start <= 2 * super::format::PAGE_ROWS, "{r:?}");
    assert!(r.start <= 100 && r.end > 100, "{r:?}");
}

#[test]
fn long_keys_sharing_a_prefix_longer_than_row_group_statistics_are_found_in_every_row_group() {
    long_keys_found(false);
    long_keys_found(true);
}

fn long_keys_found(blocks: bool) {
    // Parquet truncates binary row-group statistics (parquet-rs: 64 bytes, max rounded up),
    // so with a 90-byte shared prefix every row group's bounds claim every key.
    block_on(async {
        let t = table();
        let prefix = "p".repeat(90);
        let ids: Vec<String> = (0..70_000).map(|i| format!("{prefix}{i:08}")).collect();
        let mut m = Memtable::new();
        put(&mut m, &t, ids.clone(), 7, 1);
        let (bytes, sst) = writer::write_sst(&t, &[&m], 9, 0, "sst/L0/9.parquet".into(), blocks)
            .unwrap()
            .unwrap();
        assert!(sst.row_groups() >= 3, "{} row groups", sst.row_groups());
        let storage = MemoryStorage::new();
        storage
            .put("sst/L0/9.parquet", bytes, PutMode::CreateNew)
            .await
            .unwrap();
        let mut misses = 0;
        for id in ids.iter().step_by(97) {
            match sst.get(&storage, &key(id), 5, &[0, 1]).await.unwrap() {
                Some(Found::Row(b, 1)) => {
                    let got = b.column(0).as_string::<i32>().value(0);
                    assert_eq!(got, id);
                }
                _ => misses += 1,
            }
        }
        assert_eq!(misses, 0, "gets of existing long keys returned nothing");
        let absent = format!("{prefix}{:08}x", 35_000);
        assert!(
            sst.get(&storage, &key(&absent), 5, &[0, 1])
                .await
                .unwrap()
                .is_none()
        );
    });
}

#[test]
fn our_own_footers_and_page_indexes_pass_the_shape_walk_whole_and_by_their_tail() {
    // The walk guards files no checksum vouches for; it must never refuse a sound one.
    let (bytes, sst) = big_sst();
    let size = bytes.len() as u64;
    assert!(sst.row_groups() >= 2);
    footer_shape::check(&bytes, size).unwrap();
    for tail in [64 * 1024, 4096, 64] {
        let from = bytes.len().saturating_sub(tail);
        footer_shape::check(&bytes[from..], size).unwrap();
    }
    // Opened as a record from a manifest before format 3 (no tail length): the same rows.
    let mut meta = sst.meta.clone();
    meta.tail_bytes = 0;
    meta.tail_crc = 0;
    let storage = MemoryStorage::new();
    block_on(async {
        storage
            .put(&meta.path, bytes.clone(), PutMode::CreateNew)
            .await
            .unwrap();
        let opened = Sst::open(&storage, &table(), meta.clone()).await.unwrap();
        assert_eq!(opened.row_groups(), sst.row_groups());
        assert!(matches!(
            opened
                .get(&storage, &key("k039999"), 99, &[0, 1])
                .await
                .unwrap(),
            Some(Found::Row(_, 1))
        ));
    });
    let whole = Sst::from_bytes(&table(), meta, bytes).unwrap();
    assert_eq!(whole.row_groups(), sst.row_groups());
}

#[test]
fn a_footer_declaring_a_huge_list_is_corrupt_before_parquet_reserves_memory_for_it() {
    let (bytes, sst) = big_sst();
    let mut meta = sst.meta.clone();
    meta.tail_bytes = 0;
    let n = bytes.len();
    let len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
    let footer = n - 8 - len;
    // Replace the footer with a sound schema followed by a row-group list declaring 2^31 - 1
    // elements: parquet would reserve room for all of them (hundreds of GB) at once.
    let mut damaged = bytes[..footer].to_vec();
    let fake = [
        0x15, 0x02, // 1: version = 1
        0x19, 0x2c, // 2: schema, a list of two structs
        0x48, 0x01, b'r', 0x15, 0x02, 0x00, // root: name "r", one child
        0x15, 0x04, 0x25, 0x00, 0x18, 0x01, b'v', 0x00, // INT64, REQUIRED, name "v"
        0x16, 0x00, // 3: num_rows = 0
        0x19, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07, // 4: row_groups, 2^31 - 1 structs
        0x00, 0x00,
    ];
    damaged.extend_from_slice(&fake);
    damaged.extend_from_slice(&(fake.len() as u32).to_le_bytes());
    damaged.extend_from_slice(b"PAR1");
    meta.bytes = damaged.len() as u64;
    let err = Sst::from_bytes(&table(), meta, Bytes::from(damaged)).unwrap_err();
    assert_eq!(err.code(), crate::error::ErrorCode::Corrupt, "{err}");
    assert!(
        err.to_string().contains("declares 2147483647 elements"),
        "{err}"
    );
}

/// Stores `bytes` at the SST's path and opens it as a reader would (footer from storage).
async fn stored(
    bytes: Bytes,
    sst: &Sst,
    t: &TableSchema,
) -> (crate::storage::CountingStorage, Sst) {
    let storage = crate::storage::CountingStorage::new(Arc::new(MemoryStorage::new()));
    storage
        .put(&sst.meta.path, bytes, PutMode::CreateNew)
        .await
        .unwrap();
    let opened = Sst::open(&storage, t, sst.meta.clone()).await.unwrap();
    (storage, opened)
}

#[test]
fn a_point_get_through_blocks_is_one_small_ranged_read_where_columns_take_several() {
    block_on(async {
        let t = table();
        let mut reads = Vec::new();
        for blocks in [false, true] {
            let (bytes, sst) = big_sst_with(blocks);
            let (storage, opened) = stored(bytes, &sst, &t).await;
            let before = storage.counts();
            for i in [3usize, 777, 20_001, 39_998] {
                let id = format!("k{i:06}");
                match opened.get(&storage, &key(&id), 99, &[0, 1]).await.unwrap() {
                    Some(Found::Row(b, 1)) => {
                        assert_eq!(b.num_columns(), 2);
                        assert_eq!(b.column(0).as_string::<i32>().value(0), id);
                    }
                    other => panic!("{id}: {other:?}"),
                }
            }
            let after = storage.counts();
            reads.push((
                after.get_range - before.get_range,
                after.bytes_read - before.bytes_read,
            ));
        }
        let (cols, blocks) = (reads[0], reads[1]);
        assert_eq!(blocks.0, 4, "one ranged read per get: {reads:?}");
        assert!(cols.0 > blocks.0, "{reads:?}");
        assert!(blocks.1 / 4 < 16 * 1024, "bytes per get: {reads:?}");
    });
}

#[test]
fn rows_too_large_for_a_block_are_read_column_by_column() {
    block_on(async {
        let t = table();
        let mut m = Memtable::new();
        // 256 rows of 1 KiB keys: 256 KiB per block, over the limit.
        let ids: Vec<String> = (0..600)
            .map(|i| format!("{}{i:06}", "w".repeat(1024)))
            .collect();
        put(&mut m, &t, ids.clone(), 4, 1);
        let (bytes, sst) = writer::write_sst(&t, &[&m], 11, 0, "sst/L0/11.parquet".into(), true)
            .unwrap()
            .unwrap();
        assert!(sst.block_schema.is_some());
        let (storage, opened) = stored(bytes, &sst, &t).await;
        for id in ids.iter().step_by(53) {
            assert!(matches!(
                opened.get(&storage, &key(id), 9, &[0, 1]).await.unwrap(),
                Some(Found::Row(_, 1))
            ));
        }
    });
}

#[test]
fn a_damaged_block_is_corrupt_not_a_panic() {
    block_on(async {
        use parquet::arrow::ArrowWriter;
        let t = table();
        let schema = super::format::file_schema(&t, true);
        let n = 300;
        let ids: Vec<String> = (0..n).map(|i| format!("k{i:04}")).collect();
        let keys: Vec<KeyBytes> = ids.iter().map(|s| key(s)).collect();
        let mut blobs: Vec<Option<&[u8]>> = vec![None; n];
        // Where the first block belongs: bytes that are no IPC stream.
        blobs[0] = Some(b"\xff\xff\xff\xff\x10\x00\x00\x00garbage!garbage!");
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(ids.clone())),
            Arc::new(Int64Array::from(vec![Some(1i64); n])),
            Arc::new(arrow_array::BinaryArray::from_iter_values(
                keys.iter().map(|k| k.as_ref()),
            )),
            Arc::new(arrow_array::UInt64Array::from(vec![1u64; n])),
            Arc::new(arrow_array::BooleanArray::from(vec![false; n])),
            Arc::new(arrow_array::BinaryArray::from(blobs)),
        ];
        let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
        let mut w = ArrowWriter::try_new(
            Vec::new(),
            schema,
            Some(super::format::writer_properties(
                n as u64,
                &Default::default(),
            )),
        )
        .unwrap();
        w.write(&batch).unwrap();
        let bytes = Bytes::from(w.into_inner().unwrap());
        let mut meta = big_sst().1.meta.clone();
        meta.path = "sst/L0/12.parquet".into();
        meta.bytes = bytes.len() as u64;
        meta.tail_bytes = 0;
        meta.tail_crc = 0;
        meta.min_key = keys[0].clone();
        meta.max_key = keys[n - 1].clone();
        let sst = Sst::from_written(&t, meta, bytes.clone()).unwrap();
        let (storage, opened) = stored(bytes, &sst, &t).await;
        let err = opened
            .get(&storage, &keys[5], 9, &[0, 1])
            .await
            .unwrap_err();
        assert_eq!(err.code(), crate::error::ErrorCode::Corrupt, "{err}");
        // The second block is null: that row is read column by column.
        assert!(matches!(
            opened.get(&storage, &keys[280], 9, &[0, 1]).await.unwrap(),
            Some(Found::Row(_, 1))
        ));
    });
}

/// Every row a source returns: key, timestamp, tombstone, `v` (null for a tombstone).
async fn drain(
    mut source: SstSource,
    storage: &dyn Storage,
) -> Vec<(Vec<u8>, u64, bool, Option<i64>)> {
    let mut out = Vec::new();
    while let Some(c) = source.next_chunk(storage).await.unwrap() {
        let v = c.columns[1].as_primitive::<arrow_array::types::Int64Type>();
        for i in 0..c.len() {
            let value = (!v.is_null(i)).then(|| v.value(i));
            out.push((
                c.keys.value(i).to_vec(),
                c.ts.value(i),
                c.tomb.value(i),
                value,
            ));
        }
    }
    out
}

#[test]
fn a_scan_read_in_pieces_returns_what_a_whole_read_returns() {
    block_on(async {
        let t = table();
        let mut m = Memtable::new();
        let ids: Vec<String> = (0..3000).map(|i| format!("k{i:06}")).collect();
        put(&mut m, &t, ids, 0, 1);
        // One key with 700 versions, then deleted: its rows span several pieces.
        for ts in 2..702u64 {
            put(&mut m, &t, vec!["k000500".into()], ts as i64, ts);
        }
        let col: ArrayRef = Arc::new(StringArray::from(vec!["k000500"]));
        let keys = crate::key::encode_rows(std::slice::from_ref(&col), &["id"]).unwrap();
        let batch = RecordBatch::try_new(t.key_schema(), vec![col]).unwrap();
        m.delete_batch(batch, keys, 800).unwrap();
        let (bytes, sst) = writer::write_sst(&t, &[&m], 13, 0, "sst/L0/13.parquet".into(), false)
            .unwrap()
            .unwrap();
        assert_eq!(sst.row_groups(), 1);
        let storage = MemoryStorage::new();
        storage
            .put(&sst.meta.path, bytes, PutMode::CreateNew)
            .await
            .unwrap();
        for lo in [
            "k000000", "k000400", "k000499", "k000500", "k000501", "k002990",
        ] {
            let lo = key(lo);
            for read_ts in [1, 300, 701, 1000] {
                let scan = |limit| {
                    sst.scan(
                        Bound::Included(&lo),
                        Bound::Unbounded,
                        read_ts,
                        false,
                        vec![0, 1],
                        limit,
                    )
                };
                let whole = drain(scan(None), &storage).await;
                assert!(!whole.is_empty());
                for limit in [1, 100, 300] {
                    let pieces = drain(scan(Some(limit)), &storage).await;
                    assert_eq!(pieces, whole, "from {lo:?} at ts {read_ts}, limit {limit}");
                }
            }
        }
    });
}

/// An SST of 600 rows whose `v` column is dictionary encoded (six values), rewritten without compression
/// (as no Anax writer writes it) so that a test can damage a page's run-length bytes in place,
/// under the record of an SST no checksum vouches for; with the byte range of `v`'s chunk.
fn uncompressed_dictionary_sst() -> (Vec<u8>, SstMeta, Range<u64>) {
    let t = table();
    let mut m = Memtable::new();
    // Six values in turn: bit-packed runs, so a page's index stream is long enough (about
    // a hundred bytes) for a header of eleven bytes to lie inside it.
    for i in 0..600 {
        put(&mut m, &t, vec![format!("k{i:04}")], i % 6, 1);
    }
    let (bytes, sst) = writer::write_sst(&t, &[&m], 8, 0, "sst/L0/8.parquet".into(), false)
        .unwrap()
        .unwrap();
    let store = MemoryStorage::new();
    block_on(store.put(&sst.meta.path, bytes, PutMode::CreateNew)).unwrap();
    let batches = block_on(sst.read_all(&store)).unwrap();
    let schema = format::file_schema(&t, false);
    let props = format::writer_properties(600, &Default::default())
        .into_builder()
        .set_compression(parquet::basic::Compression::UNCOMPRESSED)
        .build();
    let mut out = Vec::new();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(&mut out, schema.clone(), Some(props)).unwrap();
    for b in batches {
        w.write(&RecordBatch::try_new(schema.clone(), b.columns().to_vec()).unwrap())
            .unwrap();
    }
    w.close().unwrap();
    let mut meta = sst.meta.clone();
    meta.bytes = out.len() as u64;
    meta.tail_bytes = 0;
    meta.tail_crc = 0;
    let md = ParquetMetaDataReader::new()
        .parse_and_finish(&Bytes::from(out.clone()))
        .unwrap();
    let chunk = md.row_group(0).column(1);
    assert_eq!(chunk.column_descr().name(), "v");
    assert!(
        chunk.dictionary_page_offset().is_some(),
        "v is dictionary encoded"
    );
    let (start, len) = chunk.byte_range();
    (out, meta, start..start + len)
}

#[test]
fn a_run_header_longer_than_ten_bytes_in_a_page_no_checksum_covers_is_corrupt_not_a_panic() {
    let t = table();
    let (bytes, meta, chunk) = uncompressed_dictionary_sst();
    let sound = Sst::from_bytes(&t, meta.clone(), Bytes::from(bytes.clone())).unwrap();
    let store = MemoryStorage::new();
    block_on(store.put(&meta.path, Bytes::from(bytes.clone()), PutMode::CreateNew)).unwrap();
    assert_eq!(block_on(sound.read_all(&store)).unwrap()[0].num_rows(), 600);
    // Eleven 0xFF bytes at every place in the `v` chunk: wherever they land on a run header,
    // parquet's decoder would assert (a trap in wasm).
    let mut refused = 0;
    for at in chunk.start as usize..chunk.end as usize - 11 {
        let mut damaged = bytes.clone();
        damaged[at..at + 11].fill(0xFF);
        let damaged = Bytes::from(damaged);
        let Ok(sst) = Sst::from_bytes(&t, meta.clone(), damaged.clone()) else {
            continue;
        };
        let store = MemoryStorage::new();
        block_on(store.put(&meta.path, damaged, PutMode::CreateNew)).unwrap();
        match block_on(sst.read_all(&store)) {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.code(), crate::error::ErrorCode::Corrupt, "{e}");
                refused += e.to_string().contains("run header") as usize;
            }
        }
        for k in ["k0000", "k0321", "k0599"] {
            if let Err(e) = block_on(sst.get(&store, &key(k), 9, &[0, 1])) {
                assert_eq!(e.code(), crate::error::ErrorCode::Corrupt, "{e}");
            }
        }
    }
    assert!(refused > 0, "no damage landed on a run header");
}

#[test]
fn a_range_scan_without_a_limit_reads_only_the_pages_of_its_range() {
    block_on(async {
        let (bytes, sst) = big_sst();
        let (storage, opened) = stored(bytes, &sst, &table()).await;
        let opened = Arc::new(opened);
        let group_bytes = opened.arrow_meta.metadata().row_group(0).compressed_size() as u64;
        let (lo, hi) = (key("k010000"), key("k010400"));
        let before = storage.counts();
        let rows = drain(
            opened.scan(
                Bound::Included(&lo),
                Bound::Excluded(&hi),
                99,
                false,
                vec![0, 1],
                None,
            ),
            &storage,
        )
        .await;
        let read = storage.counts().since(&before).bytes_read;
        assert_eq!(rows.len(), 400);
        // 400 of the row group's 32,768 rows: a few pages per column (with the gaps that
        // reads within 64 KiB of each other are merged across), not the whole group.
        assert!(
            read * 2 < group_bytes,
            "a 400-row range read {read} of its row group's {group_bytes} bytes"
        );
    });
}

#[test]
fn large_values_skip_the_dictionary_and_very_large_ones_compression() {
    use super::format::{LargeValues, RAW_VALUE_BYTES};
    let s = |v: Vec<String>| Arc::new(StringArray::from(v)) as Arc<dyn Array>;
    let schema = Arc::new(Schema::new(vec![
        Field::new("small", DataType::Utf8, true),
        Field::new("doc", DataType::Utf8, true),
        Field::new("blob", DataType::Utf8, true),
        Field::new("mixed", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
    ]));
    let big = "é".repeat(RAW_VALUE_BYTES / 2 + 1);
    let batch = RecordBatch::try_new(
        schema,
        vec![
            s(vec!["a".into(), "b".into(), "c".into()]),
            // A 5 KB value: no dictionary, still compressed.
            s(vec!["x".repeat(5_000), "y".into(), "z".into()]),
            // One value over 1 MiB (in bytes, not characters) is most of the column.
            s(vec![big.clone(), "y".into(), "z".into()]),
            // Over 1 MiB, but less than half of its column: two values just under 1 MiB.
            s(vec![
                big,
                "w".repeat(RAW_VALUE_BYTES - 1),
                "v".repeat(RAW_VALUE_BYTES - 1),
            ]),
            Arc::new(Int64Array::from(vec![1, 2, 3])),
        ],
    )
    .unwrap();
    let large = LargeValues::of(&batch);
    assert_eq!(large.plain, ["doc", "blob", "mixed"]);
    assert_eq!(large.raw, ["blob"]);
    // Small values leave both lists empty.
    assert_eq!(
        LargeValues::of(&batch.slice(1, 1).project(&[0, 4]).unwrap()),
        LargeValues::default()
    );
}
