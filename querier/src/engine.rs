//! Evaluation of log queries: select streams from the head and from storage (chunks and
//! blocks), keep entries in the time range that pass the pipeline, de-duplicate across sources,
//! and return the `limit` entries nearest the start (forward) or the end (backward).

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use logq_ingester::Ingester;

use crate::remote_heads::RemoteHeads;
use logq_storage::{
    matches_all, read_block_streams_filtered, read_block_streams_ranged, read_chunk_footer,
    read_chunk_streams, BlockIndex, CompiledDelete, Entry, LabelMatcher, LabelSet, LinePredicate,
    ManifestStore, RowFilter, ScanStats, StorageErrorKind, TenantId,
};

use crate::error::QueryError;
use crate::history_source::{self, ScanPiece};
use crate::logql::{LineFilter, LogExpr, Stage};
use logq_history::{HistoryManager, Needle};

/// The rows a query over `[start, end)` needs: the time range, and the line filters that come
/// before any other stage (they decide alone, so rejected lines are never decoded).
pub(crate) fn row_filter(expr: &LogExpr, start: i64, end: i64, stats: &Arc<ScanStats>) -> RowFilter {
    let leading: Vec<LineFilter> = expr
        .pipeline
        .iter()
        .map_while(|s| match s {
            Stage::LineFilter(f) => Some(f.clone()),
            _ => None,
        })
        .collect();
    // The longest literal some leading filter requires: readers search batches for it first.
    let required = leading
        .iter()
        .filter_map(LineFilter::required_literal)
        .max_by_key(String::len);
    let filter = RowFilter {
        start,
        end,
        keep_lines: true,
        stats: Some(stats.clone()),
        line: (!leading.is_empty())
            .then(|| Arc::new(move |l: &str| leading.iter().all(|f| f.matches(l))) as LinePredicate),
        ..RowFilter::all()
    };
    match required {
        Some(literal) => filter.with_required(&literal),
        None => filter,
    }
}

/// Runs a storage read, again from a fresh manifest when an object it listed vanished
/// meanwhile (compacted or expired between reading the manifest and the object).
async fn retry_vanished<T, F, Fut>(mut read: F) -> Result<T, QueryError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, QueryError>>,
{
    let mut attempt = 0;
    loop {
        match read().await {
            Err(QueryError::Storage(e)) if e.kind == StorageErrorKind::NotFound && attempt < 5 => {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "object vanished during a query; re-reading the manifest");
            }
            other => return other,
        }
    }
}

/// Receives the entries of each source a scan reads.
pub(crate) trait Visitor {
    /// The kept entries of one stream from one source (memory, a chunk or a block).
    fn add(&mut self, stream: &LabelSet, entries: Vec<Entry>);
    /// Whether an object spanning `[min_ts, max_ts]` may still change the result.
    fn needs(&self, _min_ts: i64, _max_ts: i64) -> bool {
        true
    }
}

/// A chunk or block listed by a manifest.
#[derive(Debug, Clone)]
pub(crate) enum StoredObject {
    /// A flushed chunk.
    Chunk(logq_storage::ChunkRef),
    /// A compacted block.
    Block(logq_storage::BlockRef),
}

impl StoredObject {
    /// (earliest, latest) timestamp inside.
    pub(crate) fn time_range(&self) -> (i64, i64) {
        match self {
            StoredObject::Chunk(c) => (c.min_ts, c.max_ts),
            StoredObject::Block(b) => (b.min_ts, b.max_ts),
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

/// Order of returned entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first, starting at `start`.
    Forward,
    /// Newest first, starting at `end` (Loki's default).
    Backward,
}

/// Query limits, with Loki's defaults.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// Largest `limit` a log query may ask for.
    pub max_entries: usize,
    /// Longest time range, in ns.
    pub max_range_ns: i64,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_entries: 5000,
            max_range_ns: 721 * 3600 * 1_000_000_000,
        }
    }
}

/// A log query.
#[derive(Debug, Clone)]
pub struct LogQuery {
    /// Whose data.
    pub tenant: TenantId,
    /// The parsed selector and pipeline.
    pub expr: LogExpr,
    /// Inclusive start, ns.
    pub start: i64,
    /// Exclusive end, ns.
    pub end: i64,
    /// Most entries to return.
    pub limit: usize,
    /// Which end of the range to start from.
    pub direction: Direction,
    /// Where to count what the query examined.
    pub stats: Arc<ScanStats>,
}

