//! The compaction loop: pick closed hours, merge their chunks into one hour block; pick closed
//! days, merge their hour blocks into one day block (smaller: higher zstd level, larger pages);
//! publish each block through `publish.rs` (whose module doc states the crash-safety protocol),
//! and later delete what the swap made unreferenced.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use logq_storage::layout::day_of;
use logq_storage::{
    merge_streams, now_ns, read_block_streams, read_chunk_footer, read_chunk_streams, stream_order_key,
    BlockIndex, BlockOptions, BlockRef, BlockWriter, ChunkRef, IndexedStream, ManifestStore, PendingDelete,
    TenantId,
};
use tokio::sync::watch;

use crate::config::CompactorConfig;
use crate::error::CompactorError;
use crate::publish::{adopt_block, retire_block, store_block, store_encoded};
use crate::retention;

const HOUR_NS: i64 = 3600 * 1_000_000_000;
const DAY_NS: i64 = 24 * HOUR_NS;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CompactionReport {
    /// Blocks written.
    pub blocks_written: usize,
    /// Chunks merged into them.
    pub chunks_compacted: usize,
    /// Entries written.
    pub entries: u64,
    /// Objects deleted after their grace period.
    pub objects_deleted: usize,
    /// Blocks and chunks (objects) dropped by retention.
    pub objects_expired: usize,
    /// Blocks rewritten without the entries of delete requests.
    pub blocks_rewritten: usize,
    /// Day blocks written (each replacing a day's hour blocks).
    pub day_blocks_written: usize,
    /// Hour blocks merged into them.
    pub blocks_merged: usize,
}

/// Line bytes of the streams merged at once by [`merge_blocks`]: bounds a day compaction's
/// memory whatever the day's size.
const MERGE_GROUP_BYTES: u64 = 64 << 20;

/// Merges blocks (key, bytes, index) into one block encoded with `opts` (streams in block order,
/// rows by ts, de-duplicated by (ts, id)), a group of streams at a time in block order, so only the
/// compressed inputs and one group's entries are in memory. CPU-heavy: call it off the runtime.
pub fn merge_blocks(
    sources: &[(String, Bytes, BlockIndex)],
    opts: &BlockOptions,
) -> Result<(Vec<u8>, BlockIndex), CompactorError> {
    merge_blocks_grouped(sources, opts, MERGE_GROUP_BYTES)
}

fn merge_blocks_grouped(
    sources: &[(String, Bytes, BlockIndex)],
    opts: &BlockOptions,
    group_limit: u64,
) -> Result<(Vec<u8>, BlockIndex), CompactorError> {
    // Streams in block order (see `stream_order_key`), with their line bytes over all inputs.
    let mut sizes: BTreeMap<(String, String, u64), u64> = BTreeMap::new();
    for (_, _, index) in sources {
        for s in &index.streams {
            *sizes.entry(stream_order_key(&s.labels)).or_default() += s.bytes;
        }
    }
    let mut writer = BlockWriter::new(opts)?;
    let mut group: HashSet<u64> = HashSet::new();
    let mut group_bytes = 0;
    let flush = |group: &HashSet<u64>, writer: &mut BlockWriter| -> Result<(), CompactorError> {
        let mut inputs = Vec::new();
        for (key, data, index) in sources {
            let want: Vec<&IndexedStream> = index
                .streams
                .iter()
                .filter(|s| group.contains(&s.fingerprint))
                .collect();
            if want.is_empty() {
                continue;
            }
            let read = read_block_streams(key, data.clone(), &want)?;
            inputs.extend(want.iter().map(|s| s.labels.clone()).zip(read));
        }
        let mut merged = merge_streams(inputs);
        merged.sort_by_cached_key(|(l, _)| stream_order_key(l));
        for (labels, entries) in merged {
            writer.push_stream(&labels, &entries)?;
        }
        Ok(())
    };
    for ((_, _, fp), bytes) in sizes {
        group.insert(fp);
        group_bytes += bytes;
        if group_bytes >= group_limit {
            flush(&group, &mut writer)?;
            group.clear();
            group_bytes = 0;
        }
    }
    flush(&group, &mut writer)?;
    Ok(writer.finish()?)
}

/// Compacts every tenant in a store.
pub struct Compactor {
    manifests: ManifestStore,
    config: CompactorConfig,
}

impl Compactor {
    /// A compactor over `manifests`' store.
    pub fn new(manifests: ManifestStore, config: CompactorConfig) -> Self {
        Compactor { manifests, config }
    }

