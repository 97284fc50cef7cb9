//! Per-tenant ingestion rate limits: a token bucket of line bytes per tenant (Loki's
//! `ingestion_rate_mb` / `ingestion_burst_size_mb`). A push over the limit is refused whole with
//! 429 and Loki's message, so nothing partial is accepted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use logq_storage::TenantId;

/// One token bucket per tenant; each call says the tenant's current rate and burst, so
/// per-tenant overrides apply without the limiter knowing about them.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<TenantId, (f64, Instant)>>,
}

impl RateLimiter {
    /// Takes `bytes` from the tenant's bucket, refilled at `limit` = (bytes per second, burst
    /// bytes), or says why not; `None` means unlimited.
    pub fn admit(&self, tenant: &TenantId, bytes: usize, limit: Option<(f64, f64)>) -> Result<(), String> {
        let Some((rate, burst)) = limit else {
            return Ok(());
        };
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, at) = buckets.entry(tenant.clone()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(burst);
        *at = now;
        let need = bytes as f64;
        if need > *tokens {
            return Err(format!(
                "Ingestion rate limit exceeded for user {tenant} (limit: {} bytes/sec) while attempting to ingest '{bytes}' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased",
                rate as u64
            ));
        }
        *tokens -= need;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refuses() {
        let t = TenantId::new("t").unwrap();
        let r = RateLimiter::default();
        let limit = Some((10.0, 100.0));
        assert!(r.admit(&t, 60, limit).is_ok());
        assert!(r.admit(&t, 40, limit).is_ok());
        let err = r.admit(&t, 50, limit).unwrap_err();
        assert!(err.contains("Ingestion rate limit exceeded for user t"), "{err}");
        // Another tenant has its own bucket.
        assert!(r.admit(&TenantId::new("u").unwrap(), 100, limit).is_ok());
        assert!(RateLimiter::default().admit(&t, usize::MAX, None).is_ok());
    }
}
