//! Kafka as a [`Source`]: the ingester's consumer group.
//!
//! Kafka is the write-ahead log. Offsets are never auto-committed: each tick commits, per
//! partition, the lowest offset still held only in memory ([`Ingester::committable`]), so a
//! crash replays from there and the head's de-duplication by (timestamp, message id) makes the
//! stored result exactly-once.
//!
//! Rebalances: before partitions are revoked, the rebalance callback flushes every chunk and
//! commits synchronously, so the next owner starts exactly where this one's durable data ends
//! (eager rebalancing revokes all partitions, so flushing all chunks is also flushing exactly
//! the revoked ones). Backpressure: while the head holds more than the memory limit (the object
//! store is slow or failing) the assignment is paused; polling continues so the group keeps us.
//! (librdkafka drops what was fetched for paused partitions and refetches it on resume; an
//! application pause survives reassignment, so assignments and revocations resume first.)
//!
//! Partition ids: `(topic index << 20) | partition`, the [`Position::partition`] of records.
//!
//! Group membership is static when [`KafkaSettings::instance_id`] is set (logq's default: a
//! stable id per data directory): a restarted ingester rejoins as the same member and gets its
//! partitions back within a heartbeat or two, without waiting for its old session to expire.
//! An ingester that has owned no partition for [`UNASSIGNED_SESSIONS`] session timeouts says so:
//! a warning (repeated every minute), the gauge `kafka_unassigned_seconds` and a `/ready`
//! detail. librdkafka's own log lines go to `tracing` ([`crate::kafka_log`]).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

use crate::error::Result;
use crate::head::Position;
use crate::ingester::Ingester;
use crate::kafka_config::{kafka_err, KafkaSettings};
use crate::kafka_log;
use crate::kafka_record::{RecordDecoder, RecordMeta};
use crate::source::{Source, SourceRecord};
use crate::validate::Limits;
use logq_storage::now_ns;
use logq_storage::push::PushDecodeError;

/// Positions of the partitions this ingester owns.
#[derive(Debug, Default)]
struct Partitions {
    assigned: HashSet<u32>,
    consumed_next: HashMap<u32, u64>,
    committed: HashMap<u32, u64>,
}

/// The consumer's context: rebalance callbacks and statistics.
pub struct IngesterContext {
    ingester: Arc<Ingester>,
    topics: Vec<String>,
    partitions: Mutex<Partitions>,
    handle: tokio::runtime::Handle,
    closing: AtomicBool,
    /// Whether this ingester paused its assignment for backpressure.
    paused: AtomicBool,
    /// Since when this ingester has owned no partition (`None` while it owns some).
    unassigned_since: Mutex<Option<Instant>>,
    /// When the last "owns no partition" warning was logged.
    unassigned_warned: Mutex<Option<Instant>>,
    /// The group's session timeout (the unassigned alarm waits a few of them).
    session_timeout: Duration,
    /// The consumer group, for messages.
    group: String,
}

/// An ingester owning no partition for this many session timeouts reports it.
pub const UNASSIGNED_SESSIONS: u32 = 3;

/// How often the "owns no partition" warning is repeated while it lasts.
const UNASSIGNED_WARN_EVERY: Duration = Duration::from_secs(60);

impl IngesterContext {
    fn pid(&self, topic: &str, partition: i32) -> Option<u32> {
        let t = self.topics.iter().position(|t| t == topic)?;
        Some(((t as u32) << 20) | (partition as u32 & 0xF_FFFF))
    }

