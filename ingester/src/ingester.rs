//! The ingester: applies source records to the head, flushes due chunks to object storage,
//! lists them in the manifest, and only then lets the source commit past them.
//!
//! Order of a flush (the durability argument): encode -> put chunk object (durable) -> manifest
//! update (durable) -> drop from head -> commit source position. A crash before the manifest
//! update leaves an orphan object and replays the records; a crash after it replays records whose
//! entries are already stored, and readers drop those duplicates by (timestamp, message id).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use logq_storage::layout::chunk_key;
use logq_storage::{encode_chunk, ChunkRef, Entry, LabelMatcher, LabelSet, ManifestStore, TenantId};
use tokio::sync::watch;

use crate::error::{IngestError, Result};
use crate::head::{FlushPolicy, FlushSet, Head, Position};
use logq_storage::now_ns;

/// Chunk objects encoded and written at once by a flush.
const FLUSH_CONCURRENCY: usize = 4;

/// Ingester settings.
#[derive(Debug, Clone)]
pub struct IngesterConfig {
    /// How often to look for due chunks.
    pub flush_check_interval: Duration,
    /// Out-of-order grace: a window is flushed this long after it ends.
    pub window_grace: Duration,
    /// A chunk this large (line bytes) is flushed even if its window is open.
    pub max_chunk_bytes: usize,
    /// Names this ingester's chunk objects (`<source>-<seq>.chunk`).
    pub source_name: String,
    /// A chunk that received no entries for this long is flushed even if its window is open.
    pub chunk_idle: Duration,
    /// Above this many line bytes in memory, every flush flushes all chunks.
    pub max_memory_bytes: Option<usize>,
    /// Above this estimated memory ([`crate::head::footprint`]), the source loop flushes at
    /// once (not at the next check), the largest open chunks first, until half of it is left.
    pub flush_memory_bytes: Option<usize>,
}

impl Default for IngesterConfig {
    fn default() -> Self {
        IngesterConfig {
            flush_check_interval: Duration::from_secs(10),
            window_grace: Duration::from_secs(60),
            max_chunk_bytes: 16 * 1024 * 1024,
            source_name: "wal".into(),
            chunk_idle: Duration::from_secs(30 * 60),
            max_memory_bytes: None,
            flush_memory_bytes: None,
        }
    }
}

/// Counters exposed on `/metrics`.
#[derive(Debug, Default)]
pub struct IngesterMetrics {
    /// Entries appended to the head.
    pub entries_ingested: AtomicU64,
    /// Entries dropped as duplicates.
    pub entries_duplicate: AtomicU64,
    /// Records that failed to decode.
    pub decode_errors: AtomicU64,
    /// Chunk objects written.
    pub chunks_flushed: AtomicU64,
    /// Flushes that failed (and will be retried).
    pub flush_failures: AtomicU64,
    /// Source records read (decoded or not).
    pub records_consumed: AtomicU64,
    /// Bytes of source record values read.
    pub record_bytes_consumed: AtomicU64,
    /// Microseconds spent in successful chunk flushes (with `chunks_flushed`: mean latency).
    pub flush_seconds_micros: AtomicU64,
    /// Kafka partitions this ingester owns.
    pub kafka_partitions_assigned: AtomicU64,
    /// How long (s) this ingester has owned no Kafka partition; 0 while it owns some.
    pub kafka_unassigned_seconds: AtomicU64,
    /// Consumer lag per (topic, partition), from the Kafka client's statistics.
    pub partition_lag: std::sync::Mutex<std::collections::BTreeMap<(String, i32), i64>>,
}

/// The ingester (shared by the source loop, the flusher and queriers).
pub struct Ingester {
    head: RwLock<Head>,
    manifests: ManifestStore,
    pub(crate) config: IngesterConfig,
    seq: AtomicU64,
    pub(crate) applied: watch::Sender<u64>,
    ready: std::sync::atomic::AtomicBool,
    /// A condition worth reporting on `/ready` (an ingester owning no Kafka partition).
    ready_detail: std::sync::Mutex<Option<String>>,
    /// Counters.
    pub metrics: IngesterMetrics,
}

