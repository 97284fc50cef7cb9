//! Retention flags shared by `logq serve` and `logq compact`.

use std::time::Duration;

use clap::Args;
use logq_compactor::RetentionPolicy;

/// `--retention` and `--retention-tenant`.
#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// Delete data older than this (e.g. 30d); unset keeps data forever.
    #[arg(long, value_parser = crate::serve::duration, env = "LOGQ_RETENTION")]
    retention: Option<Duration>,
    /// Per-tenant retention, `TENANT=DURATION` (repeatable).
    #[arg(long = "retention-tenant", value_parser = tenant_retention)]
    tenants: Vec<(String, Duration)>,
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
        }
    }
}