    fn topic_partition(&self, pid: u32) -> (&str, i32) {
        (&self.topics[(pid >> 20) as usize], (pid & 0xF_FFFF) as i32)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Partitions> {
        self.partitions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records whether the ingester owns partitions now (after an assignment or revocation).
    fn owns(&self, any: bool) {
        let mut since = self.unassigned_since.lock().unwrap_or_else(|p| p.into_inner());
        match (any, *since) {
            (true, _) => *since = None,
            (false, None) => *since = Some(Instant::now()),
            (false, Some(_)) => {}
        }
    }

    /// Publishes how long the ingester has owned no partition (gauge, `/ready` detail) and
    /// warns once that lasted [`UNASSIGNED_SESSIONS`] session timeouts. Called every tick.
    pub fn check_assignment(&self) {
        let since = *self.unassigned_since.lock().unwrap_or_else(|p| p.into_inner());
        let metrics = &self.ingester.metrics;
        let Some(since) = since else {
            metrics.kafka_unassigned_seconds.store(0, Ordering::Relaxed);
            self.ingester.set_ready_detail(None);
            return;
        };
        let idle = since.elapsed();
        metrics
            .kafka_unassigned_seconds
            .store(idle.as_secs(), Ordering::Relaxed);
        if idle < self.session_timeout * UNASSIGNED_SESSIONS {
            return;
        }
        let detail = format!(
            "owns no Kafka partition of {:?} in group {:?} for {}s (more ingesters than partitions, or the broker did not assign any: see the librdkafka log lines, -X debug=cgrp)",
            self.topics.join(","),
            self.group,
            idle.as_secs()
        );
        let mut warned = self.unassigned_warned.lock().unwrap_or_else(|p| p.into_inner());
        if warned.is_none_or(|t| t.elapsed() >= UNASSIGNED_WARN_EVERY) {
            tracing::warn!(idle_s = idle.as_secs(), group = %self.group, "this ingester {detail}");
            *warned = Some(Instant::now());
        }
        self.ingester.set_ready_detail(Some(detail));
    }

    /// The offsets to commit for `pids` (all owned partitions when `None`): only those that moved.
    fn commit_list(&self, pids: Option<&[u32]>) -> (TopicPartitionList, Vec<(u32, u64)>) {
        let parts = self.lock();
        let mut tpl = TopicPartitionList::new();
        let mut moved = Vec::new();
        let owned: Vec<u32> = match pids {
            Some(p) => p.to_vec(),
            None => parts.assigned.iter().copied().collect(),
        };
        for pid in owned {
            let Some(&next) = parts.consumed_next.get(&pid) else {
                continue;
            };
            let target = self.ingester.committable(pid, next);
            if parts.committed.get(&pid).is_some_and(|c| *c >= target) {
                continue;
            }
            let (topic, partition) = self.topic_partition(pid);
            if tpl
                .add_partition_offset(topic, partition, Offset::Offset(target as i64))
                .is_ok()
            {
                moved.push((pid, target));
            }
        }
        (tpl, moved)
    }

    fn committed(&self, moved: &[(u32, u64)]) {
        let mut parts = self.lock();
        for (pid, offset) in moved {
            parts.committed.insert(*pid, *offset);
        }
    }

    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let revoked: Vec<u32> = tpl
            .elements()
            .iter()
            .filter_map(|e| self.pid(e.topic(), e.partition()))
            .collect();
        // librdkafka keeps an application pause across unassign and reassign: a partition given
        // up while paused would come back paused for good.
        let _ = consumer.resume(tpl);
        if !self.closing.load(Ordering::SeqCst) {
            let ingester = self.ingester.clone();
            let flushed = tokio::task::block_in_place(|| {
                self.handle
                    .block_on(ingester.flush_within(true, crate::source::FLUSH_TIME_LIMIT))
            });
            if let Err(e) = flushed {
                tracing::warn!(error = %e, "flush before partition revocation failed; the next owner replays the rest");
            }
        }
        let (list, moved) = self.commit_list(Some(&revoked));
        if list.count() > 0 {
            match consumer.commit(&list, CommitMode::Sync) {
                Ok(()) => self.committed(&moved),
                Err(e) => tracing::warn!(error = %e, "commit before partition revocation failed"),
            }
        }
        let mut parts = self.lock();
        for pid in &revoked {
            parts.assigned.remove(pid);
            parts.consumed_next.remove(pid);
            parts.committed.remove(pid);
        }
        self.ingester
            .metrics
            .kafka_partitions_assigned
            .store(parts.assigned.len() as u64, Ordering::Relaxed);
        let any = !parts.assigned.is_empty();
        drop(parts);
        self.owns(any);
        tracing::info!(partitions = revoked.len(), "Kafka partitions revoked");
    }
}

impl ClientContext for IngesterContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        kafka_log::forward(level, fac, log_message);
    }

    /// Lag per partition: the high watermark minus the next offset this ingester will apply
    /// (the client's own `consumer_lag`, measured from the committed offset, before the first
    /// record).
    fn stats(&self, statistics: Statistics) {
        let consumed = self.lock().consumed_next.clone();
        let mut lag = self
            .ingester
            .metrics
            .partition_lag
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        lag.clear();
        for (topic, t) in &statistics.topics {
            for (p, part) in &t.partitions {
                if *p < 0 {
                    continue;
                }
                let value = match self.pid(topic, *p).and_then(|pid| consumed.get(&pid)) {
                    Some(next) if part.hi_offset >= 0 => (part.hi_offset - *next as i64).max(0),
                    _ => part.consumer_lag,
                };
                if value >= 0 {
                    lag.insert((topic.clone(), *p), value);
                }
            }
        }
    }
}

