//! The tenant of a request: `X-Scope-OrgID`, or `fake` when absent (auth disabled, as Loki).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use logq_storage::TenantId;

use crate::error::ApiError;

/// The request's tenant.
#[derive(Debug, Clone)]
pub struct Tenant(pub TenantId);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get("x-scope-orgid") {
            None => Ok(Tenant(TenantId::default_tenant())),
            Some(v) => {
                let s = v
                    .to_str()
                    .map_err(|_| ApiError::bad_request("invalid X-Scope-OrgID header: not visible ASCII"))?;
                // Reads with several tenants are fanned out before any handler (see
                // `multi_tenant`); what reaches here is a push or a single-tenant request.
                if s.contains('|') {
                    return Err(ApiError::bad_request(format!(
                        "multiple org IDs present (X-Scope-OrgID {s:?}): pushes and this endpoint take one tenant"
                    )));
                }
                TenantId::new(s.trim())
                    .map(Tenant)
                    .map_err(|e| ApiError::bad_request(e.to_string()))
            }
        }
    }
}
