//! History indexes as a data source of the querier's scan ([`logq_querier::DataSource`]):
//! which stored objects a ready index answers for a query, and reading its candidates.
//!
//! Invariants (why answers equal a scan's):
//! - An index is used only for queries with a positive line filter with literals (the needle,
//!   [`needle_of`]), only when its selector holds every stream the query can select, and only
//!   for objects the current manifest still lists and the index was built from. Objects
//!   compacted, expired or rewritten since the build are not in its object set, so they stay
//!   unclaimed and are scanned; delete requests are applied by the scan to what this source
//!   returns exactly as to scanned rows.
//! - An object the index was built from is claimed with up to three parts: the stretch of its
//!   range (within the query) the index covers is searched, the stretches before and after it
//!   are read from the object itself, narrowed to them, so nothing is read twice or missed.
//! - The index only narrows: every candidate goes through the query's row filter and pipeline
//!   in the scan like a scanned entry, and the index never misses a matching entry.
//! - An index that fails to answer is reported broken (rebuilt) and the part is read from the
//!   stored object instead: never a wrong or partial answer.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use futures::future::BoxFuture;
use logq_querier::logql::LineFilter;
use logq_querier::{
    BlockSource, ChunkSource, DataSource, Direction as QueryDirection, QueryError, SourceKind, SourcePart,
    SourceRequest, SourceStreams, StoredObject,
};
use logq_storage::{Entry, LabelSet, RowFilter};

use crate::manager::{HistoryManager, UsableIndex};
use crate::spec::{Direction, Needle, SearchRequest};

/// Candidates asked of an index per page.
const PAGE: usize = 4096;

/// The needle of a query's leading line filters: one disjunction of literals per filter that
/// has them (negative filters, `ip()` and regexes without a required literal have none). Empty
/// when the query cannot use an index.
pub fn needle_of(line_filters: &[LineFilter]) -> Needle {
    Needle {
        all_of: line_filters.iter().filter_map(|f| f.any_literal()).collect(),
    }
}

/// The history indexes of a [`HistoryManager`] as a stored data source, added to the querier
/// with `Querier::with_source` so it claims objects before the chunk and block sources.
pub struct HistorySource {
    manager: Arc<HistoryManager>,
    chunks: ChunkSource,
    blocks: BlockSource,
}

impl HistorySource {
    /// The source over `manager`'s ready indexes (reading objects directly when an index fails).
    pub fn new(manager: Arc<HistoryManager>) -> Self {
        let store = manager.manifests().store().clone();
        HistorySource {
            manager,
            chunks: ChunkSource::new(store.clone()),
            blocks: BlockSource::new(store),
        }
    }

    /// The ready index that answers for `object` within `[start, end)`, if any.
    fn index_for<'i>(
        indexes: &'i [UsableIndex],
        object: &StoredObject,
        start: i64,
        end: i64,
    ) -> Option<&'i UsableIndex> {
        let (min, max) = object.time_range();
        let (lo, hi) = (min.max(start), max.min(end.saturating_sub(1)));
        if lo > hi {
            return None;
        }
        indexes
            .iter()
            .find(|i| i.start <= lo && hi < i.end && i.objects.contains(object.key()))
    }

    /// Every candidate of index `index` for `part` (one object), page by page.
    async fn search(
        &self,
        index: UsableIndex,
        req: &SourceRequest<'_>,
        part: &SourcePart,
        needle: Needle,
    ) -> Result<SourceStreams, String> {
        let mut search = SearchRequest {
            matchers: req.matchers.to_vec(),
            start_ns: part.min_ts,
            end_ns: part.max_ts.saturating_add(1),
            objects: part.objects.iter().map(|o| o.key().to_string()).collect(),
            needle,
            direction: match req.direction {
                QueryDirection::Forward => Direction::Forward,
                QueryDirection::Backward => Direction::Backward,
            },
            limit: PAGE,
            cursor: None,
        };
        let mut streams: HashMap<LabelSet, Vec<Entry>> = HashMap::new();
        loop {
            let idx = index.index.clone();
            let page_req = search.clone();
            let page = tokio::task::spawn_blocking(move || idx.search(&page_req))
                .await
                .map_err(|e| format!("history index search panicked: {e}"))?
                .map_err(|e| e.to_string())?;
            for hit in page.entries {
                streams.entry(hit.labels).or_default().push(hit.entry);
            }
            match page.next {
                Some(next) => search.cursor = Some(next),
                None => return Ok(streams.into_iter().collect()),
            }
        }
    }
}

