//! The web UI's static assets (`ui/` in the repository), embedded in the binary at compile
//! time and served under `/ui/`: the page itself stays at `/` (routes.rs). Nothing is read from
//! disk or the network at run time, so the UI works offline. Also the one accommodation the
//! browser needs: a WebSocket cannot carry custom headers, so the live tail takes its tenant
//! from an `orgId` query parameter when no `X-Scope-OrgID` header was sent.

use axum::extract::{Path, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// One embedded file: its path under `/ui/`, its content type and its bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! assets {
    ($($path:literal => $ctype:expr),* $(,)?) => {
        &[$(Asset { path: $path, content_type: $ctype, body: include_str!(concat!("../../ui/", $path)) }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the page loads. A file added to `ui/` must be listed here to be served.
const ASSETS: &[Asset] = assets![
    "style.css" => "text/css; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
    "js/app.js" => JS,
    "js/api.js" => JS,
    "js/state.js" => JS,
    "js/logql.js" => JS,
    "js/editor.js" => JS,
    "js/timerange.js" => JS,
    "js/histogram.js" => JS,
    "js/results.js" => JS,
    "js/fields.js" => JS,
    "js/live.js" => JS,
    "js/history.js" => JS,
    "js/labels.js" => JS,
    "js/format.js" => JS,
];

fn lookup(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// `GET /ui/{*file}`: an embedded asset, or 404.
pub async fn asset(Path(file): Path<String>) -> Response {
    match lookup(&file) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                // Assets change with the binary; a reload after an upgrade must not mix versions.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            a.body,
        )
            .into_response(),
        None => ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("no UI asset {file:?}"),
        }
        .into_response(),
    }
}

/// Middleware: for `/loki/api/v1/tail` requests without an `X-Scope-OrgID` header, takes the
/// tenant from the `orgId` query parameter (browsers cannot set headers on a WebSocket). The
/// value is validated by the tenant extractor like a header would be.
pub async fn tail_tenant_from_query(mut req: Request, next: Next) -> Response {
    if req.uri().path() == "/loki/api/v1/tail" && !req.headers().contains_key("x-scope-orgid") {
        let org = req.uri().query().and_then(org_id_param);
        if let Some(org) = org {
            match HeaderValue::from_str(&org) {
                Ok(v) => {
                    req.headers_mut().insert("x-scope-orgid", v);
                }
                Err(_) => return ApiError::bad_request("invalid orgId: not visible ASCII").into_response(),
            }
        }
    }
    next.run(req).await
}

/// The decoded value of `orgId` in a query string, if present and not empty.
fn org_id_param(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "orgId")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_found_with_its_type() {
        assert_eq!(lookup("js/app.js").unwrap().content_type, JS);
        assert!(lookup("style.css").unwrap().content_type.starts_with("text/css"));
        assert!(lookup("../Cargo.toml").is_none());
        assert!(lookup("js/missing.js").is_none());
        for a in ASSETS {
            assert!(!a.body.is_empty(), "{} is empty", a.path);
        }
    }

    #[test]
    fn every_module_the_page_imports_is_embedded() {
        for a in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            for line in a.body.lines().filter(|l| l.starts_with("import ")) {
                let Some(spec) = line.split(['\'', '"']).nth(1) else {
                    continue;
                };
                let target = format!("js/{}", spec.trim_start_matches("./"));
                assert!(
                    lookup(&target).is_some(),
                    "{} imports {spec}, not embedded",
                    a.path
                );
            }
        }
    }

    #[test]
    fn org_id_is_read_from_the_query_string() {
        assert_eq!(
            org_id_param("query=%7Ba%3D%22b%22%7D&orgId=team%2Db"),
            Some("team-b".into())
        );
        assert_eq!(org_id_param("query=x&orgId="), None);
        assert_eq!(org_id_param("query=x"), None);
    }
}
