//! The Parquet block format: what the compactor writes. See `storage/FORMAT.md`.
//!
//! Columns: `fingerprint` u64, `ts` timestamp(ns, UTC), `id` u64 (null when it equals the id
//! derived from fingerprint, ts and line: format version 2), `line` utf8, `metadata` utf8
//! (JSON object, null when empty). Rows are grouped by stream, streams in [`stream_order_key`]
//! order (similar streams side by side, which compresses better), rows of a stream by ts; each
//! stream's rows are
//! contiguous and listed in the block's [`BlockIndex`]. zstd compression, page statistics on.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use object_store::path::Path as ObjectPath;
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection};
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::basic::{BrotliLevel, Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{KeyValue, PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::entry::derive_message_id;
use crate::entry::Entry;
use crate::error::{Result, StorageError, StorageErrorKind};
use crate::label_index::{BlockIndex, IndexedStream, BLOCK_FORMAT_VERSION};
use crate::labels::LabelSet;
use crate::line_grams::{LineGrams, LineGramsBuilder, LineGramsLocation};
use crate::row_filter::RowFilter;
use crate::store::Store;

/// How a block is encoded: the compactor writes hour blocks fast and day blocks small.
/// Every choice here is a writer's choice; readers need none of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOptions {
    /// zstd level of every column (1-22).
    pub zstd_level: i32,
    /// Rows per row group: large enough for good compression, small enough to prune by time.
    pub row_group_rows: usize,
    /// Target size of a data page before compression (bytes): larger pages give zstd more
    /// context (each page is compressed on its own), smaller ones let page pruning skip more.
    pub data_page_bytes: usize,
    /// Most rows in a data page (the other bound on page size).
    pub data_page_rows: usize,
    /// Dictionary-encode the `line` column (pays only when lines repeat exactly).
    pub line_dictionary: bool,
    /// Encoding of the `line` column when the dictionary is off.
    pub line_encoding: LineEncoding,
    /// Compression of the `line` column (every other column uses zstd at `zstd_level`).
    pub line_codec: LineCodec,
}

/// Compression codecs tried for the `line` column, which is nearly all of a block's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineCodec {
    /// zstd at the block's `zstd_level`.
    Zstd,
    /// Brotli at this quality (0-11; Parquet's BROTLI codec, 4 MiB window).
    Brotli(u32),
}

/// Parquet encodings tried for the `line` column (see BENCHMARKS.md for what each costs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEncoding {
    /// PLAIN: each line behind its 4-byte length.
    Plain,
    /// DELTA_LENGTH_BYTE_ARRAY: the lengths apart, then the lines back to back.
    DeltaLength,
    /// DELTA_BYTE_ARRAY: the prefix shared with the previous line is not repeated.
    DeltaPrefix,
}

impl std::str::FromStr for LineCodec {
    type Err = String;

    /// `zstd`, `brotli` (quality 11) or `brotli:<quality 0-11>`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "zstd" => Ok(LineCodec::Zstd),
            "brotli" => Ok(LineCodec::Brotli(11)),
            other => match other.strip_prefix("brotli:").map(str::parse::<u32>) {
                Some(Ok(q)) if q <= 11 => Ok(LineCodec::Brotli(q)),
                _ => Err(format!(
                    "line codec {s:?}: expected zstd, brotli or brotli:<quality 0-11>"
                )),
            },
        }
    }
}

impl BlockOptions {
    /// Hour blocks: written at compaction speed.
    pub fn hour() -> Self {
        BlockOptions {
            zstd_level: 3,
            row_group_rows: 128 * 1024,
            data_page_bytes: 1024 * 1024,
            data_page_rows: 20_000,
            line_dictionary: true,
            line_encoding: LineEncoding::Plain,
            line_codec: LineCodec::Zstd,
        }
    }

