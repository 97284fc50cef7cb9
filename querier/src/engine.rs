//! The `Querier`: its data sources and limits, the entry points of log queries (run by
//! `log_select`), and series, label and index-stats queries (from heads, chunk footers and
//! block label indexes; no line data is read). Rows are read by `scan`.

use std::collections::HashMap;
use std::sync::Arc;

use logq_storage::{
    matches_all, read_chunk_footer, BlockIndex, Entry, HeadReader, LabelMatcher, LabelSet, ManifestStore,
    ScanStats, StorageErrorKind, TenantId,
};

use crate::error::QueryError;
use crate::logql::LogExpr;
use crate::remote_heads::RemoteHeads;
use crate::sources::{BlockSource, ChunkSource, DataSource, HeadSource};

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

/// Answers queries over its data sources: ingester heads (through [`HeadReader`]), the object
/// store's chunks and blocks, and any source added with [`Querier::with_source`].
pub struct Querier {
    head: HeadSource,
    /// Stored sources in the order they claim objects; chunks and blocks last.
    stored: Vec<Arc<dyn DataSource>>,
    pub(crate) manifests: ManifestStore,
    limits: QueryLimits,
}

impl Querier {
    /// A querier over one head (this process's ingester) and a store.
    pub fn new(head: Arc<dyn HeadReader>, manifests: ManifestStore, limits: QueryLimits) -> Self {
        let store = manifests.store().clone();
        Querier {
            head: HeadSource::new(vec![head]),
            stored: vec![
                Arc::new(ChunkSource::new(store.clone())),
                Arc::new(BlockSource::new(store)),
            ],
            manifests,
            limits,
        }
    }

    /// Also reads the unflushed entries of `head` (read after the heads given before).
    pub fn with_head(mut self, head: Arc<dyn HeadReader>) -> Self {
        self.head.push(head);
        self
    }

    /// Also reads the unflushed entries of these other processes' ingesters (a querier of a
    /// distributed deployment); nothing to add when the list is empty.
    pub fn with_remote_heads(self, remote: RemoteHeads) -> Self {
        if remote.is_empty() {
            self
        } else {
            self.with_head(Arc::new(remote))
        }
    }

    /// Adds a data source. A stored source claims its objects after the sources added before it
    /// and before the chunk and block sources, which read whatever is left; a memory source is
    /// read after the heads.
    pub fn with_source(mut self, source: Arc<dyn DataSource>) -> Self {
        let builtin = self.stored.len() - 2;
        self.stored.insert(builtin, source);
        self
    }

    /// Every source, in the order a scan asks them.
    pub(crate) fn sources(&self) -> impl Iterator<Item = &dyn DataSource> {
        std::iter::once(&self.head as &dyn DataSource).chain(self.stored.iter().map(|s| s.as_ref()))
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
        for head in self.head.heads() {
            for (labels, n, b) in head.stream_stats(tenant, matchers, start, end).await? {
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