/// One stream of a log query's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamResult {
    /// The stream's labels.
    pub labels: LabelSet,
    /// Its entries, in the query's direction.
    pub entries: Vec<Entry>,
    /// With categorized labels: each entry's parsed labels (parallel to `entries`); empty
    /// otherwise.
    pub parsed: Vec<Vec<(String, String)>>,
}

/// Size of one stream in a time range, as the indexes know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStat {
    /// The stream.
    pub labels: LabelSet,
    /// Entries.
    pub entries: u64,
    /// Line bytes.
    pub bytes: u64,
    /// Stored objects (chunks, blocks) and in-memory chunk sets holding it.
    pub chunks: u64,
}

/// A block is read with ranged GETs of the selected streams' pages when they hold less than
/// 1/this of its rows; otherwise it is fetched whole (one GET beats many for most of a block).
const RANGED_READ_FRACTION: u64 = 4;

/// Stored objects read at once by a scan: one per core of the machines we run on (blocks decode
/// on blocking threads), more would only hold more decoded rows in memory.
const READ_AHEAD: usize = 2;

/// Answers queries over the ingester's memory and the object store.
pub struct Querier {
    ingester: Arc<Ingester>,
    remote: RemoteHeads,
    manifests: ManifestStore,
    limits: QueryLimits,
    history: Option<Arc<HistoryManager>>,
}

impl Querier {
    /// A querier over an ingester and a store.
    pub fn new(ingester: Arc<Ingester>, manifests: ManifestStore, limits: QueryLimits) -> Self {
        Querier {
            ingester,
            remote: RemoteHeads::default(),
            manifests,
            limits,
            history: None,
        }
    }

    /// Also answers from these history indexes where they cover a query (see
    /// `history_source`).
    pub fn with_history(mut self, history: Arc<HistoryManager>) -> Self {
        self.history = Some(history);
        self
    }

    /// The history indexes queries use, when there are any.
    pub fn history(&self) -> Option<&Arc<HistoryManager>> {
        self.history.as_ref()
    }

    /// Also reads the unflushed entries of these other processes' ingesters (a querier of a
    /// distributed deployment).
    pub fn with_remote_heads(mut self, remote: RemoteHeads) -> Self {
        self.remote = remote;
        self
    }

