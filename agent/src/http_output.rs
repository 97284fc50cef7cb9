//! Where batches go: the [`Output`] trait (send a batch, `Ok` only once it is acknowledged), and
//! [`HttpOutput`], a push to any Loki-compatible endpoint (`/loki/api/v1/push`, snappy-compressed
//! protobuf, optional `X-Scope-OrgID`). Message ids travel as the structured-metadata pair
//! `logq_storage::push::MESSAGE_ID_METADATA`, which logq strips and uses for de-duplication (other
//! Loki servers keep it as ordinary metadata).
//!
//! Partial acceptance: pushes carry `Accept: application/json`; a 400 whose body is
//! `{"message", "accepted", "rejected": [{"stream", "entry", "labels", "ts", "reason", "error"}]}`
//! (indices into the request's streams and their entries) means the server stored every other
//! entry, and [`Delivery::rejected`] names the refused ones. A 400 without that body (an older
//! server, a proxy) refuses the whole batch, with the body as the reason. 429, 5xx and network
//! errors are retryable [`OutputError`]s; any other status refuses the whole batch.

use std::time::Duration;

use logq_storage::PushBatch;

use crate::error::OutputError;

/// A destination for batches. `send` returns `Ok` only when the destination answered for every
/// entry of the batch: each is either stored durably or named in [`Delivery::rejected`]. The
/// checkpoint moves on that and nothing else.
pub trait Output {
    /// Delivers one batch.
    fn send(&mut self, batch: &PushBatch) -> Result<Delivery, OutputError>;
}

/// The destination's answer to a batch it took: which entries it refused for good.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Entries refused (the others were stored), in the order the server listed them.
    pub rejected: Vec<RejectedEntry>,
}

impl Delivery {
    /// Every entry of `batch` refused for `reason`.
    pub fn all_rejected(batch: &PushBatch, reason: &str) -> Delivery {
        let rejected = batch
            .streams
            .iter()
            .enumerate()
            .flat_map(|(s, st)| {
                (0..st.entries.len()).map(move |e| RejectedEntry {
                    stream: s,
                    entry: e,
                    reason: reason.to_string(),
                    error: None,
                })
            })
            .collect();
        Delivery { rejected }
    }
}

/// One entry the destination refused for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEntry {
    /// Index of its stream in the batch.
    pub stream: usize,
    /// Index of the entry in that stream.
    pub entry: usize,
    /// The server's short reason (`too_old`, `line_too_long`, ...) or its whole answer.
    pub reason: String,
    /// The server's message for this entry, when it gave one.
    pub error: Option<String>,
}

/// Largest 400 body read (a partial-acceptance answer lists every refused entry).
const MAX_REJECTION_BODY: u64 = 32 << 20;

/// The refused entries of a partial-acceptance 400 body, or `None` when `body` is not one (or
/// names entries that `batch` does not have).
pub fn parse_rejections(batch: &PushBatch, body: &str) -> Option<Vec<RejectedEntry>> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let list = v.get("rejected")?.as_array()?;
    let mut out = Vec::with_capacity(list.len());
    for r in list {
        let stream = usize::try_from(r.get("stream")?.as_u64()?).ok()?;
        let entry = usize::try_from(r.get("entry")?.as_u64()?).ok()?;
        // An index the batch does not have: the answer is not about this batch.
        batch.streams.get(stream)?.entries.get(entry)?;
        let text = |k: &str| {
            r.get(k)
                .and_then(|x| x.as_str())
                .filter(|x| !x.is_empty())
                .map(String::from)
        };
        let error = text("error");
        let reason = text("reason")
            .or_else(|| error.clone())
            .or_else(|| v.get("message").and_then(|m| m.as_str()).map(String::from))
            .unwrap_or_else(|| "rejected".into());
        out.push(RejectedEntry {
            stream,
            entry,
            reason,
            error,
        });
    }
    Some(out)
}

/// Pushes to a Loki-compatible HTTP endpoint.
#[derive(Debug)]
pub struct HttpOutput {
    url: String,
    org_id: Option<String>,
    agent: ureq::Agent,
}

impl HttpOutput {
    /// An output pushing to `url` (the full push URL) as tenant `org_id` (header omitted when
    /// `None`), each request bounded by `timeout`.
    pub fn new(url: String, org_id: Option<String>, timeout: Duration) -> HttpOutput {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        HttpOutput { url, org_id, agent }
    }
}

