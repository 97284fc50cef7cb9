//! Multi-tenant reads (`X-Scope-OrgID: a|b`), as Loki's multi-tenant querier answers them: the
//! request is run once per tenant and the answers merged, every stream and series carrying a
//! `__tenant_id__` label. A `__tenant_id__` matcher in a stream selector chooses tenants (it is
//! taken out of the query each tenant runs). Pushes never accept several tenants.
//!
//! Invariants: tenants are validated, de-duplicated and sorted before anything runs; one
//! tenant's failure is the answer (no partial merge); merged log results keep the request's
//! `limit` and `direction`. Metric queries are not merged here: they run once over all the chosen
//! tenants ([`QueryTenants`]), so `sum` adds tenants up as Loki does.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use logq_querier::logql::{tokenize, Tok};
use logq_storage::{LabelMatcher, MatchOp, TenantId};
use serde_json::{json, Map, Value};
use tower::ServiceExt;

use crate::error::ApiError;

/// The label naming a result's tenant.
pub use logq_querier::TENANT_LABEL;

/// The tenants a multi-tenant metric query reads (a request extension set by [`fan_out`]).
#[derive(Debug, Clone)]
pub(crate) struct QueryTenants(pub Vec<TenantId>);

/// Largest request body buffered for a fan-out (form-encoded query parameters).
const MAX_FORM_BYTES: usize = 1 << 20;

/// The tenants of an `X-Scope-OrgID` value: split on `|`, validated, sorted, de-duplicated.
pub fn parse_tenants(header: &str) -> Result<Vec<TenantId>, ApiError> {
    let ids: BTreeSet<TenantId> = header
        .split('|')
        .map(|t| TenantId::new(t.trim()).map_err(|e| ApiError::bad_request(e.to_string())))
        .collect::<Result<_, _>>()?;
    Ok(ids.into_iter().collect())
}

/// What a read endpoint answers, for merging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Query,
    Labels,
    LabelValues,
    Series,
    Stats,
    Volume,
    DetectedLabels,
    DetectedFields,
    DetectedFieldValues,
    Patterns,
}

fn kind_of(path: &str) -> Option<Kind> {
    let p = path.strip_prefix("/loki/api/v1/")?;
    Some(match p {
        "query" | "query_range" => Kind::Query,
        "labels" => Kind::Labels,
        "series" => Kind::Series,
        "index/stats" => Kind::Stats,
        "index/volume" | "index/volume_range" => Kind::Volume,
        "detected_labels" => Kind::DetectedLabels,
        "detected_fields" => Kind::DetectedFields,
        "patterns" => Kind::Patterns,
        _ if p.starts_with("label/") && p.ends_with("/values") => Kind::LabelValues,
        _ if p.starts_with("detected_field/") && p.ends_with("/values") => Kind::DetectedFieldValues,
        _ => return None,
    })
}

/// Takes the `__tenant_id__` matchers out of every stream selector of `query`: the query each
/// tenant runs, and the matchers a tenant must satisfy.
pub fn split_tenant_matchers(query: &str) -> Result<(String, Vec<LabelMatcher>), ApiError> {
    let Ok(tokens) = tokenize(query) else {
        // Let the endpoint report the syntax error.
        return Ok((query.to_string(), Vec::new()));
    };
    let mut cut: Vec<(usize, usize)> = Vec::new();
    let mut matchers = Vec::new();
    for i in 0..tokens.len().saturating_sub(3) {
        let (Tok::Ident(name), Tok::Op(op), Tok::Str(value)) =
            (&tokens[i].tok, &tokens[i + 1].tok, &tokens[i + 2].tok)
        else {
            continue;
        };
        let opens = i > 0 && matches!(tokens[i - 1].tok, Tok::Op("{") | Tok::Op(","));
        if name != TENANT_LABEL || !opens {
            continue;
        }
        let op = match *op {
            "=" => MatchOp::Equal,
            "!=" => MatchOp::NotEqual,
            "=~" => MatchOp::Regex,
            "!~" => MatchOp::NotRegex,
            _ => continue,
        };
        matchers.push(
            LabelMatcher::new(TENANT_LABEL, op, value.clone())
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
        );
        // With the comma after it, or else the one before it.
        let (from, to) = if tokens[i + 3].tok == Tok::Op(",") {
            (tokens[i].pos, tokens[i + 4].pos)
        } else if tokens[i - 1].tok == Tok::Op(",") {
            (tokens[i - 1].pos, tokens[i + 3].pos)
        } else {
            (tokens[i].pos, tokens[i + 3].pos)
        };
        cut.push((from, to));
    }
    let mut out = query.to_string();
    for (from, to) in cut.into_iter().rev() {
        out.replace_range(from..to, "");
    }
    Ok((out, matchers))
}

