//! The one place that maps failures to HTTP statuses. Error bodies are plain text, as Loki's.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use logq_ingester::IngestError;
use logq_querier::QueryError;

/// An API failure: a status and a plain-text reason.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Message sent as the body.
    pub message: String,
}

impl ApiError {
    /// A 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, error = %self.message, "request failed");
        }
        (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}\n", self.message),
        )
            .into_response()
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let status = match e {
            QueryError::Parse(_) | QueryError::BadRequest(_) => StatusCode::BAD_REQUEST,
            QueryError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            QueryError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let status = match e {
            IngestError::Invalid(_) => StatusCode::BAD_REQUEST,
            // Nothing of the push was made durable (disk full, I/O error): the client retries.
            IngestError::Closed | IngestError::Kafka(_) | IngestError::Wal(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            IngestError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

impl From<logq_storage::StorageError> for ApiError {
    fn from(e: logq_storage::StorageError) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_wal_append_is_503_with_the_reason() {
        let e = ApiError::from(IngestError::Wal(
            "appending to write-ahead log: No space left on device (os error 28)".into(),
        ));
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(e.message.contains("No space left on device"), "{}", e.message);
    }
}
