//! The one scan path of every query over rows: the querier's data sources ([`crate::sources`])
//! in order, delete requests applied, entries handed to a [`Visitor`] (a log query's collector
//! or a metric query's sample collector). It sits below log and metric selection, which only
//! say what they want (matchers, row filter, direction) and what to do with each stream.
//!
//! Order: memory sources first, then the manifest is loaded and the stored sources split its
//! objects among them; their parts are read nearest the requested end first, a few at a time,
//! skipping parts the visitor no longer needs. Sources overlap (a replayed or compacting
//! window), so visitors de-duplicate; a vanished object restarts the stored part from a fresh
//! manifest.

use std::collections::VecDeque;

use futures::StreamExt;
use logq_storage::{CompiledDelete, Entry, LabelMatcher, LabelSet, RowFilter, StorageErrorKind, TenantId};

use crate::engine::{Direction, Querier};
use crate::error::QueryError;
use crate::logql::LineFilter;
use crate::sources::{stored_objects, DataSource, SourceKind, SourcePart, SourceRequest};

/// Parts of stored sources read at once: one per core of the machines we run on (blocks decode
/// on blocking threads), more would only hold more decoded rows in memory.
const READ_AHEAD: usize = 2;

/// How often a scan re-reads the manifest when objects vanish under it.
const MAX_MANIFEST_RETRIES: usize = 5;

/// Receives the entries of each source a scan reads.
pub(crate) trait Visitor {
    /// The kept entries of one stream from one source (memory, a chunk or a block).
    fn add(&mut self, stream: &LabelSet, entries: Vec<Entry>);
    /// Whether a part spanning `[min_ts, max_ts]` may still change the result.
    fn needs(&self, _min_ts: i64, _max_ts: i64) -> bool {
        true
    }
}

/// What a scan reads: streams, rows (time range and pushed-down line filters) and order.
pub(crate) struct ScanRequest<'a> {
    pub tenant: &'a TenantId,
    pub matchers: &'a [LabelMatcher],
    pub filter: &'a RowFilter,
    /// The leading line filters the row filter was built from.
    pub line_filters: &'a [LineFilter],
    pub order: Direction,
}

impl Querier {
    /// Feeds `visitor` the kept rows of matching streams from every source.
    pub(crate) async fn scan(
        &self,
        scan: &ScanRequest<'_>,
        visitor: &mut (dyn Visitor + Send),
    ) -> Result<(), QueryError> {
        let filter = scan.filter;
        let sources: Vec<&dyn DataSource> = self.sources().collect();
        // Memory first (see the module documentation of `sources`).
        let head_request = SourceRequest {
            tenant: scan.tenant,
            matchers: scan.matchers,
            filter,
            line_filters: scan.line_filters,
            direction: scan.order,
        };
        let mut head = Vec::new();
        for source in sources.iter().filter(|s| s.kind() == SourceKind::Memory) {
            for part in source.plan(&head_request, &mut Vec::new()) {
                let mut streams = source.read(&head_request, &part).await?;
                if !source.filters_rows() {
                    keep_rows(&mut streams, filter);
                }
                // The head is read in full: a stream with entries in range (whether or not
                // the line filters keep them) means the answer was partly scanned.
                if let Some(stats) = filter.stats.as_ref().filter(|_| !streams.is_empty()) {
                    stats
                        .scanned_sources
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                head.extend(streams);
            }
        }
        let mut manifest = self.manifests.load(scan.tenant).await?;
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
        let request = SourceRequest {
            tenant: scan.tenant,
            matchers: scan.matchers,
            filter: &read_filter,
            line_filters: scan.line_filters,
            direction: scan.order,
        };
        let stored: Vec<&dyn DataSource> = sources
            .iter()
            .copied()
            .filter(|s| s.kind() == SourceKind::Stored)
            .collect();
        let mut attempt = 0;
        'manifest: loop {
            let mut unclaimed = stored_objects(&manifest, filter.start, filter.end);
            let mut parts: Vec<(&dyn DataSource, SourcePart)> = Vec::new();
            for source in &stored {
                parts.extend(
                    source
                        .plan(&request, &mut unclaimed)
                        .into_iter()
                        .map(|p| (*source, p)),
                );
            }
            match scan.order {
                Direction::Backward => parts.sort_by_key(|(_, p)| std::cmp::Reverse(p.max_ts)),
                Direction::Forward => parts.sort_by_key(|(_, p)| p.min_ts),
            }
            // Up to READ_AHEAD parts are read at once and delivered in order. A part is started
            // only while the visitor needs it, and delivered only if it still does then: the
            // visitor's needs only shrink as entries arrive, so exactly the parts a
            // one-at-a-time scan would deliver are delivered.
            let mut next = parts.iter();
            let mut in_flight = futures::stream::FuturesOrdered::new();
            let mut launched = VecDeque::new();
            let mut launching = true;
            loop {
                while launching && in_flight.len() < READ_AHEAD {
                    match next.next() {
                        Some((source, part)) if visitor.needs(part.min_ts, part.max_ts) => {
                            // Sources with an index of their own (history) count what they
                            // answer themselves; every other stored part is a scan.
                            if let Some(stats) = filter.stats.as_ref().filter(|_| source.name() != "history")
                            {
                                stats
                                    .scanned_sources
                                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            in_flight.push_back(source.read(&request, part));
                            launched.push_back((*source, part));
                        }
                        _ => launching = false,
                    }
                }
                // Checked before waiting for the read: a limit reached by the previous part
                // ends the scan without waiting for this one.
                let Some((source, part)) = launched.pop_front() else {
                    break;
                };
                if !visitor.needs(part.min_ts, part.max_ts) {
                    break;
                }
                let Some(result) = in_flight.next().await else {
                    break;
                };
                match result {
                    Ok(mut streams) => {
                        if !source.filters_rows() {
                            keep_rows(&mut streams, &read_filter);
                        }
                        for (labels, entries) in streams {
                            deliver(visitor, &labels, entries);
                        }
                    }
                    Err(QueryError::Storage(e))
                        if e.kind == StorageErrorKind::NotFound && attempt < MAX_MANIFEST_RETRIES =>
                    {
                        attempt += 1;
                        tracing::debug!(error = %e, attempt, source = source.name(), "object vanished during a query; re-reading the manifest");
                        manifest = self.manifests.load(scan.tenant).await?;
                        continue 'manifest;
                    }
                    Err(e) => return Err(e),
                }
            }
            return Ok(());
        }
    }
}

/// Drops the rows `filter` does not keep (for sources that return candidates).
fn keep_rows(streams: &mut [(LabelSet, Vec<Entry>)], filter: &RowFilter) {
    for (_, entries) in streams {
        entries.retain(|e| filter.keeps(e.ts, &e.line));
    }
}