/// The middleware: fans a multi-tenant read out to `inner` once per tenant and merges.
pub(crate) async fn fan_out(State(inner): State<Router>, req: Request, next: Next) -> Response {
    let org = req
        .headers()
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.contains('|'))
        .map(str::to_string);
    let (Some(org), Some(kind)) = (org, kind_of(req.uri().path())) else {
        return next.run(req).await;
    };
    match run(inner, req, &org, kind).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(inner: Router, req: Request, org: &str, kind: Kind) -> Result<Response, ApiError> {
    let tenants = parse_tenants(org)?;
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading form body: {e}")))?;
    let mut params: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        params.extend(form_urlencoded::parse(&body).into_owned());
    }
    let path = parts.uri.path().to_string();
    if kind == Kind::LabelValues && path.ends_with(&format!("/{TENANT_LABEL}/values")) {
        let names: Vec<&str> = tenants.iter().map(TenantId::as_str).collect();
        return Ok(axum::Json(json!({"status": "success", "data": names})).into_response());
    }
    // Tenant matchers in `query` and `match[]` choose the tenants.
    let mut wanted: Vec<LabelMatcher> = Vec::new();
    for (k, v) in params.iter_mut() {
        if matches!(k.as_str(), "query" | "match[]" | "match") {
            let (rewritten, m) = split_tenant_matchers(v)?;
            *v = rewritten;
            wanted.extend(m);
        }
    }
    let chosen: Vec<&TenantId> = tenants
        .iter()
        .filter(|t| wanted.iter().all(|m| m.matches_value(t.as_str())))
        .collect();
    let query_string = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let uri = format!("{path}?{query_string}");
    let is_metric = kind == Kind::Query
        && params.iter().find(|(k, _)| k == "query").is_some_and(|(_, q)| {
            matches!(
                logq_querier::logql::parse(q),
                Ok(logq_querier::logql::Expr::Sample(_))
            )
        });
    if is_metric {
        let chosen: Vec<TenantId> = chosen.into_iter().cloned().collect();
        let r = sub_request(&parts, &uri, &tenants[0])?;
        let mut r = r;
        r.extensions_mut().insert(QueryTenants(chosen));
        return Ok(inner.oneshot(r).await.unwrap_or_else(|never| match never {}));
    }
    let mut answers: Vec<(TenantId, Value)> = Vec::new();
    for tenant in chosen {
        let r = sub_request(&parts, &uri, tenant)?;
        let resp = inner
            .clone()
            .oneshot(r)
            .await
            .unwrap_or_else(|never| match never {});
        if !resp.status().is_success() {
            return Ok(resp);
        }
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .map_err(|e| ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: e.to_string(),
            })?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("merging tenants: {e}"),
        })?;
        answers.push((tenant.clone(), v));
    }
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, v)| n == k && !v.is_empty())
            .map(|(_, v)| v.as_str())
    };
    let limit = get("limit").and_then(|l| l.parse::<usize>().ok());
    let forward = get("direction").is_some_and(|d| d.eq_ignore_ascii_case("forward"));
    Ok(axum::Json(merge(kind, answers, limit, forward)).into_response())
}

/// The request `parts` asks, at `uri` (its parameters in the query string), for one `tenant`.
fn sub_request(
    parts: &axum::http::request::Parts,
    uri: &str,
    tenant: &TenantId,
) -> Result<Request, ApiError> {
    let mut r = Request::builder().method(parts.method.clone()).uri(uri);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH && name.as_str() != "x-scope-orgid"
        {
            r = r.header(name, value);
        }
    }
    r.header(
        "x-scope-orgid",
        HeaderValue::from_str(tenant.as_str()).map_err(|e| ApiError::bad_request(e.to_string()))?,
    )
    .body(Body::empty())
    .map_err(|e| ApiError::bad_request(e.to_string()))
}

fn with_tenant(labels: &mut Value, tenant: &TenantId) {
    if let Some(m) = labels.as_object_mut() {
        m.insert(TENANT_LABEL.into(), Value::String(tenant.as_str().into()));
    }
}

