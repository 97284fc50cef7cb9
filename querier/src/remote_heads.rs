//! Other processes' ingester heads, for queriers of a distributed deployment: the unflushed
//! entries of every ingester listed with `--ingesters` are read over HTTP and merged with the
//! local head, so recent lines are visible before any ingester flushed them.
//!
//! The protocol is internal (not Loki's): `GET <ingester>/internal/v1/head` with
//! `X-Scope-OrgID`, `matchers` (JSON `[[name, op, value], ...]`), `start`, `end` (ns) and
//! `stats=1` for per-stream counts. A select answers the entries as one
//! [`logq_storage::codec`] batch; stats answer JSON `[[labels, entries, bytes], ...]`.
//! An ingester that cannot be reached fails the query: a silently partial answer would be a
//! wrong answer.

use std::time::Duration;

use futures::future::BoxFuture;
use logq_storage::{
    codec, Entry, HeadReadError, HeadReader, HeadStreamStat, HeadStreams, LabelMatcher, LabelSet, MatchOp,
    TenantId,
};

/// How long one ingester may take to answer.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Largest head answer accepted from one ingester.
const MAX_BODY: u64 = 1 << 30;

/// The ingesters a querier asks for unflushed entries.
#[derive(Debug, Clone, Default)]
pub struct RemoteHeads {
    urls: Vec<String>,
}

/// Matchers as the internal endpoint takes them.
pub fn matchers_to_json(matchers: &[LabelMatcher]) -> String {
    let list: Vec<[&str; 3]> = matchers
        .iter()
        .map(|m| [m.name.as_str(), m.op.as_str(), m.value.as_str()])
        .collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

/// Parses [`matchers_to_json`]'s output.
pub fn matchers_from_json(text: &str) -> Result<Vec<LabelMatcher>, String> {
    let list: Vec<[String; 3]> = serde_json::from_str(text).map_err(|e| format!("invalid matchers: {e}"))?;
    list.into_iter()
        .map(|[name, op, value]| {
            let op = match op.as_str() {
                "=" => MatchOp::Equal,
                "!=" => MatchOp::NotEqual,
                "=~" => MatchOp::Regex,
                "!~" => MatchOp::NotRegex,
                other => return Err(format!("invalid matcher operator {other:?}")),
            };
            LabelMatcher::new(name, op, value).map_err(|e| e.to_string())
        })
        .collect()
}

impl RemoteHeads {
    /// Asks these ingesters (base URLs such as `http://ingester-1:3100`).
    pub fn new(urls: Vec<String>) -> Self {
        RemoteHeads {
            urls: urls
                .into_iter()
                .map(|u| u.trim_end_matches('/').to_string())
                .collect(),
        }
    }

    /// Whether there is anyone to ask.
    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    fn get(url: &str, tenant: &TenantId, params: &[(&str, String)]) -> Result<Vec<u8>, String> {
        let mut req = ureq::get(format!("{url}/internal/v1/head")).header("X-Scope-OrgID", tenant.as_str());
        for (k, v) in params {
            req = req.query(*k, v);
        }
        let mut resp = req
            .config()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .build()
            .call()
            .map_err(|e| format!("ingester {url}: {e}"))?;
        let status = resp.status();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| format!("ingester {url}: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "ingester {url} answered {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&body).trim()
            ));
        }
        Ok(body)
    }

    async fn ask_all(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        start: i64,
        end: i64,
        stats: bool,
    ) -> Result<Vec<Vec<u8>>, String> {
        let params = vec![
            ("matchers", matchers_to_json(matchers)),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("stats", if stats { "1" } else { "0" }.to_string()),
        ];
        let asks = self.urls.iter().map(|url| {
            let (url, tenant, params) = (url.clone(), tenant.clone(), params.clone());
            tokio::task::spawn_blocking(move || Self::get(&url, &tenant, &params))
        });
        let mut out = Vec::with_capacity(self.urls.len());
        for joined in futures::future::join_all(asks).await {
            out.push(joined.map_err(|e| format!("asking an ingester panicked: {e}"))??);
        }
        Ok(out)
    }

    /// Unflushed entries of matching streams in `[start, end)` from every ingester.
    pub async fn select(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<(LabelSet, Vec<Entry>)>, String> {
        let mut out = Vec::new();
        for body in self.ask_all(tenant, matchers, start, end, false).await? {
            let batch = codec::decode_batch(&body).map_err(|e| format!("invalid head answer: {e}"))?;
            out.extend(batch.streams.into_iter().map(|s| (s.labels, s.entries)));
        }
        Ok(out)
    }

    /// Per matching unflushed stream of every ingester: (labels, entries, line bytes).
    pub async fn stream_stats(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<(LabelSet, u64, u64)>, String> {
        let mut out = Vec::new();
        for body in self.ask_all(tenant, matchers, start, end, true).await? {
            let rows: Vec<(String, u64, u64)> =
                serde_json::from_slice(&body).map_err(|e| format!("invalid head stats answer: {e}"))?;
            for (labels, n, b) in rows {
                out.push((LabelSet::parse(&labels).map_err(|e| e.to_string())?, n, b));
            }
        }
        Ok(out)
    }
}

impl HeadReader for RemoteHeads {
    fn select<'a>(
        &'a self,
        tenant: &'a TenantId,
        matchers: &'a [LabelMatcher],
        start: i64,
        end: i64,
    ) -> BoxFuture<'a, Result<HeadStreams, HeadReadError>> {
        Box::pin(async move {
            RemoteHeads::select(self, tenant, matchers, start, end)
                .await
                .map_err(HeadReadError)
        })
    }

    fn stream_stats<'a>(
        &'a self,
        tenant: &'a TenantId,
        matchers: &'a [LabelMatcher],
        start: i64,
        end: i64,
    ) -> BoxFuture<'a, Result<Vec<HeadStreamStat>, HeadReadError>> {
        Box::pin(async move {
            RemoteHeads::stream_stats(self, tenant, matchers, start, end)
                .await
                .map_err(HeadReadError)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_survive_the_wire() {
        let m = vec![
            LabelMatcher::new("app", MatchOp::Equal, "a\"b\\c ☃").unwrap(),
            LabelMatcher::new("host", MatchOp::Regex, "web-.+").unwrap(),
            LabelMatcher::new("env", MatchOp::NotEqual, "").unwrap(),
            LabelMatcher::new("x", MatchOp::NotRegex, "a|b").unwrap(),
        ];
        let back = matchers_from_json(&matchers_to_json(&m)).unwrap();
        assert_eq!(
            back.iter().map(ToString::to_string).collect::<Vec<_>>(),
            m.iter().map(ToString::to_string).collect::<Vec<_>>()
        );
        assert!(matchers_from_json(r#"[["a","<>","b"]]"#)
            .unwrap_err()
            .contains("operator"));
        assert!(matchers_from_json(r#"[["a","=~","("]]"#).is_err());
        assert!(matchers_from_json("nope").is_err());
    }

    #[tokio::test]
    async fn an_unreachable_ingester_fails_the_query() {
        let heads = RemoteHeads::new(vec!["http://127.0.0.1:1".into()]);
        let err = heads
            .select(&TenantId::default_tenant(), &[], 0, 10)
            .await
            .unwrap_err();
        assert!(err.contains("ingester http://127.0.0.1:1"), "{err}");
    }
}