impl ConsumerContext for IngesterContext {
    /// Asynchronous commits count as done only when the broker acknowledged them (a failed
    /// one is sent again at the next tick).
    fn commit_callback(&self, result: rdkafka::error::KafkaResult<()>, offsets: &TopicPartitionList) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "Kafka offset commit failed; retried at the next flush check");
            return;
        }
        let done: Vec<(u32, u64)> = offsets
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) if o >= 0 => Some((self.pid(e.topic(), e.partition())?, o as u64)),
                _ => None,
            })
            .collect();
        self.committed(&done);
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.revoke(consumer, tpl);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                // Start unpaused; the next poll pauses the whole assignment if still over the limit.
                let _ = consumer.resume(tpl);
                self.paused.store(false, Ordering::SeqCst);
                let pids: Vec<u32> = tpl
                    .elements()
                    .iter()
                    .filter_map(|e| self.pid(e.topic(), e.partition()))
                    .collect();
                tracing::info!(partitions = ?pids.iter().map(|p| p & 0xF_FFFF).collect::<Vec<_>>(), "Kafka partitions assigned");
                let mut parts = self.lock();
                parts.assigned.extend(pids);
                self.ingester
                    .metrics
                    .kafka_partitions_assigned
                    .store(parts.assigned.len() as u64, Ordering::Relaxed);
                let any = !parts.assigned.is_empty();
                drop(parts);
                self.owns(any);
                self.check_assignment();
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!(error = %e, "Kafka rebalance failed"),
        }
    }
}

/// The ingester's Kafka consumer.
pub struct KafkaSource {
    consumer: StreamConsumer<IngesterContext>,
    decoder: RecordDecoder,
    limits: Limits,
    max_memory_bytes: usize,
    last_error_log: Option<std::time::Instant>,
}

/// Consumer errors are logged at most this often.
const ERROR_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

impl KafkaSource {
    /// Joins `settings.group` and subscribes to `settings.topic` (created when missing). Must be
    /// called on a multi-threaded tokio runtime (rebalance callbacks flush from within polling).
    pub async fn connect(
        settings: &KafkaSettings,
        ingester: Arc<Ingester>,
        limits: &Limits,
        max_memory_bytes: usize,
    ) -> Result<Self> {
        settings.ensure_topic().await?;
        let context = IngesterContext {
            ingester,
            topics: vec![settings.topic.clone()],
            partitions: Mutex::default(),
            handle: tokio::runtime::Handle::current(),
            closing: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            unassigned_since: Mutex::new(Some(Instant::now())),
            unassigned_warned: Mutex::new(None),
            session_timeout: settings.session_timeout(),
            group: settings.group.clone(),
        };
        let session_ms = crate::kafka_config::DEFAULT_SESSION_TIMEOUT
            .as_millis()
            .to_string();
        let mut overrides: Vec<(&str, &str)> = vec![
            ("group.id", settings.group.as_str()),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", session_ms.as_str()),
            ("heartbeat.interval.ms", "1000"),
            ("statistics.interval.ms", "5000"),
            ("topic.metadata.refresh.interval.ms", "5000"),
            // Bound what sits fetched ahead of the ingester (librdkafka's defaults, 64 MB
            // queued and 50 MB a fetch, cost ~90 MB of RSS at 100k lines/s; 4 MB queued
            // and 8 MB a fetch still keep a 2-core ingester busy).
            ("queued.max.messages.kbytes", "4096"),
            ("fetch.max.bytes", "8388608"),
            // Some brokers (librdkafka's mock cluster among them) answer a fetch with more
            // than the fetch limits ask for; a response over this limit drops the connection.
            ("receive.message.max.bytes", "200000000"),
        ];
        if let Some(id) = &settings.instance_id {
            overrides.push(("group.instance.id", id.as_str()));
        }
        let consumer: StreamConsumer<IngesterContext> = settings
            .client_config(&overrides)
            .create_with_context(context)
            .map_err(|e| kafka_err(format!("creating a consumer for {}", settings.brokers), e))?;
        consumer
            .subscribe(&[settings.topic.as_str()])
            .map_err(|e| kafka_err(format!("subscribing to {:?}", settings.topic), e))?;
        tracing::info!(
            topic = %settings.topic,
            group = %settings.group,
            instance_id = settings.instance_id.as_deref().unwrap_or("(dynamic membership)"),
            "consuming from Kafka"
        );
        Ok(KafkaSource {
            consumer,
            decoder: RecordDecoder {
                topic_prefix: settings.topic_prefix.clone(),
                key_label: settings.partition_label.clone(),
            },
            limits: limits.sizes_only(),
            max_memory_bytes,
            last_error_log: None,
        })
    }

