//! The agent's error type: a matchable kind, the operation that failed, and its source.

use std::path::PathBuf;

/// What went wrong in the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A file or directory operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`reading`, `opening`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The checkpoint journal exists but cannot be understood.
    #[error("checkpoint journal {path} is corrupt: {message}")]
    CorruptJournal {
        /// The journal file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The configuration names something impossible.
    #[error("invalid agent configuration: {0}")]
    Config(String),
}

impl AgentError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AgentError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Why an output did not acknowledge a batch.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct OutputError {
    /// Whether sending the same batch again may succeed (server down, 5xx, 429).
    pub retryable: bool,
    /// What happened, naming the endpoint.
    pub message: String,
}