    /// Unflushed entries of matching streams: this process's head, then the remote ones.
    async fn head_select(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<(LabelSet, Vec<Entry>)>, QueryError> {
        let mut head = self.ingester.select(tenant, matchers, start, end);
        if !self.remote.is_empty() {
            head.extend(
                self.remote
                    .select(tenant, matchers, start, end)
                    .await
                    .map_err(QueryError::Unavailable)?,
            );
        }
        Ok(head)
    }

    fn check_range(&self, start: i64, end: i64) -> Result<(), QueryError> {
        if end < start {
            return Err(QueryError::BadRequest(
                "invalid query, through < from: end timestamp must not be before start time".into(),
            ));
        }
        if end - start > self.limits.max_range_ns {
            return Err(QueryError::BadRequest(format!(
                "the query time range exceeds the limit (query length: {}h, limit: {}h)",
                (end - start) / 3_600_000_000_000,
                self.limits.max_range_ns / 3_600_000_000_000
            )));
        }
        Ok(())
    }

    /// Feeds `visitor` the kept rows of matching streams: memory first, then what history
    /// indexes answer (queries with a `needle`, see `history_source`), then the other stored
    /// objects in `order` (nearest the requested end first), skipping objects the visitor no
    /// longer needs. Sources overlap (a replayed or compacting window), so visitors
    /// de-duplicate; a vanished object restarts the stored part from a fresh manifest.
    pub(crate) async fn scan(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        filter: &RowFilter,
        needle: &Needle,
        order: Direction,
        visitor: &mut (dyn Visitor + Send),
    ) -> Result<(), QueryError> {
        // Memory first, then storage: data only moves from the head to storage, and leaves the
        // head after the manifest lists it, so reading the head before the manifest never misses
        // an entry in transit.
        let head = self
            .head_select(tenant, matchers, filter.start, filter.end)
            .await?;
        let stats = filter.stats.clone().unwrap_or_default();
        if head.iter().any(|(_, e)| e.iter().any(|e| filter.in_range(e.ts))) {
            stats
                .scanned_sources
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let head: Vec<(LabelSet, Vec<Entry>)> = head
            .into_iter()
            .map(|(labels, mut entries)| {
                entries.retain(|e| filter.keeps(e.ts, &e.line));
                (labels, entries)
            })
            .collect();
        let mut manifest = self.manifests.load(tenant).await?;
        // Delete requests hide their entries at once (the compactor removes them later). They
        // may test line text, so rows keep it until the requests have looked.
        let deletes: Vec<CompiledDelete> = manifest
            .delete_requests
            .iter()
            .filter_map(|d| d.compile())
            .collect();
        let blank_after_deletes = !filter.keep_lines && deletes.iter().any(CompiledDelete::tests_lines);
        let read_filter = if blank_after_deletes {
            RowFilter {
                keep_lines: true,
                ..filter.clone()
            }
        } else {
            filter.clone()
        };
        let deliver = |visitor: &mut (dyn Visitor + Send), labels: &LabelSet, mut entries: Vec<Entry>| {
            if !deletes.is_empty() {
                entries.retain(|e| !deletes.iter().any(|d| d.deletes(labels, e.ts, &e.line)));
            }
            if !filter.keep_lines {
                entries.iter_mut().for_each(|e| e.line = String::new());
            }
            visitor.add(labels, entries);
        };
        for (labels, entries) in head {
            deliver(visitor, &labels, entries);
        }
        let mut attempt = 0;
        let history = self.history.as_ref().filter(|_| !needle.all_of.is_empty());
        if history.is_some() {
            stats
                .history_eligible
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        'manifest: loop {
            let objects = stored_objects(&manifest, filter.start, filter.end);
            let usable = history.map(|h| h.usable(tenant, matchers)).unwrap_or_default();
            let (parts, mut objects) = history_source::plan(usable, filter.start, filter.end, objects);
            for part in &parts {
                let answered = self
                    .search_index(part, matchers, needle, order, &read_filter, visitor, &deliver)
                    .await;
                let id = &part.index.id;
                match (answered, history) {
                    (Ok(()), Some(h)) => {
                        stats.used_history_index(id);
                        h.touch(tenant, id);
                    }
                    (Err(e), Some(h)) => {
                        // Never a wrong answer: scan what the index would have answered.
                        h.report_broken(tenant, id, &e);
                        objects.extend(
                            stored_objects(&manifest, part.start, part.end)
                                .into_iter()
                                .filter(|o| part.objects.contains(history_source::object_key(o)))
                                .map(|object| ScanPiece {
                                    object,
                                    start: part.start,
                                    end: part.end,
                                }),
                        );
                    }
                    _ => {}
                }
            }
            match order {
                Direction::Backward => objects.sort_by_key(|o| std::cmp::Reverse(o.time_range().1)),
                Direction::Forward => objects.sort_by_key(|o| o.time_range().0),
            }
            let filters: Vec<RowFilter> = objects
                .iter()
                .map(|p| RowFilter {
                    start: p.start,
                    end: p.end,
                    ..read_filter.clone()
                })
                .collect();
            // Up to READ_AHEAD objects are read at once (each decodes on a blocking thread) and
            // delivered in order. An object is started only while the visitor needs it, and
            // delivered only if it still does then: the visitor's needs only shrink as entries
            // arrive, so exactly the objects a one-at-a-time scan would deliver are delivered.
            let mut next = objects.iter().zip(&filters);
            let mut in_flight = futures::stream::FuturesOrdered::new();
            let mut launched = std::collections::VecDeque::new();
            let mut launching = true;
            loop {
                while launching && in_flight.len() < READ_AHEAD {
                    match next.next() {
                        Some((piece, piece_filter))
                            if visitor.needs(piece.time_range().0, piece.time_range().1) =>
                        {
                            stats
                                .scanned_sources
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            in_flight.push_back(self.read_object(&piece.object, matchers, piece_filter));
                            launched.push_back(piece);
                        }
                        _ => launching = false,
                    }
                }
                // Checked before waiting for the read: a limit reached by the previous object
                // ends the scan without waiting for this one.
                let Some(object) = launched.pop_front() else {
                    break;
                };
                let (min_ts, max_ts) = object.time_range();
                if !visitor.needs(min_ts, max_ts) {
                    break;
                }
                let Some(result) = in_flight.next().await else {
                    break;
                };
                match result {
                    Ok(streams) => {
                        for (labels, entries) in streams {
                            deliver(visitor, &labels, entries);
                        }
                    }
                    Err(QueryError::Storage(e)) if e.kind == StorageErrorKind::NotFound && attempt < 5 => {
                        attempt += 1;
                        tracing::debug!(error = %e, attempt, "object vanished during a query; re-reading the manifest");
                        manifest = self.manifests.load(tenant).await?;
                        continue 'manifest;
                    }
                    Err(e) => return Err(e),
                }
            }
            return Ok(());
        }
    }

    /// Feeds `visitor` the candidates index `part` returns that pass `filter`, page by page in
    /// `order`, until the visitor needs no more; an error means the index is unreadable.
    #[allow(clippy::too_many_arguments)]
    async fn search_index(
        &self,
        part: &history_source::IndexPart,
        matchers: &[LabelMatcher],
        needle: &Needle,
        order: Direction,
        filter: &RowFilter,
        visitor: &mut (dyn Visitor + Send),
        deliver: &(dyn Fn(&mut (dyn Visitor + Send), &LabelSet, Vec<Entry>) + Sync),
    ) -> Result<(), String> {
        let objects: Vec<String> = part.objects.iter().cloned().collect();
        let mut cursor = None;
        loop {
            let page = history_source::search_page(part, matchers, needle, order, &objects, cursor).await?;
            let mut last_ts = None;
            let mut streams: HashMap<LabelSet, Vec<Entry>> = HashMap::new();
            for hit in page.entries {
                let (labels, e) = (hit.labels, hit.entry);
                last_ts = Some(e.ts);
                if filter.keeps(e.ts, &e.line) {
                    streams.entry(labels).or_default().push(e);
                }
            }
            for (labels, entries) in streams {
                deliver(visitor, &labels, entries);
            }
            let (Some(next), Some(t)) = (page.next, last_ts) else {
                return Ok(());
            };
            // The rest of the candidates lie beyond `t` in the query's direction.
            let needed = match order {
                Direction::Backward => visitor.needs(part.start, t),
                Direction::Forward => visitor.needs(t, part.end.saturating_sub(1)),
            };
            if !needed {
                return Ok(());
            }
            cursor = Some(next);
        }
    }

    /// Runs a log query. Result streams carry every label of their entries: stream labels,
    /// structured metadata and parsed labels (Loki's default encoding).
    pub async fn select_logs(&self, q: &LogQuery) -> Result<Vec<StreamResult>, QueryError> {
        self.select_logs_encoded(q, false).await
    }

    /// Runs a log query; with `categorize` (Loki's `categorize-labels` encoding flag) streams
    /// are grouped by stream labels only and each entry carries its structured metadata (in
    /// `metadata`) and parsed labels (in [`StreamResult::parsed`]).
    pub async fn select_logs_encoded(
        &self,
        q: &LogQuery,
        categorize: bool,
    ) -> Result<Vec<StreamResult>, QueryError> {
        self.check_range(q.start, q.end)?;
        if q.limit > self.limits.max_entries {
            return Err(QueryError::BadRequest(format!(
                "max entries limit per query exceeded, limit > max_entries_limit ({} > {})",
                q.limit, self.limits.max_entries
            )));
        }
        crate::log_select::select(self, q, categorize).await
    }

    /// The matching streams' kept rows of one stored object.
    pub(crate) async fn read_object(
        &self,
        object: &StoredObject,
        matchers: &[LabelMatcher],
        filter: &RowFilter,
    ) -> Result<Vec<(LabelSet, Vec<Entry>)>, QueryError> {
        let (start, end) = (filter.start, filter.end);
        let store = self.manifests.store();
        let mut out = Vec::new();
        match object {
            StoredObject::Chunk(c) => {
                let footer = read_chunk_footer(store, &c.key, c.size).await?;
                let want = |s: &logq_storage::ChunkStream| {
                    s.max_ts >= start && s.min_ts < end && matches_all(matchers, &s.labels)
                };
                for (meta, mut entries) in read_chunk_streams(store, &c.key, &footer, want).await? {
                    entries.retain(|e| filter.keeps(e.ts, &e.line));
                    out.push((meta.labels, entries));
                }
            }
            StoredObject::Block(b) => {
                let index = BlockIndex::decode(&b.index_key, &store.get(&b.index_key).await?)?;
                let selected: Vec<_> = index.select(matchers, start, end).cloned().collect();
                if selected.is_empty() {
                    return Ok(out);
                }
                let total_rows: u64 = index.streams.iter().map(|s| s.rows).sum();
                let selected_rows: u64 = selected.iter().map(|s| s.rows).sum();
                let key = b.key.clone();
                let streams = selected.clone();
                let row_filter = filter.clone();
                let read = if selected_rows.saturating_mul(RANGED_READ_FRACTION) < total_rows {
                    // A few streams of a bigger block: fetch only the pages holding their rows
                    // (ranged GETs), decoding on a blocking thread.
                    let (store, size) = (store.clone(), b.size);
                    let handle = tokio::runtime::Handle::current();
                    tokio::task::spawn_blocking(move || {
                        let refs: Vec<_> = streams.iter().collect();
                        handle.block_on(read_block_streams_ranged(&store, &key, size, &refs, &row_filter))
                    })
                    .await
                } else {
                    let data = store.get(&b.key).await?;
                    tokio::task::spawn_blocking(move || {
                        let refs: Vec<_> = streams.iter().collect();
                        read_block_streams_filtered(&key, data, &refs, &row_filter)
                    })
                    .await
                }
                // A reader that panicked on corrupt bytes is a corrupt object, not a bad request.
                .map_err(|e| {
                    QueryError::Storage(logq_storage::StorageError::corrupt(
                        format!("reading block {}", b.key),
                        e,
                    ))
                })??;
                out.extend(selected.into_iter().map(|s| s.labels).zip(read));
            }
        }
        Ok(out)
    }

    /// Streams matching `matchers` with data in `[start, end)`, from memory and storage
    /// (footers and label indexes only; no line data is read).
    pub async fn series(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<LabelSet>, QueryError> {
        Ok(self
            .stream_stats(tenant, matchers, start, end)
            .await?
            .into_iter()
            .map(|s| s.labels)
            .collect())
    }

    /// (labels, entries, bytes) per stored stream object (chunk footer or block index entry)
    /// matching `matchers` and overlapping `[start, end)`.
    async fn stored_stream_stats(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<(LabelSet, u64, u64)>, QueryError> {
        let store = self.manifests.store();
        let manifest = self.manifests.load(tenant).await?;
        let mut out = Vec::new();
        for c in manifest.chunks_in(start, end) {
            let footer = read_chunk_footer(store, &c.key, c.size).await?;
            out.extend(
                footer
                    .streams
                    .into_iter()
                    .filter(|s| s.max_ts >= start && s.min_ts < end && matches_all(matchers, &s.labels))
                    .map(|s| (s.labels, s.entries, s.bytes)),
            );
        }
        for b in manifest.blocks_in(start, end) {
            let index = BlockIndex::decode(&b.index_key, &store.get(&b.index_key).await?)?;
            out.extend(
                index
                    .select(matchers, start, end)
                    .map(|s| (s.labels.clone(), s.rows, s.bytes)),
            );
        }
        Ok(out)
    }

    /// Entries, bytes and chunks per stream matching `matchers` in `[start, end)`, from the
    /// ingester and from chunk footers and block label indexes (no line data is read). Like
    /// Loki's index stats, stored objects count whole when they overlap the range.
    pub async fn stream_stats(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<StreamStat>, QueryError> {
        self.check_range(start, end)?;
        let mut by: HashMap<LabelSet, StreamStat> = HashMap::new();
        let mut add = |labels: LabelSet, entries: u64, bytes: u64| {
            let s = by.entry(labels.clone()).or_insert(StreamStat {
                labels,
                entries: 0,
                bytes: 0,
                chunks: 0,
            });
            s.entries += entries;
            s.bytes += bytes;
            s.chunks += 1;
        };
        // Memory first, then storage (see `scan`).
        for (labels, n, b) in self.ingester.stream_stats(tenant, matchers, start, end) {
            add(labels, n, b);
        }
        if !self.remote.is_empty() {
            let remote = self
                .remote
                .stream_stats(tenant, matchers, start, end)
                .await
                .map_err(QueryError::Unavailable)?;
            for (labels, n, b) in remote {
                add(labels, n, b);
            }
        }
        let stored = retry_vanished(|| self.stored_stream_stats(tenant, matchers, start, end)).await?;
        for (labels, n, b) in stored {
            add(labels, n, b);
        }
        let mut out: Vec<StreamStat> = by.into_values().collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    /// Label names of streams matching `matchers` (all streams when empty) in `[start, end)`.
    pub async fn label_names(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<String>, QueryError> {
        let mut names: Vec<String> = self
            .series(tenant, matchers, start, end)
            .await?
            .iter()
            .flat_map(|l| l.pairs().iter().map(|(k, _)| k.clone()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Values of label `name` over streams matching `matchers` in `[start, end)`.
    pub async fn label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        matchers: &[LabelMatcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<String>, QueryError> {
        let mut values: Vec<String> = self
            .series(tenant, matchers, start, end)
            .await?
            .iter()
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    }
}
