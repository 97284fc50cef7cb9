//! The querier's error type; the API maps kinds to HTTP statuses.

use logq_storage::{HeadReadError, StorageError};

use crate::logql::ParseError;

/// A query failure.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The LogQL did not parse or validate (HTTP 400).
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A request parameter or limit was violated (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// Storage failed (HTTP 500).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Another process this query needs (a remote ingester) did not answer (HTTP 503).
    #[error("{0}")]
    Unavailable(String),
}

impl From<HeadReadError> for QueryError {
    fn from(e: HeadReadError) -> Self {
        QueryError::Unavailable(e.0)
    }
}
