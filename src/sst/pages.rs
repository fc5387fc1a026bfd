//! Row groups decoded through pages that are checked before parquet decodes them.
//!
//! parquet's page decoders trust the bytes they are given, and several of them `assert!`,
//! index or slice on what a page declares: a run-length header longer than ten bytes trips an
//! `assert!` in `BitReader::get_vlq_int` (parquet 58.4 and 60.1, found by the `sst_file` fuzz
//! target), a dictionary-indexed page with no bytes is indexed at `[0]`, a `BIT_PACKED` level
//! block is sliced to the length its value count implies, and an unknown level encoding
//! reaches an `unreachable!`. In wasm a panic traps the instance (every table in it), and not
//! every page an SST read decodes is vouched for by a checksum: a point get fetches single
//! pages, and SSTs recorded before manifest format 3 carry none. So every page goes through
//! [`check_page`] as it comes out of the decompressor, before any decoder sees it: its
//! encodings must be ones an Anax writer uses (`writer_properties`: Parquet 1.0 data pages,
//! plain or dictionary values, RLE levels), and every run-length stream in it is walked, run
//! header by run header, the way both of parquet's run-length decoders walk it. The walk
//! reads headers only, so it costs far less than the decode it guards, and a page is never
//! decompressed twice.

use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReader, RowGroups, RowSelection,
};
use parquet::arrow::{ProjectionMask, parquet_to_arrow_field_levels};
use parquet::basic::Encoding;
use parquet::column::page::{Page, PageIterator, PageMetadata, PageReader};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ParquetMetaData, RowGroupMetaData};
use parquet::file::serialized_reader::SerializedPageReader;

use super::sparse::SparseFile;

/// Decodes the `mask` columns of row group `rg` from fetched bytes, `selection` rows of it (or
/// all), in batches of up to `batch_size` rows, with their schema; every page is checked first.
pub(super) fn read(
    file: SparseFile,
    meta: &ArrowReaderMetadata,
    rg: usize,
    mask: ProjectionMask,
    batch_size: usize,
    selection: Option<RowSelection>,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let group = OneRowGroup {
        file: Arc::new(file),
        metadata: Arc::clone(meta.metadata()),
        rg,
    };
    if group.group().is_none() {
        return Err(ParquetError::General(format!(
            "row group {rg} is not in the file"
        )));
    }
    let levels = parquet_to_arrow_field_levels(
        group.metadata.file_metadata().schema_descr(),
        mask,
        Some(meta.schema().fields()),
    )?;
    let batch_size = batch_size.clamp(1, group.num_rows().max(1));
    let reader =
        ParquetRecordBatchReader::try_new_with_row_groups(&levels, &group, batch_size, selection)?;
    let schema = reader.schema();
    let batches = reader
        .map(|b| b.map_err(|e| ParquetError::General(e.to_string())))
        .collect::<Result<_>>()?;
    Ok((schema, batches))
}

/// One row group of a fetched file, whose column chunks yield checked pages.
struct OneRowGroup {
    file: Arc<SparseFile>,
    metadata: Arc<ParquetMetaData>,
    /// Index of the row group; `read` made sure the file has it.
    rg: usize,
}

impl OneRowGroup {
    fn group(&self) -> Option<&RowGroupMetaData> {
        self.metadata.row_groups().get(self.rg)
    }
}

impl RowGroups for OneRowGroup {
    fn num_rows(&self) -> usize {
        self.group()
            .map_or(0, |g| usize::try_from(g.num_rows()).unwrap_or(0))
    }

    fn column_chunks(&self, i: usize) -> Result<Box<dyn PageIterator>> {
        let group = self
            .group()
            .ok_or_else(|| ParquetError::General("row group out of range".into()))?;
        let chunk = group
            .columns()
            .get(i)
            .ok_or_else(|| ParquetError::General(format!("no column chunk {i}")))?;
        // With the page locations, pages the row selection skips are never read: a point
        // get fetched only the pages it needs.
        let locations = self
            .metadata
            .offset_index()
            .and_then(|o| o.get(self.rg))
            .and_then(|columns| columns.get(i))
            .map(|c| c.page_locations().clone());
        let inner =
            SerializedPageReader::new(Arc::clone(&self.file), chunk, self.num_rows(), locations)?;
        let descr = chunk.column_descr();
        let checked = Checked {
            inner,
            max_def: descr.max_def_level(),
            max_rep: descr.max_rep_level(),
        };
        Ok(Box::new(OneChunk(Some(Box::new(checked)))))
    }

