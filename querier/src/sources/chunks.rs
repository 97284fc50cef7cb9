//! Flushed chunks as a stored source: it takes every chunk no earlier source took, one part
//! per chunk, reading the footer and then only the matching streams' blocks.

use futures::future::BoxFuture;
use logq_storage::{matches_all, read_chunk_footer, read_chunk_streams, ChunkStream, Store};

use super::{DataSource, SourceKind, SourcePart, SourceRequest, SourceStreams, StoredObject};
use crate::error::QueryError;

/// The chunks of an object store.
pub struct ChunkSource {
    store: Store,
}

impl ChunkSource {
    /// Reads chunks from `store`.
    pub fn new(store: Store) -> Self {
        ChunkSource { store }
    }
}

impl DataSource for ChunkSource {
    fn name(&self) -> &'static str {
        "chunks"
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Stored
    }

    fn plan(&self, _req: &SourceRequest<'_>, unclaimed: &mut Vec<StoredObject>) -> Vec<SourcePart> {
        let mut parts = Vec::new();
        unclaimed.retain(|o| match o {
            StoredObject::Chunk(_) => {
                parts.push(SourcePart::of(o.clone()));
                false
            }
            StoredObject::Block(_) => true,
        });
        parts
    }

    fn read<'a>(
        &'a self,
        req: &'a SourceRequest<'a>,
        part: &'a SourcePart,
    ) -> BoxFuture<'a, Result<SourceStreams, QueryError>> {
        Box::pin(async move {
            let (start, end) = (req.filter.start, req.filter.end);
            let mut out = Vec::new();
            for object in &part.objects {
                let StoredObject::Chunk(c) = object else {
                    continue;
                };
                let footer = read_chunk_footer(&self.store, &c.key, c.size).await?;
                let want = |s: &ChunkStream| {
                    s.max_ts >= start && s.min_ts < end && matches_all(req.matchers, &s.labels)
                };
                for (meta, mut entries) in read_chunk_streams(&self.store, &c.key, &footer, want).await? {
                    entries.retain(|e| req.filter.keeps(e.ts, &e.line));
                    out.push((meta.labels, entries));
                }
            }
            Ok(out)
        })
    }

    fn filters_rows(&self) -> bool {
        true
    }
}
