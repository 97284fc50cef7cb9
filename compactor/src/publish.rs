//! Publishing a block, crash-safely: the one protocol by which compaction, day merges,
//! delete-request rewrites and stream retention add blocks to a manifest and retire others.
//!
//! Step by step for every block written:
//! 1. the manifest records the new block's keys as pending deletes (due after the delete grace),
//! 2. the block and its index are written,
//! 3. one manifest swap lists the block ([`adopt_block`]), drops its inputs and schedules their
//!    deletion after the grace ([`retire_block`]),
//! 4. due deletions are done, then forgotten by the manifest.
//!
//! A crash before 3 leaves objects that the manifest already schedules for deletion (never an
//! orphan); a crash after 3 leaves inputs that are deleted later. Readers see the inputs or the
//! block, never both and never neither, and every object a manifest lists exists until a
//! manifest without it has been current for the grace period.

use bytes::Bytes;
use logq_storage::layout::block_keys;
use logq_storage::{
    write_block_with, BlockIndex, BlockOptions, BlockRef, Manifest, ManifestStore, PendingDelete, TenantId,
};

use crate::error::CompactorError;

/// Encodes `streams` as a Parquet block off the async runtime and stores it with
/// [`store_encoded`].
pub(crate) async fn store_block(
    manifests: &ManifestStore,
    tenant: &TenantId,
    streams: Vec<(logq_storage::LabelSet, Vec<logq_storage::Entry>)>,
    block_id: &str,
    opts: &BlockOptions,
    orphan_after: i64,
) -> Result<Option<BlockRef>, CompactorError> {
    let opts = opts.clone();
    let (bytes, index) = tokio::task::spawn_blocking(move || write_block_with(streams, &opts))
        .await
        .map_err(|e| CompactorError::Task(e.to_string()))??;
    store_encoded(manifests, tenant, bytes, index, block_id, orphan_after).await
}

/// Records an encoded block's keys in the manifest as pending deletes due at `orphan_after`
/// (so a crash before the swap leaves nothing behind), writes it and its label index under
/// `block_id`, and returns the reference to list in the manifest with [`adopt_block`] (`None`
/// when the block holds no entries).
pub(crate) async fn store_encoded(
    manifests: &ManifestStore,
    tenant: &TenantId,
    bytes: Vec<u8>,
    index: BlockIndex,
    block_id: &str,
    orphan_after: i64,
) -> Result<Option<BlockRef>, CompactorError> {
    let entries: u64 = index.streams.iter().map(|s| s.rows).sum();
    if entries == 0 {
        return Ok(None);
    }
    let min_ts = index.streams.iter().map(|s| s.min_ts).min().unwrap_or_default();
    let max_ts = index.streams.iter().map(|s| s.max_ts).max().unwrap_or_default();
    let (key, index_key) = block_keys(tenant, min_ts, block_id);
    manifests
        .update(tenant, |m| {
            for k in [&key, &index_key] {
                m.pending_deletes.push(PendingDelete {
                    key: k.clone(),
                    after: orphan_after,
                });
            }
        })
        .await?;
    let store = manifests.store();
    let size = bytes.len() as u64;
    store.put(&key, Bytes::from(bytes)).await?;
    store.put(&index_key, Bytes::from(index.encode()?)).await?;
    Ok(Some(BlockRef {
        key,
        index_key,
        size,
        min_ts,
        max_ts,
        entries,
    }))
}

/// The manifest change that lists a block written by [`store_block`]: it stops being a
/// pending delete and becomes part of the tenant's data.
pub(crate) fn adopt_block(m: &mut Manifest, block: &BlockRef) {
    m.pending_deletes
        .retain(|p| p.key != block.key && p.key != block.index_key);
    m.blocks.push(block.clone());
}

/// The manifest change that drops `block` and schedules its objects for deletion.
pub(crate) fn retire_block(m: &mut Manifest, block: &BlockRef, after: i64) {
    m.blocks.retain(|b| b.key != block.key);
    for key in [&block.key, &block.index_key] {
        m.pending_deletes.push(PendingDelete {
            key: key.clone(),
            after,
        });
    }
}