    /// Day blocks: written once a day is closed, smaller at the cost of CPU.
    pub fn day() -> Self {
        BlockOptions {
            zstd_level: 19,
            row_group_rows: 512 * 1024,
            data_page_bytes: 8 * 1024 * 1024,
            data_page_rows: usize::MAX,
            line_dictionary: false,
            line_encoding: LineEncoding::Plain,
            line_codec: LineCodec::Zstd,
        }
    }
}

impl Default for BlockOptions {
    fn default() -> Self {
        Self::hour()
    }
}

/// Labels whose value says what kind of lines a stream holds, most telling first: streams are
/// ordered by it so that zstd sees lines of the same kind (from different hosts) together.
const GROUPING_LABELS: &[&str] = &[
    "service_name",
    "service",
    "app",
    "application",
    "job",
    "container",
    "component",
    "filename",
    "file",
];

/// The order of streams in a block (version 2): the first grouping label's value (service,
/// app, job...), then the label set, then the fingerprint. Version 1 blocks are ordered by
/// fingerprint; readers depend on neither (the label index gives each stream's rows).
pub fn stream_order_key(labels: &LabelSet) -> (String, String, u64) {
    let group = GROUPING_LABELS
        .iter()
        .find_map(|name| labels.get(name))
        .unwrap_or_default();
    (group.to_string(), labels.to_string(), labels.fingerprint())
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("fingerprint", DataType::UInt64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        Field::new("id", DataType::UInt64, true),
        Field::new("line", DataType::Utf8, false),
        Field::new("metadata", DataType::Utf8, true),
    ]))
}

fn writer_properties(opts: &BlockOptions) -> Result<WriterProperties> {
    let zstd = ZstdLevel::try_new(opts.zstd_level)
        .map_err(|e| StorageError::new(StorageErrorKind::Config, "block zstd level", e))?;
    let mut builder = WriterProperties::builder();
    if !opts.line_dictionary {
        let encoding = match opts.line_encoding {
            LineEncoding::Plain => Encoding::PLAIN,
            LineEncoding::DeltaLength => Encoding::DELTA_LENGTH_BYTE_ARRAY,
            LineEncoding::DeltaPrefix => Encoding::DELTA_BYTE_ARRAY,
        };
        builder = builder.set_column_encoding(ColumnPath::from("line"), encoding);
    }
    if let LineCodec::Brotli(quality) = opts.line_codec {
        let level = BrotliLevel::try_new(quality)
            .map_err(|e| StorageError::new(StorageErrorKind::Config, "block brotli quality", e))?;
        builder = builder.set_column_compression(ColumnPath::from("line"), Compression::BROTLI(level));
    }
    Ok(builder
        .set_compression(Compression::ZSTD(zstd))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(opts.row_group_rows))
        .set_data_page_size_limit(opts.data_page_bytes)
        .set_data_page_row_count_limit(opts.data_page_rows)
        .set_column_dictionary_enabled(ColumnPath::from("ts"), false)
        .set_column_encoding(ColumnPath::from("ts"), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(ColumnPath::from("id"), false)
        .set_column_dictionary_enabled(ColumnPath::from("line"), opts.line_dictionary)
        .build())
}

/// Writes a block (with [`BlockOptions::hour`]) from streams whose entries are sorted by
/// timestamp and de-duplicated. Returns the Parquet bytes and the block's label index.
pub fn write_block(streams: Vec<(LabelSet, Vec<Entry>)>) -> Result<(Vec<u8>, BlockIndex)> {
    write_block_with(streams, &BlockOptions::hour())
}

/// Like [`write_block`], encoded with `opts`.
pub fn write_block_with(
    mut streams: Vec<(LabelSet, Vec<Entry>)>,
    opts: &BlockOptions,
) -> Result<(Vec<u8>, BlockIndex)> {
    streams.sort_by_cached_key(|(l, _)| stream_order_key(l));
    let mut writer = BlockWriter::new(opts)?;
    for (labels, entries) in &streams {
        writer.push_stream(labels, entries)?;
    }
    writer.finish()
}

