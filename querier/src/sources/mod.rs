//! The data sources of a scan, behind one trait: where a query's rows come from.
//!
//! A scan ([`crate::scan`]) asks every source of the querier, in order, what it will read
//! ([`DataSource::plan`]) and then reads the parts ([`DataSource::read`]) in the query's
//! direction. Two kinds of source:
//! - **memory** sources (the ingester heads, [`HeadSource`]) are read in full before the manifest
//!   is loaded: data only moves from a head to storage, and leaves the head after a manifest
//!   lists it, so reading heads first never misses an entry in transit;
//! - **stored** sources answer for objects listed by the manifest. Each, in turn, takes the
//!   objects it answers for out of the ones not yet taken; whatever no earlier source took is
//!   read by the chunk ([`ChunkSource`]) and block ([`BlockSource`]) sources, which come last.
//!   A source with its own index (the history index) is added with
//!   [`crate::Querier::with_source`] and so comes before them: it claims the objects it covers,
//!   and the rest is scanned as before.
//!
//! Invariants every source keeps:
//! - entries are returned per stream (labels, entries in any order), exactly as stored (time,
//!   line, structured metadata, message id): the scan de-duplicates by (stream, ts, id) and runs
//!   the full pipeline over them, so a source may return candidates (a superset of the rows the
//!   row filter keeps) as long as it never leaves out a row the filter keeps;
//! - a part spans `[min_ts, max_ts]`: no entry it returns lies outside, so limit pushdown can
//!   skip parts that cannot change the answer;
//! - a stored object that vanished (compacted or expired meanwhile) is a
//!   `StorageErrorKind::NotFound` error: the scan then re-plans from a fresh manifest.
//!
//! Adding a source: implement [`DataSource`] in a file of its own and register it with
//! [`crate::Querier::with_source`]; no stage, collector or evaluator changes.

mod blocks;
mod chunks;
mod head;

pub use blocks::BlockSource;
pub use chunks::ChunkSource;
pub use head::HeadSource;

use futures::future::BoxFuture;
use logq_storage::{BlockRef, ChunkRef, Entry, LabelMatcher, LabelSet, RowFilter, TenantId};

use crate::engine::Direction;
use crate::error::QueryError;
use crate::logql::LineFilter;

/// Entries of matching streams, as a source answers them.
pub type SourceStreams = Vec<(LabelSet, Vec<Entry>)>;

/// What a scan asks of its sources.
#[derive(Clone, Copy)]
pub struct SourceRequest<'a> {
    /// Whose data.
    pub tenant: &'a TenantId,
    /// Streams wanted: those matching every matcher.
    pub matchers: &'a [LabelMatcher],
    /// The rows wanted: time range `[filter.start, filter.end)`, and the query's leading line
    /// filters pushed down (a line predicate and the literal every kept line contains).
    pub filter: &'a RowFilter,
    /// The leading line filters as written (a source with its own line index builds its
    /// lookup from them); every row a source returns still goes through all of them.
    pub line_filters: &'a [LineFilter],
    /// The order the scan reads parts in (a source may use it to page).
    pub direction: Direction,
}

/// A chunk or block listed by the manifest a scan read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredObject {
    /// A flushed chunk.
    Chunk(ChunkRef),
    /// A compacted block.
    Block(BlockRef),
}

impl StoredObject {
    /// (earliest, latest) timestamp inside.
    pub fn time_range(&self) -> (i64, i64) {
        match self {
            StoredObject::Chunk(c) => (c.min_ts, c.max_ts),
            StoredObject::Block(b) => (b.min_ts, b.max_ts),
        }
    }

    /// The object's key (of its data, for a block).
    pub fn key(&self) -> &str {
        match self {
            StoredObject::Chunk(c) => &c.key,
            StoredObject::Block(b) => &b.key,
        }
    }
}

/// The chunks and blocks of `manifest` overlapping `[start, end)`.
pub(crate) fn stored_objects(manifest: &logq_storage::Manifest, start: i64, end: i64) -> Vec<StoredObject> {
    manifest
        .chunks_in(start, end)
        .cloned()
        .map(StoredObject::Chunk)
        .chain(manifest.blocks_in(start, end).cloned().map(StoredObject::Block))
        .collect()
}

/// One unit of reading of a source.
#[derive(Debug, Clone)]
pub struct SourcePart {
    /// Earliest timestamp of any entry the part may return.
    pub min_ts: i64,
    /// Latest timestamp of any entry the part may return.
    pub max_ts: i64,
    /// The stored objects this part answers for (empty for memory).
    pub objects: Vec<StoredObject>,
}

impl SourcePart {
    /// A part answering for one stored object.
    pub fn of(object: StoredObject) -> Self {
        let (min_ts, max_ts) = object.time_range();
        SourcePart {
            min_ts,
            max_ts,
            objects: vec![object],
        }
    }
}

/// Whether a source is read before the manifest (memory) or answers for its objects (stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// Unflushed entries (ingester heads): read in full, first.
    Memory,
    /// Objects listed by the manifest.
    Stored,
}

/// A place a query's rows come from. See the module documentation for the contract.
pub trait DataSource: Send + Sync {
    /// A short name for logs and stats (`head`, `chunks`, `blocks`, `history`).
    fn name(&self) -> &'static str;

    /// Memory or stored.
    fn kind(&self) -> SourceKind;

    /// The parts this source will read for `req`. A stored source removes from `unclaimed` the
    /// objects it answers for (every part lists the objects it stands for); a memory source
    /// gets an empty list.
    fn plan(&self, req: &SourceRequest<'_>, unclaimed: &mut Vec<StoredObject>) -> Vec<SourcePart>;

    /// Reads one part planned by [`DataSource::plan`]: entries of the matching streams.
    fn read<'a>(
        &'a self,
        req: &'a SourceRequest<'a>,
        part: &'a SourcePart,
    ) -> BoxFuture<'a, Result<SourceStreams, QueryError>>;

    /// Whether [`DataSource::read`] returns only rows the request's row filter keeps; when not,
    /// the scan applies the filter to what it returns.
    fn filters_rows(&self) -> bool {
        false
    }
}