/// The querier reads this process's head through storage's head-reader contract.
impl logq_storage::HeadReader for Ingester {
    fn select<'a>(
        &'a self,
        tenant: &'a TenantId,
        matchers: &'a [LabelMatcher],
        start: i64,
        end: i64,
    ) -> futures::future::BoxFuture<
        'a,
        std::result::Result<logq_storage::HeadStreams, logq_storage::HeadReadError>,
    > {
        let streams = Ingester::select(self, tenant, matchers, start, end);
        Box::pin(async move { Ok(streams) })
    }

    fn stream_stats<'a>(
        &'a self,
        tenant: &'a TenantId,
        matchers: &'a [LabelMatcher],
        start: i64,
        end: i64,
    ) -> futures::future::BoxFuture<
        'a,
        std::result::Result<Vec<logq_storage::HeadStreamStat>, logq_storage::HeadReadError>,
    > {
        let stats = Ingester::stream_stats(self, tenant, matchers, start, end);
        Box::pin(async move { Ok(stats) })
    }
}

impl Ingester {
    /// An ingester writing chunks through `manifests`' store.
    pub fn new(manifests: ManifestStore, config: IngesterConfig) -> Arc<Self> {
        let (applied, _) = watch::channel(0);
        Arc::new(Ingester {
            head: RwLock::new(Head::default()),
            manifests,
            config,
            // Sequence numbers start at the wall clock so restarts never reuse a chunk key.
            seq: AtomicU64::new(now_ns() as u64),
            applied,
            ready: std::sync::atomic::AtomicBool::new(false),
            ready_detail: std::sync::Mutex::new(None),
            metrics: IngesterMetrics::default(),
        })
    }

