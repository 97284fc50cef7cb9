//! Retention: how long each tenant's data is kept, and the manifest change that forgets what
//! has expired (the objects are deleted later, after the usual grace period).

use std::collections::HashMap;
use std::time::Duration;

use logq_storage::{Manifest, PendingDelete, TenantId};

/// Retention periods: a default, per-tenant overrides (`None` keeps data forever), and shorter
/// periods for the streams a selector matches.
#[derive(Debug, Clone, Default)]
pub struct RetentionPolicy {
    /// Applies to tenants without an override.
    pub default: Option<Duration>,
    /// Per-tenant periods.
    pub tenants: HashMap<String, Duration>,
    /// Per-stream periods: matchers as (name, operator, value), applied to every tenant.
    pub streams: Vec<StreamRetention>,
}

/// A retention period for the streams some matchers select.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRetention {
    /// The selector as written.
    pub selector: String,
    /// Its matchers: (name, operator as written, value).
    pub matchers: Vec<(String, String, String)>,
    /// How long those streams are kept.
    pub period: Duration,
}

impl StreamRetention {
    /// The rule as a delete request for everything older than `now - period`.
    pub fn as_delete(&self, now: i64) -> logq_storage::DeleteRequest {
        logq_storage::DeleteRequest {
            id: format!("retention {}", self.selector),
            query: self.selector.clone(),
            matchers: self.matchers.clone(),
            line_tests: Vec::new(),
            start: i64::MIN,
            end: now - self.period.as_nanos() as i64,
            created: now,
            processed: false,
        }
    }
}

impl RetentionPolicy {
    /// The period for `tenant`.
    pub fn period(&self, tenant: &TenantId) -> Option<Duration> {
        self.tenants.get(tenant.as_str()).copied().or(self.default)
    }
}

/// Removes from `m` every block and chunk whose newest entry is older than `cutoff` (ns), and
/// schedules their objects for deletion after `delete_after` (ns). Returns how many were removed.
pub fn expire(m: &mut Manifest, cutoff: i64, delete_after: i64) -> usize {
    let mut removed = Vec::new();
    m.chunks.retain(|c| {
        let keep = c.max_ts >= cutoff;
        if !keep {
            removed.push(c.key.clone());
        }
        keep
    });
    m.blocks.retain(|b| {
        let keep = b.max_ts >= cutoff;
        if !keep {
            removed.push(b.key.clone());
            removed.push(b.index_key.clone());
        }
        keep
    });
    let n = removed.len();
    m.pending_deletes
        .extend(removed.into_iter().map(|key| PendingDelete {
            key,
            after: delete_after,
        }));
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use logq_storage::{BlockRef, ChunkRef};

    #[test]
    fn expires_only_what_is_entirely_old() {
        let mut m = Manifest::default();
        for (key, max_ts) in [("old", 10), ("edge", 100), ("new", 200)] {
            m.blocks.push(BlockRef {
                key: format!("{key}.parquet"),
                index_key: format!("{key}.index"),
                size: 1,
                min_ts: 0,
                max_ts,
                entries: 1,
            });
            m.chunks.push(ChunkRef {
                key: format!("{key}.chunk"),
                size: 1,
                window_start: 0,
                min_ts: 0,
                max_ts,
                entries: 1,
            });
        }
        assert_eq!(expire(&mut m, 100, 7), 3);
        assert_eq!(m.blocks.len(), 2);
        assert_eq!(m.chunks.len(), 2);
        let keys: Vec<&str> = m.pending_deletes.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["old.chunk", "old.parquet", "old.index"]);
        assert!(m.pending_deletes.iter().all(|p| p.after == 7));
    }

    #[test]
    fn overrides_win() {
        let p = RetentionPolicy {
            default: Some(Duration::from_secs(10)),
            tenants: [("a".to_string(), Duration::from_secs(1))].into_iter().collect(),
            streams: Vec::new(),
        };
        assert_eq!(
            p.period(&TenantId::new("a").unwrap()),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            p.period(&TenantId::new("b").unwrap()),
            Some(Duration::from_secs(10))
        );
    }
}
