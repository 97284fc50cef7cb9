//! `/metrics` in the Prometheus text format: counters and gauges of the ingester and the API.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use logq_ingester::{Distributor, Ingester};
use logq_storage::TenantId;

/// API counters.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    /// Push requests accepted.
    pub push_requests: AtomicU64,
    /// Push requests rejected with 4xx.
    pub push_rejected: AtomicU64,
    /// Lines whose invalid UTF-8 was replaced.
    pub invalid_utf8_lines: AtomicU64,
    /// Queries answered.
    pub queries: AtomicU64,
    /// Entries refused per (Loki reason, tenant): `logq_discarded_samples_total`.
    discarded: Mutex<BTreeMap<(&'static str, String), u64>>,
}

impl ApiMetrics {
    /// Counts `n` entries of `tenant` discarded for `reason` (one of Loki's reason names).
    pub fn discard(&self, reason: &'static str, tenant: &TenantId, n: u64) {
        if n == 0 {
            return;
        }
        let mut d = self.discarded.lock().unwrap_or_else(|p| p.into_inner());
        *d.entry((reason, tenant.as_str().to_string())).or_default() += n;
    }
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
}

/// `logq_discarded_samples_total{reason,tenant}`, as Loki's `loki_discarded_samples_total`.
fn render_discarded(out: &mut String, api: &ApiMetrics) {
    let _ = writeln!(
        out,
        "# HELP logq_discarded_samples_total Entries refused at push, by Loki's reason.\n# TYPE logq_discarded_samples_total counter"
    );
    let d = api.discarded.lock().unwrap_or_else(|p| p.into_inner());
    for ((reason, tenant), n) in d.iter() {
        let tenant = tenant.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(
            out,
            "logq_discarded_samples_total{{reason=\"{reason}\",tenant=\"{tenant}\"}} {n}"
        );
    }
}

/// Renders every metric.
pub fn render(api: &ApiMetrics, ingester: &Ingester, distributor: &dyn Distributor) -> String {
    let mut out = String::new();
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    metric(
        &mut out,
        "logq_api_push_requests_total",
        "counter",
        "Push requests accepted.",
        get(&api.push_requests),
    );
    metric(
        &mut out,
        "logq_api_push_rejected_total",
        "counter",
        "Push requests rejected as invalid.",
        get(&api.push_rejected),
    );
    metric(
        &mut out,
        "logq_api_invalid_utf8_lines_total",
        "counter",
        "Lines whose invalid UTF-8 was replaced.",
        get(&api.invalid_utf8_lines),
    );
    metric(
        &mut out,
        "logq_api_queries_total",
        "counter",
        "Queries answered.",
        get(&api.queries),
    );
    render_discarded(&mut out, api);
    let m = &ingester.metrics;
    metric(
        &mut out,
        "logq_ingester_entries_total",
        "counter",
        "Entries appended to in-memory chunks.",
        get(&m.entries_ingested),
    );
    metric(
        &mut out,
        "logq_ingester_duplicate_entries_total",
        "counter",
        "Entries dropped as duplicates.",
        get(&m.entries_duplicate),
    );
    metric(
        &mut out,
        "logq_ingester_decode_errors_total",
        "counter",
        "Source records that failed to decode.",
        get(&m.decode_errors),
    );
    metric(
        &mut out,
        "logq_ingester_chunks_flushed_total",
        "counter",
        "Chunk objects written.",
        get(&m.chunks_flushed),
    );
    metric(
        &mut out,
        "logq_ingester_flush_failures_total",
        "counter",
        "Chunk flushes that failed.",
        get(&m.flush_failures),
    );
    metric(
        &mut out,
        "logq_ingester_records_consumed_total",
        "counter",
        "Source records (WAL or Kafka) read, decoded or not.",
        get(&m.records_consumed),
    );
    metric(
        &mut out,
        "logq_ingester_record_bytes_consumed_total",
        "counter",
        "Bytes of source record values read.",
        get(&m.record_bytes_consumed),
    );
    let _ = writeln!(
        out,
        "# HELP logq_ingester_flush_duration_seconds Time spent writing chunk objects and listing them in the manifest.\n# TYPE logq_ingester_flush_duration_seconds summary\nlogq_ingester_flush_duration_seconds_sum {}\nlogq_ingester_flush_duration_seconds_count {}",
        get(&m.flush_seconds_micros) as f64 / 1e6,
        get(&m.chunks_flushed)
    );
    metric(
        &mut out,
        "logq_ingester_kafka_partitions_assigned",
        "gauge",
        "Kafka partitions this ingester owns.",
        get(&m.kafka_partitions_assigned),
    );
    metric(
        &mut out,
        "logq_ingester_kafka_unassigned_seconds",
        "gauge",
        "How long this ingester has owned no Kafka partition (0 while it owns some).",
        get(&m.kafka_unassigned_seconds),
    );
    let lag = m.partition_lag.lock().unwrap_or_else(|p| p.into_inner());
    if !lag.is_empty() {
        let _ = writeln!(
            out,
            "# HELP logq_ingester_kafka_consumer_lag Records in a Kafka partition not consumed yet.\n# TYPE logq_ingester_kafka_consumer_lag gauge"
        );
        for ((topic, partition), value) in lag.iter() {
            let _ = writeln!(
                out,
                "logq_ingester_kafka_consumer_lag{{topic=\"{topic}\",partition=\"{partition}\"}} {value}"
            );
        }
    }
    drop(lag);
    let (entries, bytes) = ingester.memory();
    metric(
        &mut out,
        "logq_ingester_memory_entries",
        "gauge",
        "Entries held in memory.",
        entries as u64,
    );
    metric(
        &mut out,
        "logq_ingester_memory_bytes",
        "gauge",
        "Line bytes held in memory.",
        bytes as u64,
    );
    distributor.render_metrics(&mut out);
    out
}
