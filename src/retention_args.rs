//! Retention flags shared by `logq serve` and `logq compact`: default, per tenant, per stream.

use std::time::Duration;

use clap::Args;
use logq_compactor::{RetentionPolicy, StreamRetention};

/// `--retention` and `--retention-tenant`.
#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// Delete data older than this (e.g. 30d); unset keeps data forever.
    #[arg(long, value_parser = crate::serve::duration, env = "LOGQ_RETENTION")]
    retention: Option<Duration>,
    /// Per-tenant retention, `TENANT=DURATION` (repeatable).
    #[arg(long = "retention-tenant", value_parser = tenant_retention)]
    tenants: Vec<(String, Duration)>,
    /// Per-stream retention, `SELECTOR=DURATION`, e.g. `{level="debug"}=1d` (repeatable).
    #[arg(long = "retention-stream", value_parser = stream_retention)]
    streams: Vec<StreamRetention>,
}

fn stream_retention(s: &str) -> Result<StreamRetention, String> {
    let (selector, period) = s
        .rsplit_once('=')
        .filter(|(sel, _)| sel.trim_end().ends_with('}'))
        .ok_or_else(|| {
            format!("invalid stream retention {s:?}: expected SELECTOR=DURATION, e.g. {{level=\"debug\"}}=1d")
        })?;
    let expr = logq_querier::logql::parse_log_selector(selector)
        .map_err(|e| format!("invalid stream retention selector: {e}"))?;
    if !expr.pipeline.is_empty() {
        return Err(format!(
            "invalid stream retention {s:?}: only a stream selector is allowed"
        ));
    }
    Ok(StreamRetention {
        selector: selector.to_string(),
        matchers: expr
            .matchers
            .iter()
            .map(|m| (m.name.clone(), m.op.as_str().to_string(), m.value.clone()))
            .collect(),
        period: crate::serve::duration(period)?,
    })
}

fn tenant_retention(s: &str) -> Result<(String, Duration), String> {
    RetentionPolicy::parse_override(s, crate::serve::duration)
}

impl RetentionArgs {
    /// The policy the flags describe.
    pub fn policy(&self) -> RetentionPolicy {
        RetentionPolicy {
            default: self.retention,
            tenants: self.tenants.iter().cloned().collect(),
            streams: self.streams.clone(),
        }
    }
}
