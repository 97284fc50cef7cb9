//! Compacted Parquet blocks as a stored source: it takes every block no earlier source took, one
//! part per block; the label index picks the streams, and only their rows are decoded (with
//! ranged GETs of their pages when they are a small part of the block), on a blocking thread.

use futures::future::BoxFuture;
use logq_storage::{read_block_streams_filtered, read_block_streams_ranged, BlockIndex, Store};

use super::{DataSource, SourceKind, SourcePart, SourceRequest, SourceStreams, StoredObject};
use crate::error::QueryError;

/// A block is read with ranged GETs of the selected streams' pages when they hold less than
/// 1/this of its rows; otherwise it is fetched whole (one GET beats many for most of a block).
const RANGED_READ_FRACTION: u64 = 4;

/// The blocks of an object store.
pub struct BlockSource {
    store: Store,
}

impl BlockSource {
    /// Reads blocks from `store`.
    pub fn new(store: Store) -> Self {
        BlockSource { store }
    }
}

impl DataSource for BlockSource {
    fn name(&self) -> &'static str {
        "blocks"
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Stored
    }

    fn plan(&self, _req: &SourceRequest<'_>, unclaimed: &mut Vec<StoredObject>) -> Vec<SourcePart> {
        let mut parts = Vec::new();
        unclaimed.retain(|o| match o {
            StoredObject::Block(_) => {
                parts.push(SourcePart::of(o.clone()));
                false
            }
            StoredObject::Chunk(_) => true,
        });
        parts
    }

    fn read<'a>(
        &'a self,
        req: &'a SourceRequest<'a>,
        part: &'a SourcePart,
    ) -> BoxFuture<'a, Result<SourceStreams, QueryError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for object in &part.objects {
                let StoredObject::Block(b) = object else {
                    continue;
                };
                out.extend(self.read_block(req, b).await?);
            }
            Ok(out)
        })
    }

    fn filters_rows(&self) -> bool {
        true
    }
}

impl BlockSource {
    async fn read_block(
        &self,
        req: &SourceRequest<'_>,
        b: &logq_storage::BlockRef,
    ) -> Result<SourceStreams, QueryError> {
        let store = &self.store;
        let index = BlockIndex::decode(&b.index_key, &store.get(&b.index_key).await?)?;
        let selected: Vec<_> = index
            .select(req.matchers, req.filter.start, req.filter.end)
            .cloned()
            .collect();
        if selected.is_empty() {
            return Ok(Vec::new());
        }
        let total_rows: u64 = index.streams.iter().map(|s| s.rows).sum();
        let selected_rows: u64 = selected.iter().map(|s| s.rows).sum();
        let key = b.key.clone();
        let streams = selected.clone();
        let row_filter = req.filter.clone();
        let read = if selected_rows.saturating_mul(RANGED_READ_FRACTION) < total_rows {
            // A few streams of a bigger block: fetch only the pages holding their rows (ranged
            // GETs), decoding on a blocking thread.
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
        Ok(selected.into_iter().map(|s| s.labels).zip(read).collect())
    }
}
