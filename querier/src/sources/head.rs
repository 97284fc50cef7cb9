//! Ingester heads (this process's and other processes' over HTTP) as a memory source: every
//! head is one part spanning the whole range, read before the manifest.

use std::sync::Arc;

use futures::future::BoxFuture;
use logq_storage::HeadReader;

use super::{DataSource, SourceKind, SourcePart, SourceRequest, SourceStreams, StoredObject};
use crate::error::QueryError;

/// The unflushed entries of some heads.
pub struct HeadSource {
    heads: Vec<Arc<dyn HeadReader>>,
}

impl HeadSource {
    /// A source over `heads`, read in this order.
    pub fn new(heads: Vec<Arc<dyn HeadReader>>) -> Self {
        HeadSource { heads }
    }

    /// Also reads `head`.
    pub fn push(&mut self, head: Arc<dyn HeadReader>) {
        self.heads.push(head);
    }

    /// The heads, in order.
    pub fn heads(&self) -> &[Arc<dyn HeadReader>] {
        &self.heads
    }
}

impl DataSource for HeadSource {
    fn name(&self) -> &'static str {
        "head"
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Memory
    }

    fn plan(&self, req: &SourceRequest<'_>, _unclaimed: &mut Vec<StoredObject>) -> Vec<SourcePart> {
        if self.heads.is_empty() || req.filter.end <= req.filter.start {
            return Vec::new();
        }
        vec![SourcePart {
            min_ts: req.filter.start,
            max_ts: req.filter.end - 1,
            objects: Vec::new(),
        }]
    }

    fn read<'a>(
        &'a self,
        req: &'a SourceRequest<'a>,
        _part: &'a SourcePart,
    ) -> BoxFuture<'a, Result<SourceStreams, QueryError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for head in &self.heads {
                let streams = head
                    .select(req.tenant, req.matchers, req.filter.start, req.filter.end)
                    .await?;
                out.extend(streams.into_iter().map(|(labels, mut entries)| {
                    entries.retain(|e| req.filter.keeps(e.ts, &e.line));
                    (labels, entries)
                }));
            }
            Ok(out)
        })
    }

    fn filters_rows(&self) -> bool {
        true
    }
}
