//! The one abstraction over where records come from (the local WAL in embedded mode, Kafka in
//! distributed mode) and the one loop that drives the ingester from any of them.
//!
//! The loop's contract: apply records in order, flush due chunks every check interval, then
//! let the source commit past what is durable ([`crate::Head::committable`] per partition). On
//! shutdown: apply what the source already holds durably, flush everything, commit once more.
//! Records that do not decode are counted and skipped (the position still moves past them).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use logq_storage::PushBatch;
use tokio::sync::watch;

use crate::head::Position;
use crate::ingester::Ingester;

/// A periodic flush gives up after this long, so the loop keeps polling its source (a Kafka
/// consumer that stops polling leaves its group) and notices shutdown.
pub const FLUSH_TIME_LIMIT: Duration = Duration::from_secs(60);

/// Flushes caused by memory over the flush target are at least this far apart (a failing store
/// is retried at this pace, not after every record).
const PRESSURE_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// One record read from a source.
#[derive(Debug)]
pub struct SourceRecord {
    /// Where it was read (the source's partition and offset).
    pub position: Position,
    /// Its entries, or why it could not be decoded (named with the record's place).
    pub batch: Result<PushBatch, String>,
    /// Size of the record's value in bytes.
    pub bytes: usize,
}

/// A source of records with offsets that can be committed.
pub trait Source: Send {
    /// The next record; `None` when the source has ended.
    fn next(&mut self) -> BoxFuture<'_, Option<SourceRecord>>;
    /// A record already read and durable that can be applied without waiting (used on shutdown).
    fn try_next(&mut self) -> Option<SourceRecord>;
    /// Whether what was durable before this process started has been read (a restarted
    /// ingester is not ready until it replayed its write-ahead log).
    fn caught_up(&self) -> bool {
        true
    }
    /// Records that `record` was applied (the source tracks what was consumed per partition).
    fn consumed(&mut self, position: Position);
    /// Commits each partition up to what `ingester` no longer holds only in memory. `last` is the
    /// commit on shutdown (may block until acknowledged).
    fn commit<'a>(&'a mut self, ingester: &'a Ingester, last: bool) -> BoxFuture<'a, ()>;
}

/// Logs undecodable records at most once per interval, with a count of those not logged.
struct DecodeErrorLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl DecodeErrorLog {
    const INTERVAL: Duration = Duration::from_secs(10);

    fn record(&mut self, position: Position, error: &str) {
        if self.last.is_some_and(|t| t.elapsed() < Self::INTERVAL) {
            self.suppressed += 1;
            return;
        }
        tracing::warn!(
            partition = position.partition,
            offset = position.offset,
            error,
            suppressed = self.suppressed,
            "skipped a record that does not decode"
        );
        self.last = Some(Instant::now());
        self.suppressed = 0;
    }
}

impl Ingester {
    /// Drives the ingester from `source` until it ends or `shutdown` turns true.
    pub async fn run_source(self: Arc<Self>, mut source: impl Source, mut shutdown: watch::Receiver<bool>) {
        let mut errors = DecodeErrorLog {
            last: None,
            suppressed: 0,
        };
        let mut tick = tokio::time::interval(self.config.flush_check_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.set_ready(source.caught_up());
        let mut last_pressure_flush = Instant::now();
        loop {
            tokio::select! {
                record = source.next() => {
                    let Some(record) = record else { break };
                    self.apply_record(&mut source, record, &mut errors);
                    if self.over_flush_target() && last_pressure_flush.elapsed() >= PRESSURE_FLUSH_INTERVAL {
                        last_pressure_flush = Instant::now();
                        let _ = self.flush_within(false, FLUSH_TIME_LIMIT).await;
                        source.commit(&self, false).await;
                    }
                    if !self.is_ready() && source.caught_up() {
                        tracing::info!("write-ahead log replayed; ready");
                        self.set_ready(true);
                    }
                }
                _ = tick.tick() => {
                    let _ = self.flush_within(false, FLUSH_TIME_LIMIT).await;
                    source.commit(&self, false).await;
                }
                _ = shutdown.changed() => break,
            }
        }
        while let Some(record) = source.try_next() {
            self.apply_record(&mut source, record, &mut errors);
        }
        match self.flush(true).await {
            Ok(n) => tracing::info!(chunks = n, "flushed all chunks on shutdown"),
            Err(e) => {
                tracing::error!(error = %e, "flush on shutdown failed; the source keeps the data for replay")
            }
        }
        source.commit(&self, true).await;
    }

    fn apply_record(&self, source: &mut impl Source, record: SourceRecord, errors: &mut DecodeErrorLog) {
        self.metrics.records_consumed.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .record_bytes_consumed
            .fetch_add(record.bytes as u64, Ordering::Relaxed);
        match &record.batch {
            Ok(batch) => self.apply(batch, record.position),
            Err(e) => {
                self.metrics.decode_errors.fetch_add(1, Ordering::Relaxed);
                errors.record(record.position, e);
            }
        }
        source.consumed(record.position);
        if record.position.partition == 0 {
            self.applied.send_replace(record.position.offset + 1);
        }
    }
}
