//! Where batches go: the [`Output`] trait (send a batch, `Ok` only once it is acknowledged), and
//! [`HttpOutput`], a push to any Loki-compatible endpoint (`/loki/api/v1/push`, snappy-compressed
//! protobuf, optional `X-Scope-OrgID`). Message ids travel as the structured-metadata pair
//! `logq_storage::push::MESSAGE_ID_METADATA`, which logq strips and uses for de-duplication (other
//! Loki servers keep it as ordinary metadata).

use std::time::Duration;

use logq_storage::PushBatch;

use crate::error::OutputError;

/// A destination for batches. `send` returns `Ok` only when the destination acknowledged the
/// whole batch durably: the checkpoint moves on that and nothing else.
pub trait Output {
    /// Delivers one batch.
    fn send(&mut self, batch: &PushBatch) -> Result<(), OutputError>;
}

/// Pushes to a Loki-compatible HTTP endpoint.
#[derive(Debug)]
pub struct HttpOutput {
    url: String,
    org_id: Option<String>,
    agent: ureq::Agent,
}

impl HttpOutput {
    /// An output pushing to `url` (the full push URL) as tenant `org_id` (header omitted when
    /// `None`), each request bounded by `timeout`.
    pub fn new(url: String, org_id: Option<String>, timeout: Duration) -> HttpOutput {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        HttpOutput { url, org_id, agent }
    }
}

impl Output for HttpOutput {
    fn send(&mut self, batch: &PushBatch) -> Result<(), OutputError> {
        let body = logq_storage::push::encode_protobuf(batch);
        let mut req = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/x-protobuf");
        if let Some(org) = &self.org_id {
            req = req.header("X-Scope-OrgID", org);
        }
        let mut resp = req.send(&body[..]).map_err(|e| OutputError {
            retryable: true,
            message: format!("push to {} failed: {e}", self.url),
        })?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let text = resp
            .body_mut()
            .with_config()
            .limit(4096)
            .read_to_string()
            .unwrap_or_default();
        Err(OutputError {
            // Loki answers 400 for entries it will never take (too old, too long): retrying
            // would block the agent forever. 429 and 5xx are transient.
            retryable: status == 429 || status >= 500,
            message: format!("push to {} answered {status}: {}", self.url, text.trim()),
        })
    }
}