impl Output for HttpOutput {
    fn send(&mut self, batch: &PushBatch) -> Result<Delivery, OutputError> {
        let body = logq_storage::push::encode_protobuf(batch);
        let mut req = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/x-protobuf")
            .header("Accept", "application/json");
        if let Some(org) = &self.org_id {
            req = req.header("X-Scope-OrgID", org);
        }
        let mut resp = req.send(&body[..]).map_err(|e| OutputError {
            retryable: true,
            message: format!("push to {} failed: {e}", self.url),
        })?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(Delivery::default());
        }
        let limit = if status == 400 { MAX_REJECTION_BODY } else { 4096 };
        let text = resp
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_string()
            .unwrap_or_default();
        if status == 400 {
            // Loki answers 400 for entries it will never take (too old, too long): retrying
            // would block the agent forever. The others of the batch were stored.
            let rejected = parse_rejections(batch, &text).unwrap_or_else(|| {
                let reason = format!("push to {} answered 400: {}", self.url, text.trim());
                Delivery::all_rejected(batch, &reason).rejected
            });
            return Ok(Delivery { rejected });
        }
        Err(OutputError {
            // 429 and 5xx are transient; anything else (401, 404, 413) is not.
            retryable: status == 429 || status >= 500,
            message: format!("push to {} answered {status}: {}", self.url, text.trim()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logq_storage::{Entry, LabelSet, StreamEntries, TenantId};
    use std::io::{BufRead, BufReader, Read, Write};

    /// A one-connection HTTP server answering `status` with `body`; returns its URL and a handle
    /// yielding the request's header lines.
    fn fake_server(status: u16, body: &'static str) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/loki/api/v1/push", listener.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut len = 0usize;
            loop {
                let mut l = String::new();
                r.read_line(&mut l).unwrap();
                let l = l.trim_end().to_string();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                headers.push(l);
            }
            let mut req = vec![0; len];
            r.read_exact(&mut req).unwrap();
            let mut w = conn;
            write!(
                w,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            headers
        });
        (url, h)
    }

    fn batch() -> PushBatch {
        let stream = |h: &str, n: usize| StreamEntries {
            labels: LabelSet::from_pairs([("host".to_string(), h.to_string())]),
            entries: (0..n)
                .map(|i| Entry {
                    ts: i as i64,
                    id: i as u64,
                    line: format!("{h} {i}"),
                    metadata: Vec::new(),
                })
                .collect(),
        };
        PushBatch {
            tenant: TenantId::default_tenant(),
            streams: vec![stream("a", 2), stream("b", 3)],
        }
    }

    fn send(status: u16, body: &'static str) -> (Result<Delivery, OutputError>, Vec<String>) {
        let (url, h) = fake_server(status, body);
        let mut out = HttpOutput::new(url, None, Duration::from_secs(5));
        let r = out.send(&batch());
        (r, h.join().unwrap())
    }

    #[test]
    fn a_partial_acceptance_400_names_the_refused_entries() {
        let (r, headers) = send(
            400,
            r#"{"message":"1 of 5 entries rejected","accepted":4,"rejected":[{"stream":1,"entry":2,"labels":"{host=\"b\"}","ts":"2","reason":"too_old","error":"entry too old"}]}"#,
        );
        assert!(
            headers
                .iter()
                .any(|h| h.eq_ignore_ascii_case("accept: application/json")),
            "{headers:?}"
        );
        let d = r.unwrap();
        assert_eq!(
            d.rejected,
            vec![RejectedEntry {
                stream: 1,
                entry: 2,
                reason: "too_old".into(),
                error: Some("entry too old".into()),
            }]
        );
    }

    #[test]
    fn a_400_without_the_json_refuses_the_whole_batch_with_the_body_as_reason() {
        let (r, _) = send(400, "bad request from a proxy");
        let d = r.unwrap();
        assert_eq!(d.rejected.len(), 5);
        assert!(
            d.rejected[4].reason.contains("bad request from a proxy"),
            "{:?}",
            d.rejected[4]
        );
        assert_eq!((d.rejected[4].stream, d.rejected[4].entry), (1, 2));
    }

    #[test]
    fn out_of_range_indices_mean_the_answer_is_not_trusted() {
        let (r, _) = send(
            400,
            r#"{"message":"x","rejected":[{"stream":7,"entry":0,"reason":"r"}]}"#,
        );
        assert_eq!(r.unwrap().rejected.len(), 5);
    }

    #[test]
    fn status_429_and_5xx_are_retryable_other_4xx_are_not() {
        for (status, retryable) in [(429, true), (500, true), (503, true), (401, false), (413, false)] {
            let (r, _) = send(status, "{}");
            assert_eq!(r.unwrap_err().retryable, retryable, "status {status}");
        }
        let mut out = HttpOutput::new("http://127.0.0.1:1/x".into(), None, Duration::from_secs(2));
        assert!(
            out.send(&batch()).unwrap_err().retryable,
            "connection refused is retryable"
        );
    }

    #[test]
    fn success_refuses_nothing() {
        let (r, _) = send(204, "");
        assert_eq!(r.unwrap(), Delivery::default());
    }
}
