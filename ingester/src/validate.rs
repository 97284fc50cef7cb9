//! Limits every push is checked against before it is accepted (HTTP 400 with the reason), so
//! nothing accepted is dropped later. Wording follows Loki's where Loki has one.

use logq_storage::PushBatch;

use crate::error::IngestError;

/// Per-push limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest accepted line, in bytes.
    pub max_line_bytes: usize,
    /// Most labels per stream.
    pub max_labels_per_stream: usize,
    /// Oldest accepted entry, relative to now.
    pub reject_older_than_ns: i64,
    /// Newest accepted entry, relative to now.
    pub creation_grace_ns: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_bytes: 256 * 1024,
            max_labels_per_stream: 15,
            reject_older_than_ns: 7 * 24 * 3600 * 1_000_000_000,
            creation_grace_ns: 10 * 60 * 1_000_000_000,
        }
    }
}

impl Limits {
    /// These limits without the age checks: for records already accepted upstream (a Kafka
    /// record replayed days later must not be refused as too old), only sizes are checked.
    pub fn sizes_only(&self) -> Limits {
        Limits {
            reject_older_than_ns: i64::MAX / 2,
            creation_grace_ns: i64::MAX / 2,
            ..self.clone()
        }
    }

    /// Checks a batch at wall-clock time `now` (ns).
    pub fn check(&self, batch: &PushBatch, now: i64) -> Result<(), IngestError> {
        let oldest = now.saturating_sub(self.reject_older_than_ns);
        let newest = now.saturating_add(self.creation_grace_ns);
        for s in &batch.streams {
            if s.labels.len() > self.max_labels_per_stream {
                return Err(IngestError::Invalid(format!(
                    "stream '{}' has {} label names; limit {}",
                    s.labels,
                    s.labels.len(),
                    self.max_labels_per_stream
                )));
            }
            for e in &s.entries {
                if e.line.len() > self.max_line_bytes {
                    return Err(IngestError::Invalid(format!(
                        "max entry size '{}' bytes exceeded for stream '{}' while adding an entry with length '{}' bytes",
                        self.max_line_bytes,
                        s.labels,
                        e.line.len()
                    )));
                }
                if e.ts < oldest {
                    return Err(IngestError::Invalid(format!(
                        "entry for stream '{}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                        s.labels, e.ts, oldest
                    )));
                }
                if e.ts > newest {
                    return Err(IngestError::Invalid(format!(
                        "entry for stream '{}' has timestamp too new: {}",
                        s.labels, e.ts
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Anything that durably accepts pushes: the local WAL or Kafka.
pub trait Distributor: Send + Sync {
    /// Accepts a validated batch; returns once it is durable.
    fn push(&self, batch: PushBatch) -> futures::future::BoxFuture<'_, Result<(), IngestError>>;

    /// Appends this distributor's metrics in the Prometheus text format (none by default).
    fn render_metrics(&self, _out: &mut String) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use logq_storage::{Entry, LabelSet, StreamEntries, TenantId};

    fn batch(ts: i64, line: &str) -> PushBatch {
        PushBatch {
            tenant: TenantId::new("t").unwrap(),
            streams: vec![StreamEntries {
                labels: LabelSet::parse("{a=\"b\"}").unwrap(),
                entries: vec![Entry {
                    ts,
                    id: 0,
                    line: line.into(),
                    metadata: vec![],
                }],
            }],
        }
    }

    #[test]
    fn rejects_with_reasons() {
        let l = Limits {
            max_line_bytes: 5,
            ..Default::default()
        };
        let now = 1_000_000_000_000_000_000;
        assert!(l.check(&batch(now, "ok"), now).is_ok());
        let e = l.check(&batch(now, "too long"), now).unwrap_err().to_string();
        assert!(e.contains("max entry size '5' bytes exceeded"), "{e}");
        let e = l
            .check(&batch(now - l.reject_older_than_ns - 1, "x"), now)
            .unwrap_err()
            .to_string();
        assert!(e.contains("timestamp too old"), "{e}");
        let e = l
            .check(&batch(now + l.creation_grace_ns + 1, "x"), now)
            .unwrap_err()
            .to_string();
        assert!(e.contains("timestamp too new"), "{e}");
    }
}
