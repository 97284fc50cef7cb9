//! The ingester: applies source records to the head, flushes due chunks to object storage,
//! lists them in the manifest, and only then lets the source commit past them.
//!
//! Order of a flush (the durability argument): encode -> put chunk object (durable) -> manifest
//! update (durable) -> drop from head -> commit source position. A crash before the manifest
//! update leaves an orphan object and replays the records; a crash after it replays records whose
//! entries are already stored, and readers drop those duplicates by (timestamp, message id).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use logq_storage::layout::chunk_key;
use logq_storage::{encode_chunk, ChunkRef, Entry, LabelMatcher, LabelSet, ManifestStore, TenantId};
use tokio::sync::watch;

use crate::error::{IngestError, Result};
use crate::head::{FlushPolicy, FlushSet, Head, Position};

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
    /// Counters.
    pub metrics: IngesterMetrics,
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
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
        };
        let sets = {
            let mut head = self.head_write();
            let mut sets = head.pending_flushes();
            sets.extend(head.take_due(policy));
            sets
        };
        let mut written = 0;
        for set in sets {
            match self.flush_set(set.clone()).await {
                Ok(()) => {
                    self.head_write().finish_flush(&set.tenant, set.id);
                    written += 1;
                }
                Err(e) => {
                    // The store is failing: the rest waits for the next try instead of each
                    // set spending its own retries (the caller's loop must keep polling).
                    self.metrics.flush_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(tenant = %set.tenant, window = set.window_start, error = %e, "chunk flush failed; will retry");
                    return Err(e);
                }
            }
        }
        Ok(written)
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

    async fn flush_set(&self, set: Arc<FlushSet>) -> Result<()> {
        let started = std::time::Instant::now();
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
            key: key.clone(),
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
        self.manifests
            .update(&set.tenant, |m| {
                if !m.chunks.iter().any(|c| c.key == chunk.key) {
                    m.chunks.push(chunk.clone());
                }
            })
            .await?;
        self.metrics.chunks_flushed.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .flush_seconds_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        tracing::debug!(tenant = %set.tenant, key = %key, entries = chunk.entries, "flushed chunk");
        Ok(())
    }
}
