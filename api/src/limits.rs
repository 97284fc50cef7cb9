//! Per-tenant limits, as Loki has them: one set of defaults (`limits`, Loki's `limits_config`)
//! and per-tenant overrides (`overrides.<tenant>`, Loki's runtime overrides) that replace only
//! the fields they name. The api looks a tenant's limits up on every request: push size, age and
//! rate limits, and the query limits (entries, series, time range, timeout).
//!
//! Invariants: the defaults live in [`TenantLimits::default`] and nowhere else; an override
//! field left out inherits the configured `limits`, not the built-in default; sizes named `_mb`
//! are MiB (as in Loki).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use logq_ingester::Limits;
use logq_storage::duration::{serde_duration, serde_opt_duration};
use logq_storage::TenantId;
use serde::{Deserialize, Serialize};

const MIB: f64 = 1024.0 * 1024.0;

/// One tenant's limits. Field names are Loki's `limits_config` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantLimits {
    /// Ingestion rate in MiB of line bytes per second (0 = unlimited); pushes above it get 429
    /// (flag `--ingestion-rate-mb`).
    pub ingestion_rate_mb: f64,
    /// Ingestion burst in MiB (default: one second at the rate, at least 1 MiB)
    /// (flag `--ingestion-burst-mb`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingestion_burst_size_mb: Option<f64>,
    /// Longest accepted line in bytes (flag `--max-line-bytes`).
    pub max_line_size: usize,
    /// Oldest accepted entry, relative to now (flag `--reject-older-than`).
    #[serde(with = "serde_duration")]
    pub reject_old_samples_max_age: Duration,
    /// Largest `limit` a log query may ask for.
    pub max_entries_limit_per_query: usize,
    /// Most series a metric query may return (Loki's `max_query_series`, default 500).
    pub max_query_series: usize,
    /// Longest time range a query may cover.
    #[serde(with = "serde_duration")]
    pub max_query_length: Duration,
    /// Queries running longer are cancelled with 504 (flag `--query-timeout`).
    #[serde(with = "serde_duration")]
    pub query_timeout: Duration,
    /// How long this tenant's data is kept; absent keeps it forever (flag `--retention`).
    #[serde(default, with = "serde_opt_duration", skip_serializing_if = "Option::is_none")]
    pub retention_period: Option<Duration>,
}

impl Default for TenantLimits {
    fn default() -> Self {
        TenantLimits {
            ingestion_rate_mb: 0.0,
            ingestion_burst_size_mb: None,
            max_line_size: 256 * 1024,
            reject_old_samples_max_age: Duration::from_secs(7 * 24 * 3600),
            max_entries_limit_per_query: 5000,
            max_query_series: 500,
            max_query_length: Duration::from_secs(721 * 3600),
            query_timeout: Duration::from_secs(5 * 60),
            retention_period: None,
        }
    }
}

/// A limit that cannot be used as configured.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{scope}.{field}: {reason}")]
pub struct LimitsError {
    /// `limits` or `overrides.<tenant>`.
    pub scope: String,
    /// The key.
    pub field: &'static str,
    /// What is wrong with its value.
    pub reason: String,
}

impl TenantLimits {
    /// Checks every value; `scope` names where they came from in errors.
    pub fn validate(&self, scope: &str) -> Result<(), LimitsError> {
        let err = |field, reason: String| {
            Err(LimitsError {
                scope: scope.to_string(),
                field,
                reason,
            })
        };
        if !(self.ingestion_rate_mb.is_finite() && self.ingestion_rate_mb >= 0.0) {
            return err(
                "ingestion_rate_mb",
                format!("must be 0 or positive, got {}", self.ingestion_rate_mb),
            );
        }
        if let Some(b) = self.ingestion_burst_size_mb {
            if !(b.is_finite() && b > 0.0) {
                return err("ingestion_burst_size_mb", format!("must be positive, got {b}"));
            }
        }
        if self.max_line_size == 0 {
            return err("max_line_size", "must be positive".into());
        }
        if self.max_entries_limit_per_query == 0 {
            return err("max_entries_limit_per_query", "must be positive".into());
        }
        if self.max_query_series == 0 {
            return err("max_query_series", "must be positive".into());
        }
        if self.max_query_length.is_zero() {
            return err("max_query_length", "must be positive".into());
        }
        if self.query_timeout.is_zero() {
            return err("query_timeout", "must be positive".into());
        }
        Ok(())
    }

    /// The ingestion rate and burst in bytes, or `None` when unlimited.
    pub fn ingestion_rate(&self) -> Option<(f64, f64)> {
        (self.ingestion_rate_mb > 0.0).then(|| {
            let rate = self.ingestion_rate_mb * MIB;
            (
                rate,
                self.ingestion_burst_size_mb.map_or(rate.max(MIB), |b| b * MIB),
            )
        })
    }

    /// The push validation limits these describe.
    pub fn push_limits(&self) -> Limits {
        Limits {
            max_line_bytes: self.max_line_size,
            reject_older_than_ns: self.reject_old_samples_max_age.as_nanos() as i64,
            ..Limits::default()
        }
    }
}

