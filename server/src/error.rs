//! [`ServerError`]: why a server could not start or stopped with an error.

use logq_ingester::IngestError;
use logq_storage::StorageError;

/// A server failure; the message names the setting or the resource involved.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is invalid: `<key>: <reason>`.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A file, directory or socket could not be used.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (`listening on 127.0.0.1:3100`).
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The object store failed.
    #[error("{context}: {source}")]
    Storage {
        /// What was being done (`opening object store s3://b`).
        context: String,
        /// The storage error.
        source: StorageError,
    },
    /// The write-ahead log or Kafka failed.
    #[error("{context}: {source}")]
    Ingest {
        /// What was being done (`connecting to Kafka at k:9092`).
        context: String,
        /// The ingest error.
        source: IngestError,
    },
    /// A background task of the server failed or panicked.
    #[error("{0} task failed")]
    Task(&'static str),
}

impl ServerError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
        let context = context.into();
        move |source| ServerError::Io { context, source }
    }

    pub(crate) fn storage(context: impl Into<String>) -> impl FnOnce(StorageError) -> ServerError {
        let context = context.into();
        move |source| ServerError::Storage { context, source }
    }

    pub(crate) fn ingest(context: impl Into<String>) -> impl FnOnce(IngestError) -> ServerError {
        let context = context.into();
        move |source| ServerError::Ingest { context, source }
    }
}
