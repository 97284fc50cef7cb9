//! The Parquet block format: what the compactor writes. See `storage/FORMAT.md`.
//!
//! Columns: `fingerprint` u64, `ts` timestamp(ns, UTC), `id` u64, `line` utf8, `metadata` utf8
//! (JSON object, null when empty). Rows are sorted by (fingerprint, ts); each stream's rows are
//! contiguous and listed in the block's [`BlockIndex`]. zstd compression, page statistics on.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use bytes::Bytes;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::entry::Entry;
use crate::error::{Result, StorageError};
use crate::label_index::{BlockIndex, IndexedStream};
use crate::labels::LabelSet;

/// Rows per row group: large enough for good compression, small enough to prune by time.
const ROW_GROUP_ROWS: usize = 128 * 1024;

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("fingerprint", DataType::UInt64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        Field::new("id", DataType::UInt64, false),
        Field::new("line", DataType::Utf8, false),
        Field::new("metadata", DataType::Utf8, true),
    ]))
}

fn writer_properties() -> Result<WriterProperties> {
    let zstd = ZstdLevel::try_new(3).map_err(|e| StorageError::corrupt("zstd level", e))?;
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(zstd))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_column_dictionary_enabled(ColumnPath::from("ts"), false)
        .set_column_encoding(ColumnPath::from("ts"), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(ColumnPath::from("id"), false)
        .build())
}

/// Writes a block from streams whose entries are sorted by timestamp and de-duplicated.
/// Returns the Parquet bytes and the block's label index.
pub fn write_block(mut streams: Vec<(LabelSet, Vec<Entry>)>) -> Result<(Vec<u8>, BlockIndex)> {
    streams.sort_by_key(|(l, _)| l.fingerprint());
    let total: usize = streams.iter().map(|(_, e)| e.len()).sum();
    let mut fps = Vec::with_capacity(total);
    let mut tss = Vec::with_capacity(total);
    let mut ids = Vec::with_capacity(total);
    let mut lines = Vec::with_capacity(total);
    let mut metas: Vec<Option<String>> = Vec::with_capacity(total);
    let mut index = BlockIndex {
        version: 1,
        streams: Vec::with_capacity(streams.len()),
    };
    for (labels, entries) in &streams {
        if entries.is_empty() {
            continue;
        }
        let fp = labels.fingerprint();
        index.streams.push(IndexedStream {
            labels: labels.clone(),
            fingerprint: fp,
            row_start: fps.len() as u64,
            rows: entries.len() as u64,
            min_ts: entries.first().map_or(0, |e| e.ts),
            max_ts: entries.last().map_or(0, |e| e.ts),
            bytes: entries.iter().map(|e| e.line.len() as u64).sum(),
        });
        for e in entries {
            fps.push(fp);
            tss.push(e.ts);
            ids.push(e.id);
            lines.push(e.line.as_str());
            metas.push(if e.metadata.is_empty() {
                None
            } else {
                Some(metadata_json(&e.metadata))
            });
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from(fps)),
        Arc::new(TimestampNanosecondArray::from(tss).with_timezone("UTC")),
        Arc::new(UInt64Array::from(ids)),
        Arc::new(StringArray::from(lines)),
        Arc::new(StringArray::from(metas)),
    ];
    let batch = RecordBatch::try_new(schema(), columns)
        .map_err(|e| StorageError::corrupt("building block batch", e))?;
    let mut writer = ArrowWriter::try_new(Vec::new(), schema(), Some(writer_properties()?))
        .map_err(|e| StorageError::corrupt("creating parquet writer", e))?;
    writer
        .write(&batch)
        .map_err(|e| StorageError::corrupt("writing parquet block", e))?;
    let bytes = writer
        .into_inner()
        .map_err(|e| StorageError::corrupt("finishing parquet block", e))?;
    Ok((bytes, index))
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

/// A predicate over line text.
pub type LinePredicate = std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Counts of what a query examined (rows in its time range, and their line bytes).
#[derive(Debug, Default)]
pub struct ScanStats {
    /// Lines examined.
    pub lines: std::sync::atomic::AtomicU64,
    /// Line bytes examined.
    pub bytes: std::sync::atomic::AtomicU64,
}

impl ScanStats {
    /// (lines, bytes) so far.
    pub fn snapshot(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.lines.load(Relaxed), self.bytes.load(Relaxed))
    }
}

