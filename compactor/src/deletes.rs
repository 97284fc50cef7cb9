//! Applying delete requests: once no flushed chunk overlaps a request's range (they are
//! compacted first), every block holding a matching stream in the range is rewritten without
//! the deleted entries, the manifest swaps old block for new, and the request is marked
//! processed. Queries hide the entries from the moment the request is recorded, so the rewrite
//! only changes what storage holds, never what queries answer.

use bytes::Bytes;
use logq_storage::layout::block_keys;
use logq_storage::{
    read_block_streams, write_block, BlockIndex, BlockRef, DeleteRequest, ManifestStore, PendingDelete,
    TenantId,
};

use crate::compactor::CompactorError;

/// Processes the tenant's pending delete requests; returns how many blocks were rewritten.
pub(crate) async fn apply_deletes(
    manifests: &ManifestStore,
    tenant: &TenantId,
    now: i64,
    delete_after: i64,
) -> Result<usize, CompactorError> {
    let manifest = manifests.load(tenant).await?;
    let mut rewritten = 0;
    for request in manifest.delete_requests.iter().filter(|d| !d.processed) {
        // Chunks in the range are compacted first; until then the request waits.
        if manifest
            .chunks
            .iter()
            .any(|c| c.max_ts >= request.start && c.min_ts <= request.end)
        {
            continue;
        }
        let Some(compiled) = request.compile() else {
            tracing::warn!(tenant = %tenant, id = %request.id, "delete request no longer compiles; skipped");
            continue;
        };
        for block in manifest
            .blocks
            .iter()
            .filter(|b| b.max_ts >= request.start && b.min_ts <= request.end)
        {
            rewritten += usize::from(
                rewrite_block(manifests, tenant, block, request, &compiled, now, delete_after).await?,
            );
        }
        let id = request.id.clone();
        manifests
            .update(tenant, |m| {
                for d in m.delete_requests.iter_mut().filter(|d| d.id == id) {
                    d.processed = true;
                }
            })
            .await?;
        tracing::info!(tenant = %tenant, id = %request.id, "delete request processed");
    }
    Ok(rewritten)
}

/// Applies per-stream retention rules: blocks holding matching streams' entries older than the
/// rule's cutoff are rewritten without them. Returns how many blocks were rewritten.
pub(crate) async fn apply_stream_retention(
    manifests: &ManifestStore,
    tenant: &TenantId,
    rules: &[crate::retention::StreamRetention],
    now: i64,
    delete_after: i64,
) -> Result<usize, CompactorError> {
    let mut rewritten = 0;
    for rule in rules {
        let request = rule.as_delete(now);
        let Some(compiled) = request.compile() else {
            tracing::warn!(selector = %rule.selector, "stream retention rule does not compile; skipped");
            continue;
        };
        let manifest = manifests.load(tenant).await?;
        for block in manifest.blocks.iter().filter(|b| b.min_ts <= request.end) {
            rewritten += usize::from(
                rewrite_block(manifests, tenant, block, &request, &compiled, now, delete_after).await?,
            );
        }
    }
    Ok(rewritten)
}

/// Rewrites one block without the entries `request` deletes; `false` when it held none.
async fn rewrite_block(
    manifests: &ManifestStore,
    tenant: &TenantId,
    block: &BlockRef,
    request: &DeleteRequest,
    compiled: &logq_storage::CompiledDelete,
    now: i64,
    delete_after: i64,
) -> Result<bool, CompactorError> {
    let store = manifests.store();
    let index = BlockIndex::decode(&block.index_key, &store.get(&block.index_key).await?)?;
    if !index
        .streams
        .iter()
        .any(|s| compiled.may_touch(&s.labels, s.min_ts, s.max_ts))
    {
        return Ok(false);
    }
    let data = store.get(&block.key).await?;
    let (key, compiled2) = (block.key.clone(), compiled.clone());
    let streams = index.streams.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<_, CompactorError> {
        let refs: Vec<_> = streams.iter().collect();
        let read = read_block_streams(&key, data, &refs)?;
        let mut removed = 0usize;
        let kept: Vec<_> = streams
            .iter()
            .zip(read)
            .map(|(s, mut entries)| {
                let before = entries.len();
                entries.retain(|e| !compiled2.deletes(&s.labels, e.ts, &e.line));
                removed += before - entries.len();
                (s.labels.clone(), entries)
            })
            .collect();
        Ok((removed, kept))
    })
    .await
    .map_err(|e| CompactorError::Task(e.to_string()))??;
    let (removed, kept) = result;
    if removed == 0 {
        return Ok(false);
    }
    let (bytes, new_index) = tokio::task::spawn_blocking(move || write_block(kept))
        .await
        .map_err(|e| CompactorError::Task(e.to_string()))??;
    let entries: u64 = new_index.streams.iter().map(|s| s.rows).sum();
    let old = block.clone();
    let replacement = if entries == 0 {
        None
    } else {
        let min_ts = new_index
            .streams
            .iter()
            .map(|s| s.min_ts)
            .min()
            .unwrap_or(old.min_ts);
        let max_ts = new_index
            .streams
            .iter()
            .map(|s| s.max_ts)
            .max()
            .unwrap_or(old.max_ts);
        let (key, index_key) = block_keys(tenant, min_ts, &format!("{min_ts}-{now}-d"));
        let size = bytes.len() as u64;
        store.put(&key, Bytes::from(bytes)).await?;
        store.put(&index_key, Bytes::from(new_index.encode()?)).await?;
        Some(BlockRef {
            key,
            index_key,
            size,
            min_ts,
            max_ts,
            entries,
        })
    };
    manifests
        .update(tenant, |m| {
            if m.blocks.iter().any(|b| b.key == old.key) {
                m.blocks.retain(|b| b.key != old.key);
                m.blocks.extend(replacement.clone());
                m.pending_deletes.push(PendingDelete {
                    key: old.key.clone(),
                    after: delete_after,
                });
                m.pending_deletes.push(PendingDelete {
                    key: old.index_key.clone(),
                    after: delete_after,
                });
            }
        })
        .await?;
    tracing::info!(tenant = %tenant, id = %request.id, block = %old.key, removed, "block rewritten for a delete request");
    Ok(true)
}
