//! The label index of a Parquet block: every stream in the block with its labels, fingerprint,
//! row range, time range, entry and byte counts. Small and read before any line data; answers
//! label, series and stats questions alone.
//!
//! Encoding (version 1): zstd-compressed JSON of [`BlockIndex`].

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{Result, StorageError};

/// The block format version this code writes (in every new label index). Version 2 stores a
/// message id only when it differs from the derived one (null otherwise); version 1 stored every
/// id. Readers accept both.
pub const BLOCK_FORMAT_VERSION: u32 = 2;
use crate::labels::LabelSet;
use crate::matcher::{matches_all, LabelMatcher};

/// One stream's place in a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedStream {
    /// The stream's labels.
    pub labels: LabelSet,
    /// `labels.fingerprint()`.
    pub fingerprint: u64,
    /// First row of the stream in the block.
    pub row_start: u64,
    /// Number of rows (entries).
    pub rows: u64,
    /// Earliest timestamp.
    pub min_ts: i64,
    /// Latest timestamp.
    pub max_ts: i64,
    /// Bytes of line text.
    pub bytes: u64,
}

/// A block's label index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockIndex {
    /// Format version (1).
    pub version: u32,
    /// Streams in row order (version 1: by fingerprint; version 2: by `stream_order_key`).
    pub streams: Vec<IndexedStream>,
}

impl BlockIndex {
    /// Streams matching every matcher that have entries in `[start, end)`.
    pub fn select<'a>(
        &'a self,
        matchers: &'a [LabelMatcher],
        start: i64,
        end: i64,
    ) -> impl Iterator<Item = &'a IndexedStream> + 'a {
        self.streams
            .iter()
            .filter(move |s| s.max_ts >= start && s.min_ts < end && matches_all(matchers, &s.labels))
    }

    /// Label names of the streams matching `matchers` in `[start, end)`.
    pub fn label_names(&self, matchers: &[LabelMatcher], start: i64, end: i64) -> BTreeSet<String> {
        self.select(matchers, start, end)
            .flat_map(|s| s.labels.pairs().iter().map(|(k, _)| k.clone()))
            .collect()
    }

    /// Serializes the index.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(self).map_err(|e| StorageError::corrupt("encoding label index", e))?;
        zstd::bulk::compress(&json, 3).map_err(|e| StorageError::corrupt("compressing label index", e))
    }

    /// Parses an index written by [`BlockIndex::encode`].
    pub fn decode(key: &str, bytes: &[u8]) -> Result<Self> {
        let json = zstd::stream::decode_all(bytes)
            .map_err(|e| StorageError::corrupt(format!("decompressing index {key}"), e))?;
        let idx: BlockIndex = serde_json::from_slice(&json)
            .map_err(|e| StorageError::corrupt(format!("parsing index {key}"), e))?;
        if !(1..=BLOCK_FORMAT_VERSION).contains(&idx.version) {
            return Err(StorageError::corrupt(
                format!("reading index {key}"),
                format!("unsupported version {}", idx.version),
            ));
        }
        Ok(idx)
    }
}