/// Writes a block one stream at a time, so that a large block (a day) never needs all its
/// entries in memory: streams MUST come in increasing [`stream_order_key`] order, each with its entries
/// sorted by timestamp and de-duplicated.
pub struct BlockWriter {
    writer: ArrowWriter<Vec<u8>>,
    grams: LineGramsBuilder,
    index: BlockIndex,
    rows: u64,
    last: Option<(String, String, u64)>,
}

impl BlockWriter {
    /// A writer encoding with `opts`.
    pub fn new(opts: &BlockOptions) -> Result<Self> {
        let writer = ArrowWriter::try_new(Vec::new(), schema(), Some(writer_properties(opts)?))
            .map_err(|e| StorageError::corrupt("creating parquet writer", e))?;
        Ok(BlockWriter {
            writer,
            grams: LineGramsBuilder::default(),
            index: BlockIndex {
                version: BLOCK_FORMAT_VERSION,
                streams: Vec::new(),
            },
            rows: 0,
            last: None,
        })
    }

    /// Appends one stream's rows (nothing for an empty stream).
    pub fn push_stream(&mut self, labels: &LabelSet, entries: &[Entry]) -> Result<()> {
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Ok(());
        };
        let fp = labels.fingerprint();
        let key = stream_order_key(labels);
        if self.last.as_ref().is_some_and(|last| *last >= key) {
            return Err(StorageError::new(
                StorageErrorKind::Config,
                "writing parquet block",
                format!("stream {labels} out of order"),
            ));
        }
        self.last = Some(key);
        self.index.streams.push(IndexedStream {
            labels: labels.clone(),
            fingerprint: fp,
            row_start: self.rows,
            rows: entries.len() as u64,
            min_ts: first.ts,
            max_ts: last.ts,
            bytes: entries.iter().map(|e| e.line.len() as u64).sum(),
        });
        self.rows += entries.len() as u64;
        for e in entries {
            self.grams.push(e.line.as_bytes());
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt64Array::from(vec![fp; entries.len()])),
            Arc::new(
                TimestampNanosecondArray::from_iter_values(entries.iter().map(|e| e.ts)).with_timezone("UTC"),
            ),
            // Derived ids are recomputed on read: storing them would cost 8 incompressible
            // bytes a row.
            Arc::new(UInt64Array::from_iter(entries.iter().map(|e| {
                (e.id != derive_message_id(fp, e.ts, &e.line)).then_some(e.id)
            }))),
            Arc::new(StringArray::from_iter_values(
                entries.iter().map(|e| e.line.as_str()),
            )),
            Arc::new(StringArray::from_iter(
                entries
                    .iter()
                    .map(|e| (!e.metadata.is_empty()).then(|| metadata_json(&e.metadata))),
            )),
        ];
        let batch = RecordBatch::try_new(schema(), columns)
            .map_err(|e| StorageError::corrupt("building block batch", e))?;
        self.writer
            .write(&batch)
            .map_err(|e| StorageError::corrupt("writing parquet block", e))
    }

    /// Finishes the file: its bytes and its label index.
    pub fn finish(mut self) -> Result<(Vec<u8>, BlockIndex)> {
        // The line trigram filter goes after the last row group (see `line_grams`).
        self.writer
            .flush()
            .map_err(|e| StorageError::corrupt("writing parquet block", e))?;
        let (grams, location) = self.grams.finish(self.writer.bytes_written())?;
        self.writer
            .write_all(&grams)
            .map_err(|e| StorageError::corrupt("writing line trigram filter", e))?;
        self.writer
            .append_key_value_metadata(KeyValue::new(crate::line_grams::KEY.to_string(), location));
        let bytes = self
            .writer
            .into_inner()
            .map_err(|e| StorageError::corrupt("finishing parquet block", e))?;
        Ok((bytes, self.index))
    }
}

