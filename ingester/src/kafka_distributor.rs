//! Distributed mode's distributor: produces each accepted push to the Kafka topic and answers
//! only after Kafka acknowledged every record (idempotent producer, `acks=all`, zstd).
//!
//! A push is split by the value of the partition label (`host` by default), so all lines of a
//! host land in one partition in order; each group becomes one or more records of at most
//! [`MAX_RECORD_LINE_BYTES`] of estimated encoded size (brokers refuse records over ~1 MB; split
//! and encoded by `logq_storage::split_records` and `PushEncoder`). Record value: an
//! uncompressed Loki `PushRequest` carrying message ids; headers: `X-Scope-OrgID` (tenant),
//! `content-type: application/x-protobuf` and `content-encoding: identity`. The producer
//! compresses record batches with zstd (level 1): compressing the values too (snappy, as before)
//! cost more CPU for a larger result. Ingesters still read snappy values (records without the
//! encoding header), so they must be upgraded before the distributors and agents.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use logq_storage::{split_records, PushBatch, PushEncoder, TenantId};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use crate::error::{IngestError, Result};
use crate::kafka_config::{kafka_err, KafkaSettings};
use crate::kafka_log::LogContext;
use crate::kafka_record::{
    CONTENT_ENCODING_HEADER, CONTENT_TYPE_HEADER, IDENTITY_ENCODING, PROTOBUF_CONTENT_TYPE, TENANT_HEADER,
};
use crate::validate::Distributor;

/// Encoded size per record at most, estimated by [`logq_storage::entry_cost`] per entry (one
/// longer entry still makes a record of its own; brokers refuse records over about 1 MB).
pub const MAX_RECORD_LINE_BYTES: usize = 512 * 1024;
/// How long a push waits for room in the producer's queue before failing (503; clients retry);
/// delivery itself times out after librdkafka's `message.timeout.ms` (30 s).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Counters of the distributor.
#[derive(Debug, Default)]
pub struct DistributorMetrics {
    /// Records acknowledged by Kafka.
    pub records_produced: AtomicU64,
    /// Bytes of record values acknowledged.
    pub bytes_produced: AtomicU64,
    /// Records Kafka did not acknowledge.
    pub produce_errors: AtomicU64,
}

/// Produces pushes to Kafka.
pub struct KafkaDistributor {
    producer: FutureProducer<LogContext>,
    topic: String,
    partition_label: String,
    /// Counters.
    pub metrics: DistributorMetrics,
}

impl KafkaDistributor {
    /// Connects a producer and makes sure the topic exists.
    pub async fn connect(settings: &KafkaSettings) -> Result<Self> {
        settings.ensure_topic().await?;
        let producer: FutureProducer<LogContext> = settings
            .client_config(&[
                ("enable.idempotence", "true"),
                ("acks", "all"),
                ("compression.type", "zstd"),
                // Level 1: on log records about as small as the default level 3, for less CPU
                // (BENCHMARKS.md, agent).
                ("compression.level", "1"),
                ("linger.ms", "5"),
                ("message.timeout.ms", "30000"),
            ])
            .create_with_context(LogContext)
            .map_err(|e| kafka_err(format!("creating a producer for {}", settings.brokers), e))?;
        Ok(KafkaDistributor {
            producer,
            topic: settings.topic.clone(),
            partition_label: settings.partition_label.clone(),
            metrics: DistributorMetrics::default(),
        })
    }