fn string_union(answers: &[(TenantId, Value)], pointer: &str, extra: Option<&str>) -> Vec<String> {
    let mut all: BTreeSet<String> = answers
        .iter()
        .flat_map(|(_, v)| {
            v.pointer(pointer)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect();
    if let Some(e) = extra {
        all.insert(e.to_string());
    }
    all.into_iter().collect()
}

/// Merges the per-tenant answers of one endpoint.
fn merge(kind: Kind, answers: Vec<(TenantId, Value)>, limit: Option<usize>, forward: bool) -> Value {
    match kind {
        Kind::Query => merge_query(answers, limit.unwrap_or(100), forward),
        Kind::Labels => {
            json!({"status": "success", "data": string_union(&answers, "/data", Some(TENANT_LABEL))})
        }
        Kind::LabelValues => json!({"status": "success", "data": string_union(&answers, "/data", None)}),
        Kind::DetectedFieldValues => {
            let mut v = answers.first().map(|a| a.1.clone()).unwrap_or_else(|| json!({}));
            v["values"] = json!(string_union(&answers, "/values", None));
            v
        }
        Kind::Series => {
            let mut data = Vec::new();
            for (t, v) in answers {
                for mut s in v["data"].as_array().cloned().unwrap_or_default() {
                    with_tenant(&mut s, &t);
                    data.push(s);
                }
            }
            json!({"status": "success", "data": data})
        }
        Kind::Stats => {
            let mut out = Map::new();
            for k in ["streams", "chunks", "bytes", "entries"] {
                let n: u64 = answers.iter().map(|(_, v)| v[k].as_u64().unwrap_or(0)).sum();
                out.insert(k.into(), json!(n));
            }
            Value::Object(out)
        }
        Kind::Volume => {
            let mut result = Vec::new();
            let mut matrix = false;
            for (t, v) in answers {
                matrix |= v["data"]["resultType"] == "matrix";
                for mut r in v["data"]["result"].as_array().cloned().unwrap_or_default() {
                    with_tenant(&mut r["metric"], &t);
                    result.push(r);
                }
            }
            let size = |r: &Value| {
                let p = if r["value"].is_null() {
                    &r["values"][0]
                } else {
                    &r["value"]
                };
                p[1].as_str().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
            };
            result.sort_by_key(|r| std::cmp::Reverse(size(r)));
            if let Some(l) = limit {
                result.truncate(l);
            }
            json!({"status": "success", "data": {"resultType": if matrix { "matrix" } else { "vector" }, "result": result}})
        }
        Kind::DetectedLabels => {
            let mut by: BTreeMap<String, u64> = BTreeMap::new();
            for (_, v) in &answers {
                for l in v["detectedLabels"].as_array().cloned().unwrap_or_default() {
                    if let Some(name) = l["label"].as_str() {
                        *by.entry(name.to_string()).or_default() += l["cardinality"].as_u64().unwrap_or(0);
                    }
                }
            }
            let out: Vec<Value> = by
                .into_iter()
                .map(|(label, cardinality)| json!({"label": label, "cardinality": cardinality}))
                .collect();
            json!({ "detectedLabels": out })
        }
        Kind::DetectedFields => {
            let mut by: BTreeMap<String, Value> = BTreeMap::new();
            let mut lim = Value::Null;
            for (_, v) in &answers {
                lim = v["limit"].clone();
                for f in v["fields"].as_array().cloned().unwrap_or_default() {
                    let name = f["label"].as_str().unwrap_or_default().to_string();
                    match by.get_mut(&name) {
                        Some(have) => {
                            let c = have["cardinality"]
                                .as_u64()
                                .unwrap_or(0)
                                .max(f["cardinality"].as_u64().unwrap_or(0));
                            have["cardinality"] = json!(c);
                        }
                        None => {
                            by.insert(name, f);
                        }
                    }
                }
            }
            json!({"fields": by.into_values().collect::<Vec<_>>(), "limit": lim})
        }
        Kind::Patterns => {
            let mut by: BTreeMap<String, (Value, BTreeMap<i64, i64>)> = BTreeMap::new();
            for (_, v) in &answers {
                for p in v["data"].as_array().cloned().unwrap_or_default() {
                    let name = p["pattern"].as_str().unwrap_or_default().to_string();
                    let entry = by.entry(name).or_insert_with(|| (p.clone(), BTreeMap::new()));
                    for s in p["samples"].as_array().cloned().unwrap_or_default() {
                        *entry.1.entry(s[0].as_i64().unwrap_or(0)).or_default() += s[1].as_i64().unwrap_or(0);
                    }
                }
            }
            let data: Vec<Value> = by
                .into_values()
                .map(|(mut p, samples)| {
                    p["samples"] = json!(samples
                        .into_iter()
                        .map(|(t, n)| json!([t, n]))
                        .collect::<Vec<_>>());
                    p
                })
                .collect();
            json!({"status": "success", "data": data})
        }
    }
}

fn merge_query(answers: Vec<(TenantId, Value)>, limit: usize, forward: bool) -> Value {
    let Some(first) = answers.first().map(|a| a.1.clone()) else {
        return json!({"status": "success", "data": {"resultType": "streams", "result": []}});
    };
    let kind = first["data"]["resultType"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut out = first;
    match kind.as_str() {
        "streams" => {
            // (ts, tenant index, stream labels, value) sorted in the requested direction.
            let mut entries: Vec<(i64, usize, Value, Value)> = Vec::new();
            for (i, (t, v)) in answers.iter().enumerate() {
                for s in v["data"]["result"].as_array().cloned().unwrap_or_default() {
                    let mut labels = s["stream"].clone();
                    with_tenant(&mut labels, t);
                    for value in s["values"].as_array().cloned().unwrap_or_default() {
                        let ts = value[0].as_str().and_then(|x| x.parse().ok()).unwrap_or(0);
                        entries.push((ts, i, labels.clone(), value));
                    }
                }
            }
            entries.sort_by_key(|e| e.0);
            if !forward {
                entries.reverse();
            }
            entries.truncate(limit);
            let mut streams: Vec<(Value, Vec<Value>)> = Vec::new();
            for (_, _, labels, value) in entries {
                match streams.iter_mut().find(|s| s.0 == labels) {
                    Some(s) => s.1.push(value),
                    None => streams.push((labels, vec![value])),
                }
            }
            out["data"]["result"] = streams
                .into_iter()
                .map(|(stream, values)| json!({"stream": stream, "values": values}))
                .collect();
        }
        "matrix" | "vector" => {
            let mut result = Vec::new();
            for (t, v) in &answers {
                for mut s in v["data"]["result"].as_array().cloned().unwrap_or_default() {
                    with_tenant(&mut s["metric"], t);
                    result.push(s);
                }
            }
            out["data"]["result"] = Value::Array(result);
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_are_validated_sorted_and_unique() {
        let t = parse_tenants("b|a|b").unwrap();
        assert_eq!(t.iter().map(TenantId::as_str).collect::<Vec<_>>(), vec!["a", "b"]);
        assert!(parse_tenants("a||b").is_err());
        assert!(parse_tenants("a|../x").is_err());
    }

    #[test]
    fn tenant_matchers_are_taken_out_of_selectors() {
        let (q, m) =
            split_tenant_matchers(r#"sum(count_over_time({app="x", __tenant_id__="a"}[1m]))"#).unwrap();
        assert_eq!(q, r#"sum(count_over_time({app="x"}[1m]))"#);
        assert_eq!(m.len(), 1);
        assert!(m[0].matches_value("a") && !m[0].matches_value("b"));
        let (q, m) = split_tenant_matchers(r#"{__tenant_id__=~"a|b", app="x"} | __tenant_id__="a""#).unwrap();
        assert_eq!(q, r#"{app="x"} | __tenant_id__="a""#);
        assert_eq!(m.len(), 1);
        let (q, m) = split_tenant_matchers(r#"{app="x"}"#).unwrap();
        assert_eq!(q, r#"{app="x"}"#);
        assert!(m.is_empty());
    }

    #[test]
    fn log_results_merge_in_direction_under_the_limit() {
        let a = TenantId::new("a").unwrap();
        let b = TenantId::new("b").unwrap();
        let answer = |ts: &[&str]| {
            json!({"status": "success", "data": {"resultType": "streams", "result": [
                {"stream": {"app": "x"}, "values": ts.iter().map(|t| json!([t, "l"])).collect::<Vec<_>>()}
            ]}})
        };
        let merged = merge(
            Kind::Query,
            vec![(a, answer(&["3", "1"])), (b, answer(&["2"]))],
            Some(2),
            false,
        );
        let result = merged["data"]["result"].as_array().unwrap();
        assert_eq!(result.len(), 2);
        assert_eq!(result[0]["stream"], json!({"app": "x", "__tenant_id__": "a"}));
        assert_eq!(result[0]["values"], json!([["3", "l"]]));
        assert_eq!(result[1]["stream"]["__tenant_id__"], "b");
    }
}