/// Per-tenant overrides: each field given replaces the configured `limits` value for that
/// tenant. Field meanings are those of [`TenantLimits`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantOverrides {
    /// See [`TenantLimits::ingestion_rate_mb`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingestion_rate_mb: Option<f64>,
    /// See [`TenantLimits::ingestion_burst_size_mb`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingestion_burst_size_mb: Option<f64>,
    /// See [`TenantLimits::max_line_size`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_line_size: Option<usize>,
    /// See [`TenantLimits::reject_old_samples_max_age`].
    #[serde(with = "serde_opt_duration", skip_serializing_if = "Option::is_none")]
    pub reject_old_samples_max_age: Option<Duration>,
    /// See [`TenantLimits::max_entries_limit_per_query`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_entries_limit_per_query: Option<usize>,
    /// See [`TenantLimits::max_query_series`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_query_series: Option<usize>,
    /// See [`TenantLimits::max_query_length`].
    #[serde(with = "serde_opt_duration", skip_serializing_if = "Option::is_none")]
    pub max_query_length: Option<Duration>,
    /// See [`TenantLimits::query_timeout`].
    #[serde(with = "serde_opt_duration", skip_serializing_if = "Option::is_none")]
    pub query_timeout: Option<Duration>,
    /// See [`TenantLimits::retention_period`].
    #[serde(with = "serde_opt_duration", skip_serializing_if = "Option::is_none")]
    pub retention_period: Option<Duration>,
}

impl TenantOverrides {
    /// `base` with the fields this override names replaced.
    pub fn apply(&self, base: &TenantLimits) -> TenantLimits {
        let mut l = base.clone();
        macro_rules! take {
            ($($field:ident),*) => {$(
                if let Some(v) = self.$field {
                    l.$field = v;
                }
            )*};
        }
        take!(
            ingestion_rate_mb,
            max_line_size,
            reject_old_samples_max_age,
            max_entries_limit_per_query,
            max_query_series,
            max_query_length,
            query_timeout
        );
        if self.ingestion_burst_size_mb.is_some() {
            l.ingestion_burst_size_mb = self.ingestion_burst_size_mb;
        }
        if self.retention_period.is_some() {
            l.retention_period = self.retention_period;
        }
        l
    }
}

/// Every tenant's effective limits, resolved once from the defaults and the overrides.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    defaults: TenantLimits,
    tenants: HashMap<String, TenantLimits>,
}

impl Overrides {
    /// Resolves `overrides` over `defaults`, checking every tenant name and every value.
    pub fn new(
        defaults: TenantLimits,
        overrides: &BTreeMap<String, TenantOverrides>,
    ) -> Result<Self, LimitsError> {
        defaults.validate("limits")?;
        let mut tenants = HashMap::new();
        for (tenant, o) in overrides {
            let scope = format!("overrides.{tenant}");
            TenantId::new(tenant.clone()).map_err(|e| LimitsError {
                scope: scope.clone(),
                field: "tenant",
                reason: e.to_string(),
            })?;
            let limits = o.apply(&defaults);
            limits.validate(&scope)?;
            tenants.insert(tenant.clone(), limits);
        }
        Ok(Overrides { defaults, tenants })
    }

    /// The limits of `tenant`.
    pub fn get(&self, tenant: &TenantId) -> &TenantLimits {
        self.tenants.get(tenant.as_str()).unwrap_or(&self.defaults)
    }

    /// The limits of tenants without an override.
    pub fn defaults(&self) -> &TenantLimits {
        &self.defaults
    }

    /// Every tenant with an override, and its limits.
    pub fn tenants(&self) -> impl Iterator<Item = (&str, &TenantLimits)> {
        self.tenants.iter().map(|(t, l)| (t.as_str(), l))
    }

    /// The largest value of `f` over every tenant (for bounds the querier applies to all).
    pub fn max_of<T: Ord>(&self, f: impl Fn(&TenantLimits) -> T) -> T {
        self.tenants
            .values()
            .map(&f)
            .fold(f(&self.defaults), std::cmp::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_the_fields_they_name() {
        let defaults = TenantLimits {
            max_entries_limit_per_query: 100,
            ..TenantLimits::default()
        };
        let mut o = BTreeMap::new();
        o.insert(
            "big".to_string(),
            TenantOverrides {
                max_entries_limit_per_query: Some(9000),
                query_timeout: Some(Duration::from_secs(1)),
                ..Default::default()
            },
        );
        let all = Overrides::new(defaults, &o).unwrap();
        let big = all.get(&TenantId::new("big").unwrap());
        assert_eq!(big.max_entries_limit_per_query, 9000);
        assert_eq!(big.query_timeout, Duration::from_secs(1));
        // Inherited from the configured defaults, not the built-in ones.
        assert_eq!(big.max_line_size, 256 * 1024);
        let other = all.get(&TenantId::new("other").unwrap());
        assert_eq!(other.max_entries_limit_per_query, 100);
        assert_eq!(all.max_of(|l| l.max_entries_limit_per_query), 9000);
    }

    #[test]
    fn bad_values_name_tenant_and_key() {
        let mut o = BTreeMap::new();
        o.insert(
            "t".to_string(),
            TenantOverrides {
                max_query_series: Some(0),
                ..Default::default()
            },
        );
        let e = Overrides::new(TenantLimits::default(), &o).unwrap_err();
        assert_eq!(e.to_string(), "overrides.t.max_query_series: must be positive");
        let mut o = BTreeMap::new();
        o.insert("a/b".to_string(), TenantOverrides::default());
        let e = Overrides::new(TenantLimits::default(), &o).unwrap_err();
        assert!(e.to_string().starts_with("overrides.a/b.tenant"), "{e}");
    }

    #[test]
    fn rates_are_mib() {
        let l = TenantLimits {
            ingestion_rate_mb: 2.0,
            ..TenantLimits::default()
        };
        assert_eq!(l.ingestion_rate(), Some((2.0 * MIB, 2.0 * MIB)));
        assert_eq!(TenantLimits::default().ingestion_rate(), None);
        let small = TenantLimits {
            ingestion_rate_mb: 0.5,
            ..TenantLimits::default()
        };
        assert_eq!(small.ingestion_rate(), Some((0.5 * MIB, MIB)));
    }
}