    /// Produces a push (as `tenant` when given, else its own) and waits until Kafka
    /// acknowledged every record. The batch is only borrowed: each record is encoded into one
    /// reusable buffer and handed to the producer (which copies it) before the next is encoded,
    /// so a push costs no copy of its own.
    pub async fn push_ref(&self, batch: &PushBatch, tenant: Option<&TenantId>) -> Result<()> {
        let tenant = tenant.unwrap_or(&batch.tenant);
        let mut encoder = PushEncoder::new();
        let mut pending = Vec::new();
        let mut result = Ok(());
        for r in split_records(batch, &self.partition_label, MAX_RECORD_LINE_BYTES) {
            let value = encoder.encode_raw(&r.parts);
            match self.enqueue(r.key, value, tenant).await {
                Ok(delivery) => pending.push((delivery, value.len())),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        // Wait for every enqueued record, even after an error: the caller retries the push.
        for (delivery, len) in pending {
            let error = match delivery.await {
                Ok(Ok(_)) => {
                    self.metrics.records_produced.fetch_add(1, Ordering::Relaxed);
                    self.metrics
                        .bytes_produced
                        .fetch_add(len as u64, Ordering::Relaxed);
                    continue;
                }
                Ok(Err((e, _))) => kafka_err(format!("producing to topic {:?}", self.topic), e),
                Err(_) => IngestError::Kafka(format!("producing to topic {:?}: producer closed", self.topic)),
            };
            self.metrics.produce_errors.fetch_add(1, Ordering::Relaxed);
            if result.is_ok() {
                result = Err(error);
            }
        }
        result
    }

    /// Splits a push by partition-label value, then by size, and encodes each record's value.
    #[cfg(test)]
    fn records<'a>(&self, batch: &'a PushBatch) -> Vec<(&'a str, Vec<u8>)> {
        let mut encoder = PushEncoder::new();
        split_records(batch, &self.partition_label, MAX_RECORD_LINE_BYTES)
            .into_iter()
            .map(|r| (r.key, encoder.encode_raw(&r.parts).to_vec()))
            .collect()
    }

    /// Hands one record to the producer (which copies `value`), waiting while its queue is
    /// full (for at most [`DELIVERY_TIMEOUT`]).
    async fn enqueue(&self, key: &str, value: &[u8], tenant: &TenantId) -> Result<DeliveryFuture> {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: TENANT_HEADER,
                value: Some(tenant.as_str()),
            })
            .insert(Header {
                key: CONTENT_TYPE_HEADER,
                value: Some(PROTOBUF_CONTENT_TYPE),
            })
            .insert(Header {
                key: CONTENT_ENCODING_HEADER,
                value: Some(IDENTITY_ENCODING),
            });
        let mut record = FutureRecord::to(&self.topic).payload(value).headers(headers);
        if !key.is_empty() {
            record = record.key(key);
        }
        let started = Instant::now();
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r))
                    if started.elapsed() < DELIVERY_TIMEOUT =>
                {
                    record = r;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err((e, _)) => {
                    self.metrics.produce_errors.fetch_add(1, Ordering::Relaxed);
                    return Err(kafka_err(format!("producing to topic {:?}", self.topic), e));
                }
            }
        }
    }
}

impl Distributor for KafkaDistributor {
    fn push(&self, batch: PushBatch) -> BoxFuture<'_, Result<(), IngestError>> {
        Box::pin(async move { self.push_ref(&batch, None).await })
    }

    fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let m = &self.metrics;
        for (name, help, value) in [
            (
                "logq_distributor_kafka_records_total",
                "Records Kafka acknowledged.",
                &m.records_produced,
            ),
            (
                "logq_distributor_kafka_bytes_total",
                "Bytes of record values Kafka acknowledged.",
                &m.bytes_produced,
            ),
            (
                "logq_distributor_kafka_errors_total",
                "Records Kafka did not acknowledge.",
                &m.produce_errors,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logq_storage::{Entry, LabelSet, StreamEntries};

    fn stream(labels: &str, lines: &[usize]) -> StreamEntries {
        StreamEntries {
            labels: LabelSet::parse(labels).unwrap(),
            entries: lines
                .iter()
                .enumerate()
                .map(|(i, n)| Entry {
                    ts: i as i64,
                    id: i as u64,
                    line: "x".repeat(*n),
                    metadata: vec![],
                })
                .collect(),
        }
    }

    #[tokio::test]
    async fn pushes_split_by_host_and_size_keep_every_entry_once() {
        let settings = KafkaSettings::new("127.0.0.1:1", "h-", "test");
        // The producer is created lazily by librdkafka: no broker is contacted here.
        let producer: FutureProducer<LogContext> = settings
            .client_config(&[])
            .create_with_context(LogContext)
            .unwrap();
        let d = KafkaDistributor {
            producer,
            topic: settings.topic,
            partition_label: "host".into(),
            metrics: DistributorMetrics::default(),
        };
        let big = MAX_RECORD_LINE_BYTES / 3;
        let batch = PushBatch {
            tenant: TenantId::new("t").unwrap(),
            streams: vec![
                stream(r#"{host="a",s="1"}"#, &[big, big, big, big]),
                stream(r#"{host="b"}"#, &[10, 20]),
                stream(r#"{host="a",s="2"}"#, &[5]),
                stream(r#"{app="nohost"}"#, &[7]),
            ],
        };
        let total = batch.entry_count();
        let records = d.records(&batch);
        let keys: Vec<&str> = records.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["", "a", "a", "b"]);
        let mut stats = logq_storage::push::DecodeStats::default();
        let decoded: Vec<PushBatch> = records
            .iter()
            .map(|(_, v)| {
                logq_storage::push::decode_protobuf_raw(batch.tenant.clone(), v, &mut stats).unwrap()
            })
            .collect();
        assert_eq!(decoded.iter().map(|b| b.entry_count()).sum::<usize>(), total);
        for ((_, v), b) in records.iter().zip(&decoded) {
            assert!(b.line_bytes() <= MAX_RECORD_LINE_BYTES, "{}", b.line_bytes());
            assert!(v.len() <= MAX_RECORD_LINE_BYTES * 2);
            assert!(b.streams.iter().all(|s| !s.entries.is_empty()));
        }
    }
}