    /// One pass over every tenant.
    pub async fn run_once(&self) -> Result<CompactionReport, CompactorError> {
        let mut report = CompactionReport::default();
        for tenant in self.manifests.tenants().await? {
            report.objects_expired += self.apply_retention(&tenant).await?;
            self.compact_tenant(&tenant, &mut report).await?;
            self.compact_days(&tenant, &mut report).await?;
            let now = now_ns();
            let after = now + self.config.delete_grace.as_nanos() as i64;
            report.blocks_rewritten +=
                crate::deletes::apply_deletes(&self.manifests, &self.config, &tenant, now, after).await?;
            let rules = &self.config.retention.streams;
            report.blocks_rewritten += crate::deletes::apply_stream_retention(
                &self.manifests,
                &self.config,
                &tenant,
                rules,
                now,
                after,
            )
            .await?;
            report.objects_deleted += self.delete_expired(&tenant).await?;
        }
        Ok(report)
    }

    /// Runs passes every interval until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        // The first pass comes one interval after start, not at once: a server started with a
        // long interval (compaction left to `logq compact`) must not compact on startup.
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + self.config.interval,
            self.config.interval,
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    match self.run_once().await {
                        Ok(r) if r.blocks_written > 0 || r.objects_deleted > 0 || r.day_blocks_written > 0 => {
                            tracing::info!(blocks = r.blocks_written, chunks = r.chunks_compacted, entries = r.entries, day_blocks = r.day_blocks_written, merged = r.blocks_merged, deleted = r.objects_deleted, "compaction pass");
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "compaction pass failed; will retry"),
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn compact_tenant(
        &self,
        tenant: &TenantId,
        report: &mut CompactionReport,
    ) -> Result<(), CompactorError> {
        let manifest = self.manifests.load(tenant).await?;
        let cutoff = now_ns() - self.config.hour_grace.as_nanos() as i64;
        let mut hours: BTreeMap<i64, Vec<ChunkRef>> = BTreeMap::new();
        for c in &manifest.chunks {
            let hour = c.window_start.div_euclid(HOUR_NS) * HOUR_NS;
            if hour + HOUR_NS <= cutoff {
                hours.entry(hour).or_default().push(c.clone());
            }
        }
        for (hour, chunks) in hours {
            let entries = self.compact_hour(tenant, hour, &chunks).await?;
            report.blocks_written += 1;
            report.chunks_compacted += chunks.len();
            report.entries += entries;
        }
        Ok(())
    }

    async fn compact_hour(
        &self,
        tenant: &TenantId,
        hour: i64,
        chunks: &[ChunkRef],
    ) -> Result<u64, CompactorError> {
        let store = self.manifests.store();
        let mut inputs = Vec::new();
        for c in chunks {
            let footer = read_chunk_footer(store, &c.key, c.size).await?;
            for (meta, entries) in read_chunk_streams(store, &c.key, &footer, |_| true).await? {
                inputs.push((meta.labels, entries));
            }
        }
        let merged = merge_streams(inputs);
        let after = now_ns() + self.config.delete_grace.as_nanos() as i64;
        let block_id = format!("{hour}-{}", now_ns());
        let Some(block) = store_block(
            &self.manifests,
            tenant,
            merged,
            &block_id,
            &self.config.hour_blocks,
            after,
        )
        .await?
        else {
            return Ok(0);
        };
        let entries = block.entries;
        let replaced: Vec<String> = chunks.iter().map(|c| c.key.clone()).collect();
        self.manifests
            .update(tenant, |m| {
                m.chunks.retain(|c| !replaced.contains(&c.key));
                adopt_block(m, &block);
                m.pending_deletes.extend(replaced.iter().map(|k| PendingDelete {
                    key: k.clone(),
                    after,
                }));
            })
            .await?;
        tracing::debug!(tenant = %tenant, hour, chunks = chunks.len(), entries, "compacted hour");
        Ok(entries)
    }

    /// Merges the blocks of every closed day (ended more than `day_grace` ago, no chunk left)
    /// that has more than one block into one day block.
    async fn compact_days(
        &self,
        tenant: &TenantId,
        report: &mut CompactionReport,
    ) -> Result<(), CompactorError> {
        let Some(grace) = self.config.day_grace else {
            return Ok(());
        };
        let manifest = self.manifests.load(tenant).await?;
        let cutoff = now_ns() - grace.as_nanos() as i64;
        let day_start = |ts: i64| ts.div_euclid(DAY_NS) * DAY_NS;
        let mut days: BTreeMap<i64, Vec<BlockRef>> = BTreeMap::new();
        for b in &manifest.blocks {
            let day = day_start(b.min_ts);
            // A block spanning days (never written by this compactor) is left alone.
            if day == day_start(b.max_ts) && day + DAY_NS <= cutoff {
                days.entry(day).or_default().push(b.clone());
            }
        }
        for (day, blocks) in days {
            let open = manifest
                .chunks
                .iter()
                .any(|c| c.max_ts >= day && c.min_ts < day + DAY_NS);
            if blocks.len() < 2 || open {
                continue;
            }
            self.compact_day(tenant, day, &blocks).await?;
            report.day_blocks_written += 1;
            report.blocks_merged += blocks.len();
        }
        Ok(())
    }

    async fn compact_day(
        &self,
        tenant: &TenantId,
        day: i64,
        blocks: &[BlockRef],
    ) -> Result<(), CompactorError> {
        let store = self.manifests.store();
        let mut sources = Vec::with_capacity(blocks.len());
        for b in blocks {
            let index = BlockIndex::decode(&b.index_key, &store.get(&b.index_key).await?)?;
            sources.push((b.key.clone(), store.get(&b.key).await?, index));
        }
        let opts = self.config.day_blocks.clone();
        let (bytes, index) = tokio::task::spawn_blocking(move || merge_blocks(&sources, &opts))
            .await
            .map_err(|e| CompactorError::Task(e.to_string()))??;
        let after = now_ns() + self.config.delete_grace.as_nanos() as i64;
        let block_id = format!("day-{}-{}", day_of(day), now_ns());
        let block = store_encoded(&self.manifests, tenant, bytes, index, &block_id, after).await?;
        let inputs: Vec<BlockRef> = blocks.to_vec();
        self.manifests
            .update(tenant, |m| {
                // Only swap if every input is still listed (a delete rewrite may have replaced
                // one meanwhile); otherwise the new block stays a pending delete.
                if inputs.iter().all(|i| m.blocks.iter().any(|b| b.key == i.key)) {
                    for i in &inputs {
                        retire_block(m, i, after);
                    }
                    if let Some(block) = &block {
                        adopt_block(m, block);
                    }
                }
            })
            .await?;
        tracing::debug!(tenant = %tenant, day = %day_of(day), blocks = blocks.len(), "compacted day");
        Ok(())
    }

    /// Forgets the tenant's blocks and chunks older than its retention period.
    async fn apply_retention(&self, tenant: &TenantId) -> Result<usize, CompactorError> {
        let Some(period) = self.config.retention.period(tenant) else {
            return Ok(0);
        };
        let now = now_ns();
        let cutoff = now - period.as_nanos() as i64;
        let manifest = self.manifests.load(tenant).await?;
        let expired = manifest.chunks.iter().any(|c| c.max_ts < cutoff)
            || manifest.blocks.iter().any(|b| b.max_ts < cutoff);
        if !expired {
            return Ok(0);
        }
        let after = now + self.config.delete_grace.as_nanos() as i64;
        let mut removed = 0;
        self.manifests
            .update(tenant, |m| removed = retention::expire(m, cutoff, after))
            .await?;
        tracing::info!(tenant = %tenant, objects = removed, "retention expired data");
        Ok(removed)
    }

    async fn delete_expired(&self, tenant: &TenantId) -> Result<usize, CompactorError> {
        let manifest = self.manifests.load(tenant).await?;
        let now = now_ns();
        let due: Vec<String> = manifest
            .pending_deletes
            .iter()
            .filter(|p| p.after <= now)
            .map(|p| p.key.clone())
            .collect();
        if due.is_empty() {
            return Ok(0);
        }
        // Nothing lists them any more (only the pending list does): delete first, then forget,
        // so a crash in between only repeats a delete (deleting a missing object is no error).
        for key in &due {
            self.manifests.store().delete(key).await?;
        }
        self.manifests
            .update(tenant, |m| m.pending_deletes.retain(|p| !due.contains(&p.key)))
            .await?;
        Ok(due.len())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::RetentionPolicy;
    use logq_storage::{
        encode_chunk, read_block_streams, write_block_with, BlockIndex, Entry, LabelSet, Store,
    };

    fn entries(from: i64, n: i64, id_base: u64) -> Vec<Entry> {
        (0..n)
            .map(|i| Entry {
                ts: from + i * 1_000_000,
                id: id_base + i as u64,
                line: format!("line {}", id_base + i as u64),
                metadata: vec![],
            })
            .collect()
    }

    #[test]
    fn merging_blocks_group_by_group_equals_merging_everything() {
        use logq_storage::write_block;
        // Five streams spread over three overlapping blocks (with duplicates between them).
        let streams = |from: i64, id0: u64| -> Vec<(LabelSet, Vec<Entry>)> {
            (0..5)
                .map(|s| {
                    let labels = LabelSet::parse(&format!("{{app=\"a{s}\"}}")).unwrap();
                    (labels, entries(from + s, 50, id0 + s as u64 * 1000))
                })
                .collect()
        };
        let inputs = [
            streams(0, 0),
            streams(25 * 1_000_000, 25),
            streams(1_000_000_000, 10_000),
        ];
        let sources: Vec<(String, Bytes, BlockIndex)> = inputs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (bytes, index) = write_block(s.clone()).unwrap();
                (format!("b{i}"), Bytes::from(bytes), index)
            })
            .collect();
        let (want_bytes, want_index) =
            write_block_with(merge_streams(inputs.concat()), &BlockOptions::day()).unwrap();
        for limit in [1, 3_000, u64::MAX] {
            let (bytes, index) = merge_blocks_grouped(&sources, &BlockOptions::day(), limit).unwrap();
            assert_eq!(index, want_index, "group limit {limit}");
            let refs: Vec<_> = index.streams.iter().collect();
            let got = read_block_streams("m", Bytes::from(bytes), &refs).unwrap();
            let want = read_block_streams("w", Bytes::from(want_bytes.clone()), &refs).unwrap();
            assert_eq!(got, want, "group limit {limit}");
            assert_eq!(got.iter().map(Vec::len).sum::<usize>(), 5 * 75 + 5 * 50);
        }
    }