    fn row_groups(&self) -> Box<dyn Iterator<Item = &RowGroupMetaData> + '_> {
        Box::new(self.group().into_iter())
    }

    fn metadata(&self) -> &ParquetMetaData {
        &self.metadata
    }
}

/// The page readers of one column across the row groups read: here just one.
struct OneChunk(Option<Box<dyn PageReader>>);

impl Iterator for OneChunk {
    type Item = Result<Box<dyn PageReader>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.take().map(Ok)
    }
}

impl PageIterator for OneChunk {}

/// A page reader that hands on only pages [`check_page`] accepts.
struct Checked<R> {
    inner: R,
    max_def: i16,
    max_rep: i16,
}

impl<R: PageReader> Iterator for Checked<R> {
    type Item = Result<Page>;

    fn next(&mut self) -> Option<Self::Item> {
        self.get_next_page().transpose()
    }
}

impl<R: PageReader> PageReader for Checked<R> {
    fn get_next_page(&mut self) -> Result<Option<Page>> {
        let page = self.inner.get_next_page()?;
        if let Some(p) = &page {
            check_page(p, self.max_def, self.max_rep)
                .map_err(|why| ParquetError::General(format!("damaged page: {why}")))?;
        }
        Ok(page)
    }

    fn peek_next_page(&mut self) -> Result<Option<PageMetadata>> {
        self.inner.peek_next_page()
    }

    fn skip_next_page(&mut self) -> Result<()> {
        self.inner.skip_next_page()
    }

    fn at_record_boundary(&mut self) -> Result<bool> {
        self.inner.at_record_boundary()
    }
}

/// Bits a level of up to `max` takes in a run-length stream.
fn level_bits(max: i16) -> u8 {
    let max = u16::try_from(max).unwrap_or(0);
    (u16::BITS - max.leading_zeros()) as u8
}

/// Accepts a decompressed page only if every decoder parquet will run on it can walk it
/// without panicking; see the module documentation.
fn check_page(page: &Page, max_def: i16, max_rep: i16) -> Result<(), String> {
    match page {
        Page::DictionaryPage {
            buf,
            num_values,
            encoding,
            ..
        } => {
            if !matches!(encoding, Encoding::PLAIN | Encoding::PLAIN_DICTIONARY) {
                return Err(format!("a dictionary page encoded {encoding}"));
            }
            // Every plain value of a dictionary takes at least a byte (booleans never have
            // one), so a count beyond the bytes is damage, not data to reserve room for.
            if *num_values as usize > buf.len() {
                return Err(format!(
                    "a dictionary page declares {num_values} values in {} bytes",
                    buf.len()
                ));
            }
            Ok(())
        }
        Page::DataPage {
            buf,
            encoding,
            def_level_encoding,
            rep_level_encoding,
            ..
        } => {
            let mut rest: &[u8] = buf;
            for (max, level_encoding, what) in [
                (max_rep, rep_level_encoding, "repetition"),
                (max_def, def_level_encoding, "definition"),
            ] {
                if max <= 0 {
                    continue;
                }
                if *level_encoding != Encoding::RLE {
                    return Err(format!("{what} levels encoded {level_encoding}"));
                }
                let (len, after) = rest
                    .split_first_chunk::<4>()
                    .ok_or_else(|| format!("{what} levels without their length"))?;
                let len = usize::try_from(i32::from_le_bytes(*len))
                    .ok()
                    .filter(|&l| l <= after.len())
                    .ok_or_else(|| format!("{what} levels longer than their page"))?;
                let (levels, after) = after.split_at(len);
                walk_runs(levels, level_bits(max)).map_err(|e| format!("{what} levels: {e}"))?;
                rest = after;
            }
            check_values(*encoding, rest)
        }
        Page::DataPageV2 {
            buf,
            encoding,
            def_levels_byte_len,
            rep_levels_byte_len,
            ..
        } => {
            let rep = *rep_levels_byte_len as usize;
            let def = *def_levels_byte_len as usize;
            let rest: &[u8] = buf;
            if rep.checked_add(def).is_none_or(|n| n > rest.len()) {
                return Err("levels longer than their page".into());
            }
            let (rep_levels, rest) = rest.split_at(rep);
            let (def_levels, values) = rest.split_at(def);
            walk_runs(rep_levels, level_bits(max_rep))
                .map_err(|e| format!("repetition levels: {e}"))?;
            walk_runs(def_levels, level_bits(max_def))
                .map_err(|e| format!("definition levels: {e}"))?;
            check_values(*encoding, values)
        }
    }
}

