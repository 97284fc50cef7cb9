//! The history crate's error type: one enum whose variants callers match on (a corrupted index
//! is rebuilt, a cancelled build is not an error to report, storage failures are retried).

use logq_storage::StorageError;

/// Why building, opening or searching a history index failed.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// Reading the tenant's manifest or objects failed.
    #[error("reading stored objects: {0}")]
    Storage(#[from] StorageError),
    /// The index on disk is partial or damaged (missing file, wrong length, checksum mismatch,
    /// undecodable entry): it must be rebuilt, never trusted.
    #[error("history index {path} is corrupted: {message}")]
    Corrupt {
        /// The index directory or file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A file system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (names the path).
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The index engine failed (on a verified index this means damage found while reading).
    #[error("history index engine: {0}")]
    Engine(#[from] tantivy::TantivyError),
    /// The build was cancelled through its cancel flag.
    #[error("history index build cancelled")]
    Cancelled,
    /// The request is unusable (names the problem).
    #[error("invalid history index request: {0}")]
    Invalid(String),
}

impl HistoryError {
    /// An I/O error with context.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        HistoryError::Io {
            context: context.into(),
            source,
        }
    }

    /// A corruption error.
    pub(crate) fn corrupt(path: impl Into<String>, message: impl ToString) -> Self {
        HistoryError::Corrupt {
            path: path.into(),
            message: message.to_string(),
        }
    }

    /// Whether the index is damaged (the caller should drop and rebuild it).
    pub fn is_corruption(&self) -> bool {
        matches!(self, HistoryError::Corrupt { .. } | HistoryError::Engine(_))
    }
}

impl From<std::io::Error> for HistoryError {
    /// Reading an open index's mmap'd files (term dictionary, postings) failed.
    fn from(source: std::io::Error) -> Self {
        HistoryError::io("reading history index", source)
    }
}