    #[tokio::test]
    async fn compacts_closed_hours_into_a_block_equal_to_the_merged_input() {
        let store = Store::in_memory();
        let ms = ManifestStore::new(store.clone());
        let tenant = TenantId::new("t").unwrap();
        let hour = (now_ns() / HOUR_NS - 3) * HOUR_NS;
        let labels = LabelSet::parse("{app=\"x\"}").unwrap();
        // Two chunks overlapping by 50 entries (a replay): the block must hold 150, once each.
        let inputs = [entries(hour, 100, 0), entries(hour + 50 * 1_000_000, 100, 50)];
        for (i, e) in inputs.iter().enumerate() {
            let (bytes, footer) = encode_chunk(hour, &[(labels.clone(), e.clone())]).unwrap();
            let key = format!("t/chunks/{hour}/wal-{i}.chunk");
            let size = bytes.len() as u64;
            store.put(&key, Bytes::from(bytes)).await.unwrap();
            ms.update(&tenant, |m| {
                m.chunks.push(ChunkRef {
                    key: key.clone(),
                    size,
                    window_start: hour,
                    min_ts: footer.streams[0].min_ts,
                    max_ts: footer.streams[0].max_ts,
                    entries: 100,
                })
            })
            .await
            .unwrap();
        }
        let c = Compactor::new(
            ms.clone(),
            CompactorConfig {
                delete_grace: Duration::ZERO,
                ..Default::default()
            },
        );
        let r = c.run_once().await.unwrap();
        assert_eq!((r.blocks_written, r.chunks_compacted, r.entries), (1, 2, 150));
        // With no grace the replaced chunks go in the same pass.
        assert_eq!(r.objects_deleted, 2);
        assert!(store.list("t/chunks").await.unwrap().is_empty());
        let m = ms.load(&tenant).await.unwrap();
        assert!(m.chunks.is_empty());
        assert_eq!(m.blocks.len(), 1);
        let b = &m.blocks[0];
        let idx = BlockIndex::decode(&b.index_key, &store.get(&b.index_key).await.unwrap()).unwrap();
        let streams: Vec<_> = idx.streams.iter().collect();
        let got = read_block_streams(&b.key, store.get(&b.key).await.unwrap(), &streams).unwrap();
        assert_eq!(got[0], entries(hour, 150, 0));
        assert_eq!(c.run_once().await.unwrap(), CompactionReport::default());

        // Retention shorter than the data's age forgets the block, then deletes its objects.
        let c = Compactor::new(
            ms.clone(),
            CompactorConfig {
                delete_grace: Duration::ZERO,
                retention: RetentionPolicy {
                    default: Some(Duration::from_secs(3600)),
                    tenants: Default::default(),
                    streams: Vec::new(),
                },
                ..Default::default()
            },
        );
        let r = c.run_once().await.unwrap();
        assert_eq!((r.objects_expired, r.objects_deleted), (2, 2));
        assert!(ms.load(&tenant).await.unwrap().blocks.is_empty());
        assert!(store.list("t/blocks").await.unwrap().is_empty());
    }
}