/// Which rows a reader keeps: a time range and an optional line predicate, applied while
/// decoding so rejected lines are never copied.
#[derive(Clone)]
pub struct RowFilter {
    /// Inclusive start, ns.
    pub start: i64,
    /// Exclusive end, ns.
    pub end: i64,
    /// Lines must pass this, when set.
    pub line: Option<LinePredicate>,
    /// Where to count the rows examined, when set.
    pub stats: Option<std::sync::Arc<ScanStats>>,
    /// Whether kept rows need their text (counting queries only need timestamps and ids).
    pub keep_lines: bool,
}

impl RowFilter {
    /// Keeps every row.
    pub fn all() -> Self {
        RowFilter {
            start: i64::MIN,
            end: i64::MAX,
            line: None,
            stats: None,
            keep_lines: true,
        }
    }

    /// Whether a row at `ts` with `line` is kept (counting it as examined when in range).
    pub fn keeps(&self, ts: i64, line: &str) -> bool {
        if ts < self.start || ts >= self.end {
            return false;
        }
        if let Some(s) = &self.stats {
            use std::sync::atomic::Ordering::Relaxed;
            s.lines.fetch_add(1, Relaxed);
            s.bytes.fetch_add(line.len() as u64, Relaxed);
        }
        self.line.as_ref().is_none_or(|f| f(line))
    }
}

impl std::fmt::Debug for RowFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowFilter")
            .field("start", &self.start)
            .field("end", &self.end)
            .field("line", &self.line.is_some())
            .finish()
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
    let ctx = |what: &str| format!("{what} block {key}");
    let mut sorted: Vec<(usize, &IndexedStream)> = streams.iter().copied().enumerate().collect();
    sorted.sort_by_key(|(_, s)| s.row_start);
    let ranges = sorted
        .iter()
        .map(|(_, s)| s.row_start as usize..(s.row_start + s.rows) as usize);
    let builder = ParquetRecordBatchReaderBuilder::try_new(data)
        .map_err(|e| StorageError::corrupt(ctx("opening"), e))?;
    let total_rows = builder.metadata().file_metadata().num_rows() as usize;
    let selection = RowSelection::from_consecutive_ranges(ranges, total_rows);
    let reader = builder
        .with_row_selection(selection)
        .with_batch_size(8192)
        .build()
        .map_err(|e| StorageError::corrupt(ctx("reading"), e))?;
    let mut out: Vec<Vec<Entry>> = vec![Vec::new(); streams.len()];
    // Rows arrive in `sorted` order: walk the streams as their row counts are used up.
    let mut current = 0usize;
    let mut left = sorted.first().map_or(0, |(_, s)| s.rows);
    for batch in reader {
        let batch = batch.map_err(|e| StorageError::corrupt(ctx("decoding"), e))?;
        let col = |i: usize| batch.column(i).clone();
        let ts = col(1);
        let ts = ts
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .ok_or_else(|| StorageError::corrupt(ctx("decoding"), "ts column has the wrong type"))?;
        let id = col(2);
        let id = id
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| StorageError::corrupt(ctx("decoding"), "id column has the wrong type"))?;
        let line = col(3);
        let line = line
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| StorageError::corrupt(ctx("decoding"), "line column has the wrong type"))?;
        let meta = col(4);
        let meta = meta
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| StorageError::corrupt(ctx("decoding"), "metadata column has the wrong type"))?;
        for i in 0..batch.num_rows() {
            while left == 0 {
                current += 1;
                left = sorted
                    .get(current)
                    .ok_or_else(|| StorageError::corrupt(ctx("reading"), "more rows than the index lists"))?
                    .1
                    .rows;
            }
            left -= 1;
            let (t, text) = (ts.value(i), line.value(i));
            if !filter.keeps(t, text) {
                continue;
            }
            out[sorted[current].0].push(Entry {
                ts: t,
                id: id.value(i),
                line: text.to_string(),
                metadata: if meta.is_null(i) {
                    Vec::new()
                } else {
                    parse_metadata(meta.value(i))
                },
            });
        }
    }
    if left != 0 || current + 1 < sorted.len() {
        return Err(StorageError::corrupt(
            ctx("reading"),
            "fewer rows than the index lists",
        ));
    }
    Ok(out)
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
            stats: None,
            keep_lines: true,
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
