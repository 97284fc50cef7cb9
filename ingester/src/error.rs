//! The ingester's error type.

use logq_storage::StorageError;

/// An ingest failure.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The write-ahead log failed.
    #[error("write-ahead log: {0}")]
    Wal(String),
    /// Object storage failed while flushing.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A push that breaks a limit or carries bad data (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// Kafka failed or is unreachable (HTTP 503: the client should retry).
    #[error("kafka: {0}")]
    Kafka(String),
    /// The ingester is shutting down.
    #[error("ingester is shutting down")]
    Closed,
}

/// Result alias for the ingester.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;
