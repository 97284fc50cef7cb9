//! Applying delete requests: once no flushed chunk overlaps a request's range (they are
//! compacted first), every block holding a matching stream in the range is rewritten without
//! the deleted entries, the manifest swaps old block for new, and the request is marked
//! processed. Queries hide the entries from the moment the request is recorded, so the rewrite
//! only changes what storage holds, never what queries answer.

use logq_storage::{read_block_streams, BlockIndex, BlockRef, DeleteRequest, ManifestStore, TenantId};

use crate::config::CompactorConfig;
use crate::error::CompactorError;
use crate::publish::{adopt_block, retire_block, store_block};

/// Processes the tenant's pending delete requests; returns how many blocks were rewritten.
pub(crate) async fn apply_deletes(
    manifests: &ManifestStore,
    config: &CompactorConfig,
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
                rewrite_block(
                    manifests,
                    config,
                    tenant,
                    block,
                    request,
                    &compiled,
                    now,
                    delete_after,
                )
                .await?,
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
    config: &CompactorConfig,
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
                rewrite_block(
                    manifests,
                    config,
                    tenant,
                    block,
                    &request,
                    &compiled,
                    now,
                    delete_after,
                )
                .await?,
            );
        }
    }
    Ok(rewritten)
}

/// Rewrites one block without the entries `request` deletes, encoded as the compactor encodes
/// blocks of its kind (hour or day); `false` when it held none.
#[allow(clippy::too_many_arguments)]
async fn rewrite_block(
    manifests: &ManifestStore,
    config: &CompactorConfig,
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
    let old = block.clone();
    // A rewrite keeps the kind of the block (a day block's name says so), and so the
    // compactor's encoding of that kind: a rewritten day block stays as small as a day block.
    let (opts, block_id) = if old.key.contains("/day-") {
        (
            &config.day_blocks,
            format!("day-{}-{now}-d", logq_storage::layout::day_of(old.min_ts)),
        )
    } else {
        (&config.hour_blocks, format!("{}-{now}-d", old.min_ts))
    };
    let replacement = store_block(manifests, tenant, kept, &block_id, opts, delete_after).await?;
    manifests
        .update(tenant, |m| {
            if m.blocks.iter().any(|b| b.key == old.key) {
                retire_block(m, &old, delete_after);
                if let Some(r) = &replacement {
                    adopt_block(m, r);
                }
            }
        })
        .await?;
    tracing::info!(tenant = %tenant, id = %request.id, block = %old.key, removed, "block rewritten for a delete request");
    Ok(true)
}
