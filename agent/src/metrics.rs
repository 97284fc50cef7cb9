//! The agent's counters, shared between the pipeline, the inputs and the `/metrics` endpoint,
//! rendered in the Prometheus text format (`logq_agent_<name>_<unit>`, `_total` for counters).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Counters and gauges of one agent.
#[derive(Debug, Default)]
pub struct AgentMetrics {
    /// Files being followed (gauge).
    pub files_watched: AtomicU64,
    /// Bytes not yet acknowledged, summed over followed files (gauge).
    pub lag_bytes: AtomicU64,
    /// Bytes read from files.
    pub bytes_read: AtomicU64,
    /// Lines read from files.
    pub lines_read: AtomicU64,
    /// Entries acknowledged by the output.
    pub lines_sent: AtomicU64,
    /// Batches acknowledged by the output.
    pub batches_sent: AtomicU64,
    /// Failed sends that were retried.
    pub send_retries: AtomicU64,
    /// Entries the output refused for good.
    pub lines_rejected: AtomicU64,
    /// Lines skipped as older than `max_age`.
    pub lines_too_old: AtomicU64,
    /// Lines sent with the read time because their own timestamp was outside the window.
    pub lines_restamped: AtomicU64,
    /// Lines cut at the maximum size.
    pub lines_truncated: AtomicU64,
    /// Lines in which invalid UTF-8 was replaced.
    pub lines_invalid_utf8: AtomicU64,
    /// File truncations and rewrites detected.
    pub file_truncations: AtomicU64,
    /// Syslog messages received.
    pub syslog_received: AtomicU64,
    /// Syslog UDP messages dropped on a full queue.
    pub syslog_dropped: AtomicU64,
    /// Bytes not yet acknowledged per followed file, by path (gauge).
    pub file_lag: Mutex<BTreeMap<String, u64>>,
}

impl AgentMetrics {
    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let rows: [(&str, &str, &AtomicU64, &str); 15] = [
            (
                "logq_agent_files_watched",
                "gauge",
                &self.files_watched,
                "Files being followed.",
            ),
            (
                "logq_agent_lag_bytes",
                "gauge",
                &self.lag_bytes,
                "Bytes of followed files not yet acknowledged.",
            ),
            (
                "logq_agent_read_bytes_total",
                "counter",
                &self.bytes_read,
                "Bytes read from files.",
            ),
            (
                "logq_agent_read_lines_total",
                "counter",
                &self.lines_read,
                "Lines read from files.",
            ),
            (
                "logq_agent_sent_lines_total",
                "counter",
                &self.lines_sent,
                "Entries acknowledged by the output.",
            ),
            (
                "logq_agent_sent_batches_total",
                "counter",
                &self.batches_sent,
                "Batches acknowledged by the output.",
            ),
            (
                "logq_agent_send_retries_total",
                "counter",
                &self.send_retries,
                "Failed sends that were retried.",
            ),
            (
                "logq_agent_rejected_lines_total",
                "counter",
                &self.lines_rejected,
                "Entries the output refused for good (recorded in the dead-letter file).",
            ),
            (
                "logq_agent_too_old_lines_total",
                "counter",
                &self.lines_too_old,
                "Lines skipped as older than max_age.",
            ),
            (
                "logq_agent_restamped_lines_total",
                "counter",
                &self.lines_restamped,
                "Lines sent with their read time because their own timestamp was outside the accepted window.",
            ),
            (
                "logq_agent_truncated_lines_total",
                "counter",
                &self.lines_truncated,
                "Lines cut at the maximum size.",
            ),
            (
                "logq_agent_invalid_utf8_lines_total",
                "counter",
                &self.lines_invalid_utf8,
                "Lines with invalid UTF-8 replaced.",
            ),
            (
                "logq_agent_file_truncations_total",
                "counter",
                &self.file_truncations,
                "File truncations and rewrites detected.",
            ),
            (
                "logq_agent_syslog_received_total",
                "counter",
                &self.syslog_received,
                "Syslog messages received.",
            ),
            (
                "logq_agent_syslog_dropped_total",
                "counter",
                &self.syslog_dropped,
                "Syslog UDP messages dropped on a full queue.",
            ),
        ];
        let mut out = String::new();
        for (name, kind, v, help) in rows {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}\n",
                v.load(Ordering::Relaxed)
            ));
        }
        let file_lag = self.file_lag.lock().unwrap_or_else(|p| p.into_inner());
        out.push_str(
            "# HELP logq_agent_file_lag_bytes Bytes of a followed file not yet acknowledged.\n\
             # TYPE logq_agent_file_lag_bytes gauge\n",
        );
        for (path, lag) in file_lag.iter() {
            out.push_str(&format!(
                "logq_agent_file_lag_bytes{{path=\"{}\"}} {lag}\n",
                escape_label_value(path)
            ));
        }
        out
    }
}

/// A Prometheus label value with backslashes, double quotes and newlines escaped.
fn escape_label_value(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric() {
        let m = AgentMetrics::default();
        m.lines_sent.store(42, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("# TYPE logq_agent_sent_lines_total counter\nlogq_agent_sent_lines_total 42\n"));
        assert_eq!(text.matches("# TYPE").count(), 16);
    }

    #[test]
    fn renders_lag_per_file_with_escaped_paths() {
        let m = AgentMetrics::default();
        m.file_lag.lock().unwrap().extend([
            ("/var/log/a.log".to_string(), 10),
            ("/tmp/we\"ird.log".to_string(), 0),
        ]);
        let text = m.render();
        assert!(
            text.contains("logq_agent_file_lag_bytes{path=\"/var/log/a.log\"} 10\n"),
            "{text}"
        );
        assert!(
            text.contains("logq_agent_file_lag_bytes{path=\"/tmp/we\\\"ird.log\"} 0\n"),
            "{text}"
        );
    }
}