impl DataSource for HistorySource {
    fn name(&self) -> &'static str {
        "history"
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Stored
    }

    fn plan(&self, req: &SourceRequest<'_>, unclaimed: &mut Vec<StoredObject>) -> Vec<SourcePart> {
        if needle_of(req.line_filters).all_of.is_empty() {
            return Vec::new();
        }
        if let Some(stats) = &req.filter.stats {
            stats.history_eligible.store(true, Relaxed);
        }
        let indexes = self.manager.usable(req.tenant, req.matchers);
        if indexes.is_empty() {
            return Vec::new();
        }
        let (start, end) = (req.filter.start, req.filter.end);
        let mut parts = Vec::new();
        let mut used = std::collections::BTreeSet::new();
        unclaimed.retain(|object| {
            let (min, max) = object.time_range();
            let (lo, hi) = (min.max(start), max.min(end.saturating_sub(1)));
            // The index built from this object covering most of its range within the query.
            let overlap = |i: &UsableIndex| (hi.min(i.end.saturating_sub(1)) - lo.max(i.start)).max(-1);
            let Some(index) = indexes
                .iter()
                .filter(|i| i.objects.contains(object.key()) && overlap(i) >= 0)
                .max_by_key(|i| overlap(i))
            else {
                return true;
            };
            used.insert(index.id.clone());
            let piece = |min_ts, max_ts| SourcePart {
                min_ts,
                max_ts,
                objects: vec![object.clone()],
            };
            // The covered stretch is searched; the object's stretches before and after the
            // index's range are read from the object by this source (see `read`).
            parts.push(piece(lo.max(index.start), hi.min(index.end - 1)));
            if lo < index.start {
                parts.push(piece(lo, index.start - 1));
            }
            if hi >= index.end {
                parts.push(piece(index.end, hi));
            }
            false
        });
        // The index answers for what it claimed, whether or not limit pushdown ends the scan
        // before reading it: that is the path the query took (and a use that keeps it alive).
        for id in &used {
            if let Some(stats) = &req.filter.stats {
                stats.used_history_index(id);
            }
            self.manager.touch(req.tenant, id);
        }
        parts
    }

    fn read<'a>(
        &'a self,
        req: &'a SourceRequest<'a>,
        part: &'a SourcePart,
    ) -> BoxFuture<'a, Result<SourceStreams, QueryError>> {
        Box::pin(async move {
            let (start, end) = (part.min_ts, part.max_ts.saturating_add(1));
            let indexes = self.manager.usable(req.tenant, req.matchers);
            let index = part
                .objects
                .first()
                .and_then(|o| Self::index_for(&indexes, o, start, end))
                .cloned();
            if let Some(index) = index {
                let id = index.id.clone();
                match self.search(index, req, part, needle_of(req.line_filters)).await {
                    Ok(streams) => return Ok(streams),
                    // Never a wrong answer: read what the index would have answered.
                    Err(e) => self.manager.report_broken(req.tenant, &id, &e),
                }
            }
            // A stretch outside the index, or the index is gone (expired, deleted, broken)
            // since the plan: read the part's stretch of the objects.
            if let Some(stats) = &req.filter.stats {
                stats.scanned_sources.fetch_add(1, Relaxed);
            }
            let filter = RowFilter {
                start: part.min_ts.max(req.filter.start),
                end: part.max_ts.saturating_add(1).min(req.filter.end),
                ..req.filter.clone()
            };
            let narrowed = SourceRequest {
                filter: &filter,
                ..*req
            };
            let mut out = Vec::new();
            for object in &part.objects {
                let one = SourcePart {
                    min_ts: filter.start,
                    max_ts: filter.end - 1,
                    objects: vec![object.clone()],
                };
                let streams = match object {
                    StoredObject::Chunk(_) => self.chunks.read(&narrowed, &one).await?,
                    StoredObject::Block(_) => self.blocks.read(&narrowed, &one).await?,
                };
                out.extend(streams);
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logq_querier::logql::{parse, Expr, Stage};

    fn needle(q: &str) -> Vec<Vec<String>> {
        let Expr::Log(e) = parse(q).unwrap() else { panic!() };
        let leading: Vec<LineFilter> = e
            .pipeline
            .iter()
            .map_while(|s| match s {
                Stage::LineFilter(f) => Some(f.clone()),
                _ => None,
            })
            .collect();
        needle_of(&leading).all_of
    }

    #[test]
    fn needles_come_from_leading_positive_filters() {
        assert_eq!(needle(r#"{a="b"} |= "x""#), vec![vec!["x".to_string()]]);
        assert_eq!(
            needle(r#"{a="b"} |= "x" or "y" != "z" |~ "foo.*bar""#),
            vec![vec!["x".to_string(), "y".into()], vec!["foo".into()]]
        );
        assert_eq!(
            needle(r#"{a="b"} |> "<_> GET <_>""#),
            vec![vec![" GET ".to_string()]]
        );
        // No literal every match contains, negative filters, filters after a parser.
        assert!(needle(r#"{a="b"} |~ "(?i)error""#).is_empty());
        assert!(needle(r#"{a="b"} |~ "a|b""#).is_empty());
        assert!(needle(r#"{a="b"} != "x""#).is_empty());
        assert!(needle(r#"{a="b"} |= """#).is_empty());
        assert!(needle(r#"{a="b"} | json |= "x""#).is_empty());
        assert!(needle(r#"{a="b"} |= ip("10.0.0.1")"#).is_empty());
    }
}
