//! Tenant ids (`X-Scope-OrgID`): validated once at the edge so that every storage path built from
//! one is safe (no `/`, no `..`, no control characters, bounded length).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The tenant used when no `X-Scope-OrgID` header is sent, as in Loki with auth disabled.
pub const DEFAULT_TENANT: &str = "fake";

/// Maximum length of a tenant id, as in Loki.
pub const MAX_TENANT_LEN: usize = 150;

/// A validated tenant id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

/// A tenant id that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tenant id {id:?}: {reason}")]
pub struct TenantError {
    /// The rejected id.
    pub id: String,
    /// Why it was rejected.
    pub reason: &'static str,
}

impl TenantId {
    /// Validates a tenant id.
    pub fn new(id: impl Into<String>) -> Result<Self, TenantError> {
        let id = id.into();
        let reason = if id.is_empty() {
            Some("empty")
        } else if id.len() > MAX_TENANT_LEN {
            Some("longer than 150 bytes")
        } else if id == "." || id == ".." {
            Some("'.' and '..' are not allowed")
        } else if id.contains('/') || id.contains('\\') {
            Some("slashes are not allowed")
        } else if id.chars().any(|c| c.is_control()) {
            Some("control characters are not allowed")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(TenantError { id, reason }),
            None => Ok(TenantId(id)),
        }
    }

    /// The default tenant `fake`.
    pub fn default_tenant() -> Self {
        TenantId(DEFAULT_TENANT.to_string())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = TenantError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        TenantId::new(s)
    }
}

impl From<TenantId> for String {
    fn from(t: TenantId) -> String {
        t.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_path_tricks() {
        for bad in ["", ".", "..", "a/b", "a\\b", "a\nb", &"x".repeat(151)] {
            assert!(TenantId::new(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(TenantId::new("team-a.prod_1").unwrap().as_str(), "team-a.prod_1");
    }
}