    fn to_record(&self, msg: &BorrowedMessage<'_>) -> Option<SourceRecord> {
        let context = self.consumer.context();
        let partition = context.pid(msg.topic(), msg.partition())?;
        let headers: Vec<(&str, &[u8])> = msg
            .headers()
            .map(|h| h.iter().filter_map(|h| h.value.map(|v| (h.key, v))).collect())
            .unwrap_or_default();
        let meta = RecordMeta {
            topic: msg.topic(),
            partition: msg.partition(),
            offset: msg.offset(),
            key: msg.key(),
            timestamp_ms: msg.timestamp().to_millis(),
            headers: &headers,
        };
        let value = msg.payload().unwrap_or_default();
        let batch = self
            .decoder
            .decode(value, &meta, now_ns())
            .and_then(|b| {
                self.limits
                    .check(&b, 0)
                    .map(|()| b)
                    .map_err(|e| PushDecodeError(e.to_string()))
            })
            .map_err(|e| format!("record {}/{}@{}: {e}", msg.topic(), msg.partition(), msg.offset()));
        Some(SourceRecord {
            position: Position {
                partition,
                offset: msg.offset().max(0) as u64,
            },
            batch,
            bytes: value.len(),
        })
    }

    /// Pauses the assignment while the head is over its memory limit, resumes below it.
    fn apply_backpressure(&mut self) {
        let context = self.consumer.context();
        let (_, bytes) = context.ingester.memory();
        let over = bytes > self.max_memory_bytes;
        if over == context.paused.load(Ordering::SeqCst) {
            return;
        }
        let Ok(assignment) = self.consumer.assignment() else {
            return;
        };
        let result = if over {
            self.consumer.pause(&assignment)
        } else {
            self.consumer.resume(&assignment)
        };
        match result {
            Ok(()) => {
                context.paused.store(over, Ordering::SeqCst);
                if over {
                    tracing::warn!(
                        memory_bytes = bytes,
                        limit = self.max_memory_bytes,
                        "memory over its limit (flushes failing or slow): Kafka consumption paused"
                    );
                } else {
                    tracing::info!(memory_bytes = bytes, "Kafka consumption resumed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "pausing or resuming Kafka consumption failed"),
        }
    }
}

impl Source for KafkaSource {
    fn next(&mut self) -> BoxFuture<'_, Option<SourceRecord>> {
        Box::pin(async move {
            self.apply_backpressure();
            loop {
                match self.consumer.recv().await {
                    Ok(msg) => {
                        if let Some(r) = self.to_record(&msg) {
                            return Some(r);
                        }
                    }
                    Err(e) => {
                        // The client retries by itself; say so once per interval, not per poll.
                        if self
                            .last_error_log
                            .is_none_or(|t| t.elapsed() > ERROR_LOG_INTERVAL)
                        {
                            tracing::warn!(error = %e, "Kafka consumer error (retrying)");
                            self.last_error_log = Some(std::time::Instant::now());
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                }
            }
        })
    }

    fn try_next(&mut self) -> Option<SourceRecord> {
        // Records not yet read stay in Kafka; nothing is lost by not reading them now.
        None
    }

    fn consumed(&mut self, position: Position) {
        let mut parts = self.consumer.context().lock();
        if parts.assigned.contains(&position.partition) {
            parts
                .consumed_next
                .insert(position.partition, position.offset + 1);
        }
    }

    fn commit<'a>(&'a mut self, _ingester: &'a Ingester, last: bool) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let context = self.consumer.context();
            context.check_assignment();
            if last {
                context.closing.store(true, Ordering::SeqCst);
            }
            let (list, moved) = context.commit_list(None);
            if list.count() == 0 {
                return;
            }
            let mode = if last { CommitMode::Sync } else { CommitMode::Async };
            let result = if last {
                tokio::task::block_in_place(|| self.consumer.commit(&list, mode))
            } else {
                self.consumer.commit(&list, mode)
            };
            match result {
                // An asynchronous commit is confirmed in `commit_callback`.
                Ok(()) if last => context.committed(&moved),
                Ok(()) => {}
                Err(e) => tracing::warn!(error = %e, "committing Kafka offsets failed"),
            }
        })
    }
}