    fn head_read(&self) -> std::sync::RwLockReadGuard<'_, Head> {
        self.head.read().unwrap_or_else(|p| p.into_inner())
    }

    fn head_write(&self) -> std::sync::RwLockWriteGuard<'_, Head> {
        self.head.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the ingester serves complete answers: its source replayed what was durable before
    /// the process started. An ingester that never runs a source (a querier's idle one) says
    /// so with `set_ready(true)`.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Marks the ingester ready or not (see [`Ingester::is_ready`]).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// What `/ready` adds to its answer: a condition an operator should know about that does not
    /// make answers incomplete (an ingester owning no Kafka partition).
    pub fn ready_detail(&self) -> Option<String> {
        self.ready_detail
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sets or clears the `/ready` detail.
    pub fn set_ready_detail(&self, detail: Option<String>) {
        *self.ready_detail.lock().unwrap_or_else(|p| p.into_inner()) = detail;
    }

    /// Watches the next offset to be applied from partition 0, the local WAL's only partition
    /// (read-your-writes for pushes in embedded mode).
    pub fn applied(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// Applies one decoded record.
    pub fn apply(&self, batch: &logq_storage::PushBatch, pos: Position) {
        let out = self.head_write().append(batch, pos);
        self.metrics
            .entries_ingested
            .fetch_add(out.appended as u64, Ordering::Relaxed);
        self.metrics
            .entries_duplicate
            .fetch_add(out.duplicates as u64, Ordering::Relaxed);
    }

    /// Unflushed entries of matching streams in `[start, end)`.
    pub fn select(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        start: i64,
        end: i64,
    ) -> Vec<(LabelSet, Vec<Entry>)> {
        self.head_read().select(tenant, matchers, start, end)
    }

    /// Per matching unflushed stream: (labels, entries, line bytes) in `[start, end)`.
    pub fn stream_stats(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        start: i64,
        end: i64,
    ) -> Vec<(LabelSet, u64, u64)> {
        self.head_read().stream_stats(tenant, matchers, start, end)
    }

    /// The offset from which `partition` must be replayed: nothing below it is held only in
    /// memory (see [`Head::committable`]).
    pub fn committable(&self, partition: u32, consumed_next: u64) -> u64 {
        self.head_read().committable(partition, consumed_next)
    }

    /// Whether memory is over the flush target, so the source loop should flush now.
    pub fn over_flush_target(&self) -> bool {
        self.config.flush_memory_bytes.is_some_and(|target| {
            let (entries, bytes) = self.memory();
            crate::head::footprint(entries, bytes) > target
        })
    }

    /// (entries, line bytes) in memory.
    pub fn memory(&self) -> (usize, usize) {
        self.head_read().size()
    }

    /// Flushes every due chunk (every chunk when `force`), retrying earlier failed flushes first.
    /// Returns the number of chunk objects written.
    pub async fn flush(&self, force: bool) -> Result<usize> {
        // Over the memory limit, waiting for windows to close frees nothing: flush everything.
        let force = force
            || self
                .config
                .max_memory_bytes
                .is_some_and(|max| self.memory().1 > max);
        let policy = FlushPolicy {
            now: now_ns(),
            grace_ns: self.config.window_grace.as_nanos() as i64,
            max_chunk_bytes: self.config.max_chunk_bytes,
            idle: Some(self.config.chunk_idle),
            force,
            memory_target: self.config.flush_memory_bytes,
        };
        let sets = {
            let mut head = self.head_write();
            let mut sets = head.pending_flushes();
            sets.extend(head.take_due(policy));
            sets
        };
        let mut by_tenant: BTreeMap<TenantId, Vec<Arc<FlushSet>>> = BTreeMap::new();
        for set in sets {
            by_tenant.entry(set.tenant.clone()).or_default().push(set);
        }
        let mut written = 0;
        for (tenant, sets) in by_tenant {
            written += self.flush_tenant(&tenant, sets).await?;
        }
        Ok(written)
    }

    /// Writes `sets` (all of one tenant) as chunk objects, a few at a time, then lists every
    /// written chunk in one manifest update (one manifest version per flush, not per chunk).
    /// On a failed write the remaining sets wait for the next try (the store is failing; each
    /// set spending its own retries would stall the caller's loop), but chunks already written
    /// are still listed.
    async fn flush_tenant(&self, tenant: &TenantId, sets: Vec<Arc<FlushSet>>) -> Result<usize> {
        let started = std::time::Instant::now();
        let mut writes = futures::stream::iter(sets)
            .map(|set| async move {
                let chunk = self.write_chunk(&set).await;
                (set, chunk)
            })
            .buffered(FLUSH_CONCURRENCY);
        let mut written: Vec<(Arc<FlushSet>, ChunkRef)> = Vec::new();
        let mut failure = None;
        while let Some((set, chunk)) = writes.next().await {
            match chunk {
                Ok(chunk) => written.push((set, chunk)),
                Err(e) => {
                    self.metrics.flush_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%tenant, window = set.window_start, error = %e, "chunk flush failed; will retry");
                    failure = Some(e);
                    break;
                }
            }
        }
        // Dropping the stream cancels writes in flight: at most orphan objects, never listed.
        drop(writes);
        if !written.is_empty() {
            self.manifests
                .update(tenant, |m| {
                    for (_, chunk) in &written {
                        if !m.chunks.iter().any(|c| c.key == chunk.key) {
                            m.chunks.push(chunk.clone());
                        }
                    }
                })
                .await
                .inspect_err(|e| {
                    self.metrics.flush_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%tenant, error = %e, "manifest update failed; chunks are rewritten on the next try");
                })?;
            let mut head = self.head_write();
            for (set, _) in &written {
                head.finish_flush(tenant, set.id);
            }
            drop(head);
            let n = written.len() as u64;
            self.metrics.chunks_flushed.fetch_add(n, Ordering::Relaxed);
            // Every chunk of the batch became durable when the manifest update finished.
            self.metrics
                .flush_seconds_micros
                .fetch_add(started.elapsed().as_micros() as u64 * n, Ordering::Relaxed);
            tracing::debug!(%tenant, chunks = n, "flushed chunks");
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(written.len()),
        }
    }

    /// [`Ingester::flush`] bounded by `limit`: sets not flushed by then stay pending (a set
    /// cancelled mid-write leaves at most an orphan object or a duplicate chunk, which readers
    /// and the compactor de-duplicate).
    pub async fn flush_within(&self, force: bool, limit: Duration) -> Result<usize> {
        match tokio::time::timeout(limit, self.flush(force)).await {
            Ok(r) => r,
            Err(_) => {
                self.metrics.flush_failures.fetch_add(1, Ordering::Relaxed);
                Err(IngestError::Wal(format!(
                    "flush did not finish within {limit:?}; the rest is retried"
                )))
            }
        }
    }

    /// Encodes `set` and puts it as a chunk object; the chunk is not listed yet.
    async fn write_chunk(&self, set: &Arc<FlushSet>) -> Result<ChunkRef> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let key = chunk_key(&set.tenant, set.window_start, &self.config.source_name, seq);
        let encode_set = set.clone();
        let (bytes, footer) =
            tokio::task::spawn_blocking(move || encode_chunk(encode_set.window_start, &encode_set.streams))
                .await
                .map_err(|e| IngestError::Wal(format!("chunk encoder panicked: {e}")))??;
        let size = bytes.len() as u64;
        self.manifests.store().put(&key, Bytes::from(bytes)).await?;
        let chunk = ChunkRef {
            key,
            size,
            window_start: set.window_start,
            min_ts: footer
                .streams
                .iter()
                .map(|s| s.min_ts)
                .min()
                .unwrap_or(set.window_start),
            max_ts: footer
                .streams
                .iter()
                .map(|s| s.max_ts)
                .max()
                .unwrap_or(set.window_start),
            entries: footer.streams.iter().map(|s| s.entries).sum(),
        };
        Ok(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logq_storage::{PushBatch, Store, StreamEntries};

    const MINUTE: i64 = 60_000_000_000;

    fn batch(tenant: &str, ts: &[i64]) -> PushBatch {
        PushBatch {
            tenant: TenantId::new(tenant).unwrap(),
            streams: vec![StreamEntries {
                labels: LabelSet::parse("{app=\"x\"}").unwrap(),
                entries: ts
                    .iter()
                    .map(|&t| Entry {
                        ts: t,
                        id: t as u64,
                        line: format!("l{t}"),
                        metadata: vec![],
                    })
                    .collect(),
            }],
        }
    }

    #[tokio::test]
    async fn one_flush_writes_one_manifest_version_per_tenant() {
        let manifests = ManifestStore::new(Store::in_memory());
        let ingester = Ingester::new(manifests.clone(), IngesterConfig::default());
        // Six 5-minute windows for tenant a, two for tenant b.
        let a: Vec<i64> = (0..6).map(|w| w * 5 * MINUTE + 1).collect();
        ingester.apply(
            &batch("a", &a),
            Position {
                partition: 0,
                offset: 0,
            },
        );
        ingester.apply(
            &batch("b", &[1, 5 * MINUTE + 1]),
            Position {
                partition: 0,
                offset: 1,
            },
        );
        assert_eq!(ingester.flush(true).await.unwrap(), 8);
        let ma = manifests.load(&TenantId::new("a").unwrap()).await.unwrap();
        let mb = manifests.load(&TenantId::new("b").unwrap()).await.unwrap();
        assert_eq!((ma.version, ma.chunks.len()), (1, 6));
        assert_eq!((mb.version, mb.chunks.len()), (1, 2));
        assert_eq!(ma.chunks.iter().map(|c| c.entries).sum::<u64>(), 6);
        assert_eq!(ingester.memory(), (0, 0));
        // Nothing is held in memory any more, so every offset is committable.
        assert_eq!(ingester.committable(0, 2), 2);
        assert_eq!(ingester.flush(true).await.unwrap(), 0);
    }
}