/// The values of a data page: plain (decoded with bounds checks) or dictionary indices (a
/// bit-width byte and a run-length stream). Other encodings are not written by Anax.
fn check_values(encoding: Encoding, values: &[u8]) -> Result<(), String> {
    match encoding {
        Encoding::PLAIN => Ok(()),
        Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY => {
            let (&bits, runs) = values
                .split_first()
                .ok_or("dictionary indices without their bit width")?;
            if bits > 32 {
                return Err(format!("dictionary indices {bits} bits wide"));
            }
            walk_runs(runs, bits).map_err(|e| format!("dictionary indices: {e}"))
        }
        other => Err(format!("values encoded {other}, which Anax does not write")),
    }
}

/// Walks a run-length/bit-packed hybrid stream of `bit_width`-bit values from run header to
/// run header, as parquet's decoders do, and refuses the first header they would panic on or
/// misread: one longer than ten bytes (parquet's `assert!`), or one declaring more values
/// than a `u32` counts (they multiply and cast it unchecked). A header of zero is read as an
/// empty run, as the definition-level decoder reads it (the general decoder stops there, so
/// walking on covers both). A bit-packed run whose bytes go past the stream's end is refused
/// (the definition-level decoder slices it unchecked); a stream that ends inside a header or
/// a run-length value is left to the decoders, which stop or report an error there.
fn walk_runs(stream: &[u8], bit_width: u8) -> Result<(), String> {
    const MAX_HEADER_BYTES: usize = 10;
    let value_bytes = usize::from(bit_width).div_ceil(8);
    let mut at = 0usize;
    while at < stream.len() {
        let mut header = 0u64;
        let mut len = 0usize;
        loop {
            let Some(&byte) = stream.get(at + len) else {
                return Ok(());
            };
            if len == MAX_HEADER_BYTES {
                return Err(format!("a run header at byte {at} longer than ten bytes"));
            }
            header |= u64::from(byte & 0x7F) << (7 * len);
            len += 1;
            if byte & 0x80 == 0 {
                break;
            }
        }
        at += len;
        let count = header >> 1;
        if header & 1 == 1 {
            // `count` groups of eight values, `bit_width` bytes a group.
            if count.saturating_mul(8) > u64::from(u32::MAX) {
                return Err(format!("a run at byte {at} of {count} groups"));
            }
            let bytes = count.saturating_mul(u64::from(bit_width));
            at = at.saturating_add(usize::try_from(bytes).unwrap_or(usize::MAX));
            // Writers pad the last group of eight, so a run's bytes are all there; the
            // definition-level decoder slices a bit-packed run without checking.
            if at > stream.len() {
                return Err(format!(
                    "a bit-packed run ends {} bytes past its stream",
                    at - stream.len()
                ));
            }
        } else {
            if count > u64::from(u32::MAX) {
                return Err(format!("a run at byte {at} of {count} values"));
            }
            at = at.saturating_add(value_bytes);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn dict_page(values: &[u8]) -> Page {
        Page::DataPage {
            buf: Bytes::copy_from_slice(values),
            num_values: 8,
            encoding: Encoding::RLE_DICTIONARY,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        }
    }

    #[test]
    fn a_run_header_of_eleven_bytes_is_refused_and_one_of_ten_is_walked() {
        let mut long = vec![0xFF; 10];
        long.push(0x01);
        let err = walk_runs(&long, 1).unwrap_err();
        assert!(err.contains("longer than ten bytes"), "{err}");
        // Ten bytes end the header; parquet reads it (a huge count, refused as such).
        let mut ten = vec![0x80; 9];
        ten.push(0x00);
        assert_eq!(walk_runs(&ten, 1), Ok(()));
        // A header cut by the end of the stream is left to the decoder's own error.
        assert_eq!(walk_runs(&[0xFF; 10], 1), Ok(()));
    }

    #[test]
    fn runs_a_writer_makes_are_walked_to_the_end() {
        // RLE run of 300 copies of 5 (bit width 3), a bit-packed run of two groups, padding.
        let mut s = vec![0xD8, 0x04, 0x05];
        s.push(0x05);
        s.extend_from_slice(&[0xAB; 6]);
        s.extend_from_slice(&[0, 0, 0]);
        assert_eq!(walk_runs(&s, 3), Ok(()));
        // A bit-packed run's data is skipped, not read as headers: eleven 0xFF data bytes
        // (one group of 11-bit values) would be refused as a header.
        let mut packed = vec![0x03];
        packed.extend_from_slice(&[0xFF; 11]);
        packed.push(0x00);
        assert_eq!(walk_runs(&packed, 11), Ok(()));
        packed.truncate(1);
        packed.extend_from_slice(&[0xFF; 12]);
        assert!(walk_runs(&packed, 1).is_err());
        // Two groups declared, one group's bytes present.
        let err = walk_runs(&[0x05, 0xAA], 1).unwrap_err();
        assert!(err.contains("past its stream"), "{err}");
    }

    #[test]
    fn counts_beyond_u32_are_refused() {
        // Bit-packed, 2^31 groups: 2^34 values.
        let huge_groups = [0x81, 0x80, 0x80, 0x80, 0x10];
        assert!(walk_runs(&huge_groups, 1).is_err());
        let huge_run = [0x80, 0x80, 0x80, 0x80, 0x40, 0x01];
        assert!(walk_runs(&huge_run, 1).is_err());
    }

    #[test]
    fn dictionary_pages_and_index_widths_are_checked() {
        let mut bad = vec![4u8];
        bad.extend_from_slice(&[0xFF; 11]);
        assert!(check_page(&dict_page(&bad), 0, 0).is_err());
        assert!(check_page(&dict_page(&[]), 0, 0).is_err());
        assert!(check_page(&dict_page(&[33, 0x02, 0x00]), 0, 0).is_err());
        assert_eq!(check_page(&dict_page(&[2, 0x10, 0x01]), 0, 0), Ok(()));
        let dictionary = Page::DictionaryPage {
            buf: Bytes::from_static(b"\x01\x00\x00\x00a"),
            num_values: 2_000_000,
            encoding: Encoding::PLAIN,
            is_sorted: false,
        };
        assert!(check_page(&dictionary, 0, 0).is_err());
    }

    #[test]
    fn level_blocks_must_be_rle_and_fit_their_page() {
        let page = |buf: &'static [u8], def: Encoding| Page::DataPage {
            buf: Bytes::from_static(buf),
            num_values: 4,
            encoding: Encoding::PLAIN,
            def_level_encoding: def,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        assert_eq!(
            check_page(&page(b"\x02\x00\x00\x00\x08\x01rest", Encoding::RLE), 1, 0),
            Ok(())
        );
        assert!(check_page(&page(b"\x09\x00\x00\x00\x08\x01", Encoding::RLE), 1, 0).is_err());
        assert!(check_page(&page(b"\xFF\xFF\xFF\xFF", Encoding::RLE), 1, 0).is_err());
        #[allow(deprecated)]
        let packed = Encoding::BIT_PACKED;
        assert!(check_page(&page(b"\x00", packed), 1, 0).is_err());
        // No definition levels at all for a required column: nothing to read before values.
        assert_eq!(check_page(&page(b"", Encoding::RLE), 0, 0), Ok(()));
        let delta = Page::DataPage {
            buf: Bytes::from_static(b"\x80\x01"),
            num_values: 1,
            encoding: Encoding::DELTA_BINARY_PACKED,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        assert!(check_page(&delta, 0, 0).is_err());
    }
}
