//! Limits every push is checked against before it is accepted (HTTP 400 with the reason), so
//! nothing accepted is dropped later. Wording follows Loki's where Loki has one.

use logq_storage::{Entry, LabelSet, LabelsError, PushBatch};

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

    /// Checks a batch at wall-clock time `now` (ns): the first violation, if any.
    pub fn check(&self, batch: &PushBatch, now: i64) -> Result<(), IngestError> {
        for s in &batch.streams {
            if let Some((_, e)) = self.stream_violation(&s.labels) {
                return Err(IngestError::Invalid(e));
            }
            for e in &s.entries {
                if let Some((_, e)) = self.entry_violation(&s.labels, e, now) {
                    return Err(IngestError::Invalid(e));
                }
            }
        }
        Ok(())
    }

    /// Loki's partial acceptance: removes from `batch` every entry that breaks a limit and
    /// returns them, keeping the valid ones. `positions[i]` is the request index of
    /// `batch.streams[i]` (reported in each [`Rejection`]); streams left empty are removed.
    pub fn retain_valid(&self, batch: &mut PushBatch, positions: &[usize], now: i64) -> Vec<Rejection> {
        let mut rejected = Vec::new();
        for (i, s) in batch.streams.iter_mut().enumerate() {
            let stream = positions.get(i).copied().unwrap_or(i);
            let labels = s.labels.to_string();
            let whole = self.stream_violation(&s.labels);
            let mut index = 0;
            s.entries.retain(|e| {
                let entry = index;
                index += 1;
                let Some((reason, error)) = whole.clone().or_else(|| self.entry_violation(&s.labels, e, now))
                else {
                    return true;
                };
                rejected.push(Rejection {
                    stream,
                    entry,
                    labels: labels.clone(),
                    ts: e.ts,
                    reason,
                    error,
                });
                false
            });
        }
        batch.streams.retain(|s| !s.entries.is_empty());
        rejected
    }

    fn stream_violation(&self, labels: &LabelSet) -> Option<(&'static str, String)> {
        (labels.len() > self.max_labels_per_stream).then(|| {
            (
                reason::MAX_LABEL_NAMES_PER_SERIES,
                format!(
                    "entry for stream '{labels}' has {} label names; limit {}",
                    labels.len(),
                    self.max_labels_per_stream
                ),
            )
        })
    }

    /// Loki's order: too old, too new, too long.
    fn entry_violation(&self, labels: &LabelSet, e: &Entry, now: i64) -> Option<(&'static str, String)> {
        let oldest = now.saturating_sub(self.reject_older_than_ns);
        let newest = now.saturating_add(self.creation_grace_ns);
        if e.ts < oldest {
            return Some((
                reason::GREATER_THAN_MAX_SAMPLE_AGE,
                format!(
                    "entry for stream '{labels}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                    rfc3339(e.ts),
                    rfc3339(oldest)
                ),
            ));
        }
        if e.ts > newest {
            return Some((
                reason::TOO_FAR_IN_FUTURE,
                format!(
                    "entry for stream '{labels}' has timestamp too new: {}",
                    rfc3339(e.ts)
                ),
            ));
        }
        if e.line.len() > self.max_line_bytes {
            return Some((
                reason::LINE_TOO_LONG,
                format!(
                    "Max entry size '{}' bytes exceeded for stream '{labels}' while adding an entry with length '{}' bytes",
                    self.max_line_bytes,
                    e.line.len()
                ),
            ));
        }
        None
    }
}

/// A time as Loki prints it in validation errors (Go's RFC 3339, UTC).
fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Loki's names for why entries are discarded (the `reason` of
/// `loki_discarded_samples_total`).
pub mod reason {
    /// The line is longer than the limit.
    pub const LINE_TOO_LONG: &str = "line_too_long";
    /// Older than `now - reject_old_samples_max_age`.
    pub const GREATER_THAN_MAX_SAMPLE_AGE: &str = "greater_than_max_sample_age";
    /// Newer than `now + creation_grace_period`.
    pub const TOO_FAR_IN_FUTURE: &str = "too_far_in_future";
    /// More label names than the limit.
    pub const MAX_LABEL_NAMES_PER_SERIES: &str = "max_label_names_per_series";
    /// Labels that cannot be parsed or have an invalid name.
    pub const INVALID_LABELS: &str = "invalid_labels";
    /// A stream without labels.
    pub const MISSING_LABELS: &str = "missing_labels";
    /// The same label name twice.
    pub const DUPLICATE_LABEL_NAMES: &str = "duplicate_label_names";
    /// Over the tenant's ingestion rate.
    pub const RATE_LIMITED: &str = "rate_limited";
}

