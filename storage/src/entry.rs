//! Log entries and push batches: the unit every ingest source produces and every store keeps.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::labels::LabelSet;
use crate::tenant::TenantId;

/// One log line of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Unix time in nanoseconds.
    pub ts: i64,
    /// Message id used for de-duplication: assigned by the agent, else [`derive_message_id`].
    pub id: u64,
    /// The line (valid UTF-8).
    pub line: String,
    /// Structured metadata: name/value pairs that are not stream labels.
    pub metadata: Vec<(String, String)>,
}

/// The message id of an entry that arrived without one: a hash of stream, timestamp and line,
/// so that the same line pushed twice (a client retry, a replay) is stored once.
pub fn derive_message_id(fingerprint: u64, ts: i64, line: &str) -> u64 {
    let mut h = Xxh3::new();
    h.update(&fingerprint.to_le_bytes());
    h.update(&ts.to_le_bytes());
    h.update(line.as_bytes());
    h.digest()
}

/// The entries of one stream within a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntries {
    /// The stream's labels.
    pub labels: LabelSet,
    /// Its entries, in arrival order.
    pub entries: Vec<Entry>,
}

/// One accepted push: what a WAL record or a Kafka record carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushBatch {
    /// Whose data this is.
    pub tenant: TenantId,
    /// The streams and their entries.
    pub streams: Vec<StreamEntries>,
}

impl PushBatch {
    /// Total number of entries.
    pub fn entry_count(&self) -> usize {
        self.streams.iter().map(|s| s.entries.len()).sum()
    }

    /// Total bytes of line text.
    pub fn line_bytes(&self) -> usize {
        self.streams
            .iter()
            .flat_map(|s| s.entries.iter())
            .map(|e| e.line.len())
            .sum()
    }
}
