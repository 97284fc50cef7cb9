//! [`CompactorError`]: why a compaction step failed.

use logq_storage::StorageError;

/// A compaction failure.
#[derive(Debug, thiserror::Error)]
pub enum CompactorError {
    /// Reading or writing storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A CPU task died.
    #[error("compaction task failed: {0}")]
    Task(String),
}
