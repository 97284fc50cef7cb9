//! The storage crate's error type: a matchable kind plus context.

use crate::codec::CodecError;

/// What went wrong, for callers that react differently (missing object vs. corruption vs. I/O).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// The object does not exist.
    NotFound,
    /// A conditional write lost a race.
    AlreadyExists,
    /// Bytes failed a checksum or did not decode.
    Corrupt,
    /// The object store or file system failed.
    Io,
    /// A configuration value (URL, path) is unusable.
    Config,
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {message}")]
pub struct StorageError {
    /// The kind, to match on.
    pub kind: StorageErrorKind,
    /// What was being done (names the object).
    pub context: String,
    /// The underlying message.
    pub message: String,
}

impl StorageError {
    /// Builds an error.
    pub fn new(kind: StorageErrorKind, context: impl Into<String>, message: impl ToString) -> Self {
        StorageError {
            kind,
            context: context.into(),
            message: message.to_string(),
        }
    }

    /// A corruption error.
    pub fn corrupt(context: impl Into<String>, message: impl ToString) -> Self {
        Self::new(StorageErrorKind::Corrupt, context, message)
    }

    /// Maps an object store error, keeping not-found and already-exists distinguishable.
    pub fn from_object_store(context: impl Into<String>, e: object_store::Error) -> Self {
        let kind = match &e {
            object_store::Error::NotFound { .. } => StorageErrorKind::NotFound,
            object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
                StorageErrorKind::AlreadyExists
            }
            _ => StorageErrorKind::Io,
        };
        Self::new(kind, context, e)
    }
}

impl From<CodecError> for StorageError {
    fn from(e: CodecError) -> Self {
        StorageError::corrupt("decoding", e)
    }
}

/// Result alias for the storage crate.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