/// Loki's reason and error text for a stream whose labels were refused while decoding.
pub fn label_rejection(labels: &str, err: &LabelsError) -> (&'static str, String) {
    match err {
        LabelsError::Empty => (
            reason::MISSING_LABELS,
            "error at least one label pair is required per stream".to_string(),
        ),
        LabelsError::Duplicate(name) => (
            reason::DUPLICATE_LABEL_NAMES,
            format!("stream '{labels}' has duplicate label name: '{name}'"),
        ),
        LabelsError::InvalidName(_) | LabelsError::Syntax { .. } => (
            reason::INVALID_LABELS,
            format!("Error parsing labels '{labels}' with error: {err}"),
        ),
    }
}

/// One refused entry of a push: where it was in the request and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Index of its stream in the request.
    pub stream: usize,
    /// Index of the entry within that stream.
    pub entry: usize,
    /// The stream's labels (text form).
    pub labels: String,
    /// The entry's timestamp (Unix ns).
    pub ts: i64,
    /// Loki's reason name (see [`reason`]).
    pub reason: &'static str,
    /// Loki's error text.
    pub error: String,
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
        assert!(e.contains("Max entry size '5' bytes exceeded"), "{e}");
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

    #[test]
    fn retain_valid_keeps_the_good_entries_and_names_the_rest() {
        let l = Limits {
            max_line_bytes: 5,
            ..Default::default()
        };
        let now = 1_700_000_000_000_000_000;
        let mut b = batch(now, "ok");
        let old = now - l.reject_older_than_ns - 1;
        b.streams[0].entries.push(Entry {
            ts: old,
            id: 1,
            line: "x".into(),
            metadata: vec![],
        });
        b.streams[0].entries.push(Entry {
            ts: now,
            id: 2,
            line: "far too long".into(),
            metadata: vec![],
        });
        b.streams[0].entries.push(Entry {
            ts: now + l.creation_grace_ns + 1,
            id: 3,
            line: "new".into(),
            metadata: vec![],
        });
        let r = l.retain_valid(&mut b, &[4], now);
        assert_eq!(b.entry_count(), 1);
        assert_eq!(b.streams[0].entries[0].line, "ok");
        let got: Vec<(usize, usize, &str)> = r.iter().map(|r| (r.stream, r.entry, r.reason)).collect();
        assert_eq!(
            got,
            vec![
                (4, 1, reason::GREATER_THAN_MAX_SAMPLE_AGE),
                (4, 2, reason::LINE_TOO_LONG),
                (4, 3, reason::TOO_FAR_IN_FUTURE),
            ]
        );
        assert_eq!(
            r[0].error,
            "entry for stream '{a=\"b\"}' has timestamp too old: 2023-11-07T22:13:19Z, oldest acceptable timestamp is: 2023-11-07T22:13:20Z"
        );
        assert_eq!(r[0].ts, old);
        assert!(r[1]
            .error
            .starts_with("Max entry size '5' bytes exceeded for stream '{a=\"b\"}'"));

        let mut all_bad = batch(old, "x");
        assert_eq!(l.retain_valid(&mut all_bad, &[0], now).len(), 1);
        assert!(all_bad.streams.is_empty());
    }

    #[test]
    fn label_errors_get_lokis_reasons() {
        assert_eq!(
            label_rejection("{}", &LabelsError::Empty).0,
            reason::MISSING_LABELS
        );
        let (r, e) = label_rejection("{1a=\"b\"}", &LabelsError::InvalidName("1a".into()));
        assert_eq!(r, reason::INVALID_LABELS);
        assert!(
            e.starts_with("Error parsing labels '{1a=\"b\"}' with error:"),
            "{e}"
        );
    }
}
