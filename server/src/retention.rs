//! The compactor's retention policy from the configuration: the default and per-tenant periods
//! come from the tenant limits (`retention_period`), stream rules from
//! `compactor.retention_stream`.

use logq_compactor::{RetentionPolicy, StreamRetention};

use crate::config::{ServerConfig, StreamRetentionConfig};
use crate::error::ServerError;

/// A stream retention rule with its selector parsed (a selector only, no pipeline).
pub fn stream_retention(r: &StreamRetentionConfig) -> Result<StreamRetention, ServerError> {
    let bad = |reason: String| {
        ServerError::Config(format!(
            "compactor.retention_stream: invalid selector {:?}: {reason}",
            r.selector
        ))
    };
    let expr = logq_querier::logql::parse_log_selector(&r.selector).map_err(|e| bad(e.to_string()))?;
    if !expr.pipeline.is_empty() {
        return Err(bad("only a stream selector is allowed".into()));
    }
    Ok(StreamRetention {
        selector: r.selector.clone(),
        matchers: expr
            .matchers
            .iter()
            .map(|m| (m.name.clone(), m.op.as_str().to_string(), m.value.clone()))
            .collect(),
        period: r.period,
    })
}

/// The retention policy `config` describes.
pub fn policy(config: &ServerConfig) -> Result<RetentionPolicy, ServerError> {
    Ok(RetentionPolicy {
        default: config.limits.retention_period,
        tenants: config
            .overrides()?
            .tenants()
            .filter_map(|(t, l)| l.retention_period.map(|p| (t.to_string(), p)))
            .collect(),
        streams: config
            .compactor
            .retention_stream
            .iter()
            .map(stream_retention)
            .collect::<Result<_, _>>()?,
    })
}