fn metadata_json(pairs: &[(String, String)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

fn parse_metadata(s: &str) -> Vec<(String, String)> {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(s) {
        Ok(m) => m
            .into_iter()
            .map(|(k, v)| (k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Reads the rows of `streams` (which must come from this block's index) from a block's bytes,
/// reading only their row ranges. Returns each stream's entries in timestamp order.
pub fn read_block_streams(key: &str, data: Bytes, streams: &[&IndexedStream]) -> Result<Vec<Vec<Entry>>> {
    read_block_streams_filtered(key, data, streams, &RowFilter::all())
}

/// Like [`read_block_streams`], keeping only the rows `filter` keeps.
pub fn read_block_streams_filtered(
    key: &str,
    data: Bytes,
    streams: &[&IndexedStream],
    filter: &RowFilter,
) -> Result<Vec<Vec<Entry>>> {
    let mut rows = RowCollector::new(key, streams, filter);
    // With a required literal, pages of granules that cannot hold it are skipped: the page
    // index says where pages start.
    let options = ArrowReaderOptions::new().with_page_index_policy(if filter.required.is_some() {
        PageIndexPolicy::Optional
    } else {
        PageIndexPolicy::Skip
    });
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(data.clone(), options)
        .map_err(|e| StorageError::corrupt(rows.ctx("opening"), e))?;
    if let Some(loc) = grams_location(builder.metadata(), filter) {
        let range = loc.range();
        let bytes = usize::try_from(range.start)
            .ok()
            .zip(usize::try_from(range.end).ok())
            .and_then(|(s, e)| data.get(s..e))
            .ok_or_else(|| StorageError::corrupt(rows.ctx("reading"), "line trigram filter out of bounds"))?;
        rows.narrow(&LineGrams::decode(loc, bytes)?);
    }
    if rows.is_empty() {
        return rows.finish();
    }
    let total_rows = builder.metadata().file_metadata().num_rows() as usize;
    let reader = builder
        .with_row_selection(rows.selection(total_rows))
        .with_batch_size(8192)
        .build()
        .map_err(|e| StorageError::corrupt(rows.ctx("reading"), e))?;
    for batch in reader {
        let batch = batch.map_err(|e| StorageError::corrupt(rows.ctx("decoding"), e))?;
        rows.push(&batch)?;
    }
    rows.finish()
}

/// Like [`read_block_streams_filtered`], reading the block from `store` with ranged reads: the
/// footer and page index first, then only the pages that hold the selected streams' rows.
/// `size` is the block's size as the manifest lists it.
pub async fn read_block_streams_ranged(
    store: &Store,
    key: &str,
    size: u64,
    streams: &[&IndexedStream],
    filter: &RowFilter,
) -> Result<Vec<Vec<Entry>>> {
    let mut rows = RowCollector::new(key, streams, filter);
    let reader = BlockReader {
        store: store.object_store(),
        path: ObjectPath::from(key),
        size,
    };
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    let map = |what: &str, e: parquet::errors::ParquetError| match e {
        parquet::errors::ParquetError::External(inner) => match inner.downcast::<object_store::Error>() {
            Ok(os) => StorageError::from_object_store(format!("{what} block {key}"), *os),
            Err(other) => StorageError::new(StorageErrorKind::Io, format!("{what} block {key}"), other),
        },
        other => StorageError::corrupt(format!("{what} block {key}"), other),
    };
    let builder = ParquetRecordBatchStreamBuilder::new_with_options(reader, options)
        .await
        .map_err(|e| map("opening", e))?;
    if let Some(loc) = grams_location(builder.metadata(), filter) {
        let bytes = store
            .object_store()
            .get_range(&ObjectPath::from(key), loc.range())
            .await
            .map_err(|e| StorageError::from_object_store(format!("reading block {key}"), e))?;
        rows.narrow(&LineGrams::decode(loc, &bytes)?);
    }
    if rows.is_empty() {
        return rows.finish();
    }
    let total_rows = builder.metadata().file_metadata().num_rows() as usize;
    let mut stream = builder
        .with_row_selection(rows.selection(total_rows))
        .with_batch_size(8192)
        .build()
        .map_err(|e| map("reading", e))?;
    while let Some(batch) = stream.next().await {
        rows.push(&batch.map_err(|e| map("decoding", e))?)?;
    }
    rows.finish()
}

/// Where a block's line trigram filter is, when `filter` has a required literal it can use.
fn grams_location(metadata: &ParquetMetaData, filter: &RowFilter) -> Option<LineGramsLocation> {
    filter.required.as_ref()?;
    metadata
        .file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|kv| kv.key == crate::line_grams::KEY)
        .and_then(|kv| LineGramsLocation::parse(kv.value.as_deref()?))
}

/// Ranged reads of one block for the async Parquet reader (the footer is at a known offset: the
/// manifest lists the block's size, so no suffix request is needed).
struct BlockReader {
    store: std::sync::Arc<dyn object_store::ObjectStore>,
    path: ObjectPath,
    size: u64,
}

fn external(e: object_store::Error) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::External(Box::new(e))
}

impl AsyncFileReader for BlockReader {
    fn get_bytes(&mut self, range: std::ops::Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move { self.store.get_range(&self.path, range).await.map_err(external) }.boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move { self.store.get_ranges(&self.path, &ranges).await.map_err(external) }.boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<std::sync::Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(self, size)
                .await?;
            Ok(std::sync::Arc::new(metadata))
        }
        .boxed()
    }
}

/// A run of rows to read: (position of its stream in the caller's list, the stream's
/// fingerprint, the rows).
type Segment = (usize, u64, std::ops::Range<usize>);

/// Distributes decoded rows (which arrive in row order, restricted to the selected row
/// segments) to their streams, applying the filter.
struct RowCollector<'a> {
    key: &'a str,
    filter: &'a RowFilter,
    /// The rows to read, ascending: each selected stream's rows, less the granules the line
    /// trigram filter rules out.
    segments: Vec<Segment>,
    out: Vec<Vec<Entry>>,
    current: usize,
    left: u64,
}

impl<'a> RowCollector<'a> {
    fn new(key: &'a str, streams: &[&'a IndexedStream], filter: &'a RowFilter) -> Self {
        let mut segments: Vec<Segment> = streams
            .iter()
            .enumerate()
            .map(|(pos, s)| {
                (
                    pos,
                    s.fingerprint,
                    s.row_start as usize..(s.row_start + s.rows) as usize,
                )
            })
            .collect();
        segments.sort_by_key(|(_, _, rows)| rows.start);
        let mut rows = RowCollector {
            key,
            filter,
            segments,
            out: vec![Vec::new(); streams.len()],
            current: 0,
            left: 0,
        };
        rows.rewind();
        rows
    }

    fn rewind(&mut self) {
        self.current = 0;
        self.left = self.segments.first().map_or(0, |(_, _, r)| r.len() as u64);
    }

    /// Keeps only the rows that `grams` says may hold the filter's required literal.
    fn narrow(&mut self, grams: &LineGrams) {
        let Some(literal) = &self.filter.required else {
            return;
        };
        let ranges: Vec<std::ops::Range<usize>> = self.segments.iter().map(|(_, _, r)| r.clone()).collect();
        let narrowed: Vec<Segment> = grams
            .narrow(&ranges, literal.needle())
            .into_iter()
            .map(|(i, rows)| (self.segments[i].0, self.segments[i].1, rows))
            .collect();
        self.segments = narrowed;
        self.rewind();
    }

    /// Whether no row is left to read.
    fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    fn ctx(&self, what: &str) -> String {
        format!("{what} block {}", self.key)
    }

    fn selection(&self, total_rows: usize) -> RowSelection {
        RowSelection::from_consecutive_ranges(self.segments.iter().map(|(_, _, r)| r.clone()), total_rows)
    }

    fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let wrong = |name: &str| {
            StorageError::corrupt(self.ctx("decoding"), format!("{name} column has the wrong type"))
        };
        let ts = batch
            .column(1)
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .ok_or_else(|| wrong("ts"))?;
        let id = batch
            .column(2)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| wrong("id"))?;
        let line = batch
            .column(3)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| wrong("line"))?;
        let meta = batch
            .column(4)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| wrong("metadata"))?;
        let offsets: Vec<usize> = line.value_offsets().iter().map(|&o| o as usize).collect();
        let data = line.value_data();
        // Rows holding the required literal, found with one pass over the batch's bytes.
        let candidates = self.filter.candidates(data, &offsets);
        let mut next_candidate = 0;
        let (mut examined, mut examined_bytes) = (0u64, 0u64);
        for i in 0..batch.num_rows() {
            while self.left == 0 {
                self.current += 1;
                self.left = match self.segments.get(self.current) {
                    Some((_, _, rows)) => rows.len() as u64,
                    None => {
                        return Err(StorageError::corrupt(
                            self.ctx("reading"),
                            "more rows than the index lists",
                        ))
                    }
                };
            }
            self.left -= 1;
            let t = ts.value(i);
            if !self.filter.in_range(t) {
                continue;
            }
            examined += 1;
            examined_bytes += (offsets[i + 1] - offsets[i]) as u64;
            if let Some(rows) = &candidates {
                while next_candidate < rows.len() && rows[next_candidate] < i {
                    next_candidate += 1;
                }
                if rows.get(next_candidate) != Some(&i) {
                    continue;
                }
            }
            let text = line.value(i);
            if !self.filter.line.as_ref().is_none_or(|f| f(text)) {
                continue;
            }
            let (pos, fingerprint, _) = self.segments[self.current];
            self.out[pos].push(Entry {
                ts: t,
                id: if id.is_null(i) {
                    derive_message_id(fingerprint, t, text)
                } else {
                    id.value(i)
                },
                // Counting queries need no text: it is never copied for them.
                line: if self.filter.keep_lines {
                    text.to_string()
                } else {
                    String::new()
                },
                metadata: if meta.is_null(i) {
                    Vec::new()
                } else {
                    parse_metadata(meta.value(i))
                },
            });
        }
        if let Some(stats) = &self.filter.stats {
            stats.add(examined, examined_bytes);
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<Vec<Entry>>> {
        if self.left != 0 || self.current + 1 < self.segments.len() {
            return Err(StorageError::corrupt(
                self.ctx("reading"),
                "fewer rows than the index lists",
            ));
        }
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(app: &str, n: i64) -> (LabelSet, Vec<Entry>) {
        let labels = LabelSet::parse(&format!("{{app=\"{app}\"}}")).unwrap();
        let entries = (0..n)
            .map(|i| Entry {
                ts: 10 * i,
                id: i as u64,
                line: format!("{app} {i}"),
                metadata: if i % 2 == 0 {
                    vec![("k".into(), format!("v{i}"))]
                } else {
                    vec![]
                },
            })
            .collect();
        (labels, entries)
    }

    #[test]
    fn block_writer_rejects_streams_out_of_order() {
        let streams = [stream("b", 3), stream("a", 3)];
        let mut w = BlockWriter::new(&BlockOptions::hour()).unwrap();
        w.push_stream(&streams[0].0, &streams[0].1).unwrap();
        let err = w.push_stream(&streams[1].0, &streams[1].1).unwrap_err();
        assert!(err.to_string().contains("out of order"), "{err}");
    }

    #[test]
    fn derived_ids_are_not_stored_but_read_back() {
        let labels = LabelSet::parse("{app=\"a\"}").unwrap();
        let fp = labels.fingerprint();
        let entries: Vec<Entry> = (0..1000)
            .map(|i| {
                let line = format!("line {i}");
                // Every tenth entry carries an agent-assigned id.
                let id = if i % 10 == 0 {
                    7 + i as u64
                } else {
                    derive_message_id(fp, i, &line)
                };
                Entry {
                    ts: i,
                    id,
                    line,
                    metadata: vec![],
                }
            })
            .collect();
        let (bytes, index) = write_block(vec![(labels, entries.clone())]).unwrap();
        assert_eq!(index.version, BLOCK_FORMAT_VERSION);
        let got = read_block_streams("k", Bytes::from(bytes.clone()), &[&index.streams[0]]).unwrap();
        assert_eq!(got[0], entries);
        // 900 of the 1000 ids are null in the file.
        let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes)).unwrap();
        let nulls: usize = reader
            .build()
            .unwrap()
            .map(|b| b.unwrap().column(2).null_count())
            .sum();
        assert_eq!(nulls, 900);
    }

    #[test]
    fn line_codecs_parse() {
        assert_eq!("zstd".parse(), Ok(LineCodec::Zstd));
        assert_eq!("brotli".parse(), Ok(LineCodec::Brotli(11)));
        assert_eq!("brotli:9".parse(), Ok(LineCodec::Brotli(9)));
        for bad in ["brotli:12", "gzip", "brotli:x", ""] {
            let err = bad.parse::<LineCodec>().unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn brotli_lines_round_trip_and_only_the_line_column_uses_it() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let input = vec![stream("a", 2000), stream("b", 300)];
        let opts = BlockOptions {
            line_codec: LineCodec::Brotli(5),
            ..BlockOptions::day()
        };
        let (bytes, index) = write_block_with(input.clone(), &opts).unwrap();
        let reader = SerializedFileReader::new(Bytes::from(bytes.clone())).unwrap();
        for column in reader.metadata().row_group(0).columns() {
            let brotli = matches!(column.compression(), Compression::BROTLI(_));
            assert_eq!(brotli, column.column_path().string() == "line", "{column:?}");
        }
        let all: Vec<&IndexedStream> = index.streams.iter().collect();
        let got = read_block_streams("k", Bytes::from(bytes), &all).unwrap();
        assert_eq!(got, vec![input[0].1.clone(), input[1].1.clone()]);
        let bad = BlockOptions {
            line_codec: LineCodec::Brotli(12),
            ..BlockOptions::day()
        };
        assert!(write_block_with(input, &bad).is_err());
    }

    #[test]
    fn block_round_trips_selected_streams() {
        let input = vec![stream("a", 1000), stream("b", 5), stream("c", 300)];
        let (bytes, index) = write_block(input.clone()).unwrap();
        assert_eq!(index.streams.len(), 3);
        let want: Vec<&IndexedStream> = index
            .streams
            .iter()
            .filter(|s| s.labels.get("app") != Some("b"))
            .collect();
        let got = read_block_streams("k", Bytes::from(bytes), &want).unwrap();
        for (s, entries) in want.iter().zip(&got) {
            let expected = &input.iter().find(|(l, _)| *l == s.labels).unwrap().1;
            assert_eq!(entries, expected);
        }
        let idx2 = BlockIndex::decode("i", &index.encode().unwrap()).unwrap();
        assert_eq!(idx2, index);
        // A filter keeps only matching rows of each stream.
        let filter = RowFilter {
            start: 100,
            end: 200,
            line: Some(std::sync::Arc::new(|l: &str| l.ends_with('5'))),
            ..RowFilter::all()
        };
        let all: Vec<&IndexedStream> = index.streams.iter().collect();
        let got = read_block_streams_filtered(
            "k",
            Bytes::from(write_block(input.clone()).unwrap().0),
            &all,
            &filter,
        )
        .unwrap();
        for (s, entries) in all.iter().zip(&got) {
            let expected: Vec<Entry> = input
                .iter()
                .find(|(l, _)| *l == s.labels)
                .unwrap()
                .1
                .iter()
                .filter(|e| filter.keeps(e.ts, &e.line))
                .cloned()
                .collect();
            assert_eq!(*entries, expected);
        }
    }
}
