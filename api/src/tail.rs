//! `GET /loki/api/v1/tail` (WebSocket): live tail with Loki's semantics.
//!
//! On connect, the at most `limit` most recent entries in `[start, now - delay_for)` are sent
//! (oldest first, one frame); after that only newer entries, polled every second (sooner while
//! a backlog drains), `delay_for` seconds behind now. Frames are
//! `{"streams":[...],"dropped_entries":[...]}`. Frames wait in a bounded queue for the socket:
//! when a slow client lets it fill, new entries are dropped and reported in the next frame's
//! `dropped_entries` (`{"labels","timestamp"}`), as Loki's tailer does. `X-Scope-OrgID: a|b`
//! tails every tenant, each stream carrying `__tenant_id__`. A failing query closes the socket
//! with code 1011 and the error as reason.
//!
//! Invariants: no entry is sent twice; every entry past the initial window is either sent or
//! reported dropped.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use logq_querier::logql::{parse_log_selector, LogExpr};
use logq_querier::{Direction, LogQuery, StreamResult};
use logq_storage::{now_ns, ScanStats, TenantId};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::multi_tenant::{parse_tenants, split_tenant_matchers, TENANT_LABEL};
use crate::params::{parse_time, Params};
use crate::state::AppState;

/// Loki's upper bound for `delay_for`.
const MAX_DELAY_SECS: i64 = 5;
/// Entries read per poll while catching up.
const POLL_BATCH: usize = 1000;
/// Frames waiting for a slow client before entries are dropped.
const QUEUE_FRAMES: usize = 8;
/// Dropped entries reported per frame, at most.
const MAX_DROPPED_REPORTED: usize = 1000;

/// What a tail follows.
struct TailRequest {
    tenants: Vec<TenantId>,
    /// Whether streams are labelled with their tenant (several tenants asked for).
    label_tenants: bool,
    expr: LogExpr,
    start: i64,
    /// When the request arrived: the history ends here, live entries follow.
    connected_at: i64,
    delay_ns: i64,
    limit: usize,
}

/// Validates the request (400 before upgrading) and upgrades to a WebSocket.
pub async fn tail(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
    p: Params,
) -> Result<Response, ApiError> {
    let org = match headers.get("x-scope-orgid") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::bad_request("invalid X-Scope-OrgID header: not visible ASCII"))?,
        ),
    };
    let mut tenants = match org {
        None => vec![TenantId::default_tenant()],
        Some(o) => parse_tenants(o)?,
    };
    let label_tenants = tenants.len() > 1;
    let mut query = p.required("query")?.to_string();
    if label_tenants {
        let (rewritten, wanted) = split_tenant_matchers(&query)?;
        query = rewritten;
        tenants.retain(|t| wanted.iter().all(|m| m.matches_value(t.as_str())));
    }
    let expr = parse_log_selector(&query).map_err(logq_querier::QueryError::from)?;
    let delay: i64 = match p.get("delay_for") {
        None => 0,
        Some(v) => v
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid delay_for {v:?}: must be whole seconds")))?,
    };
    if !(0..=MAX_DELAY_SECS).contains(&delay) {
        return Err(ApiError::bad_request(format!(
            "delay_for can't be greater than {MAX_DELAY_SECS}"
        )));
    }
    let start = match p.get("start") {
        Some(v) => parse_time(v).map_err(|e| ApiError::bad_request(format!("invalid start: {e}")))?,
        None => now_ns() - 3_600_000_000_000,
    };
    let limit = p.limit(100)?;
    for tenant in &tenants {
        crate::query::check_entries(s.overrides.get(tenant), limit)?;
    }
    let req = TailRequest {
        tenants,
        label_tenants,
        expr,
        start,
        connected_at: now_ns(),
        delay_ns: delay * 1_000_000_000,
        limit,
    };
    Ok(ws.on_upgrade(move |socket| follow(socket, s, req)))
}

/// One entry on its way to the client.
struct Out {
    labels: Vec<(String, String)>,
    ts: i64,
    line: String,
}

/// The entries of `[from, until)` of every tenant, oldest first (newest first when
/// `backward`), at most `limit`.
async fn read(
    s: &AppState,
    req: &TailRequest,
    from: i64,
    until: i64,
    limit: usize,
    backward: bool,
) -> Result<Vec<Out>, String> {
    let mut out = Vec::new();
    for tenant in &req.tenants {
        let q = LogQuery {
            tenant: tenant.clone(),
            expr: req.expr.clone(),
            start: from,
            end: until,
            limit,
            direction: if backward {
                Direction::Backward
            } else {
                Direction::Forward
            },
            stats: Arc::new(ScanStats::default()),
        };
        let streams: Vec<StreamResult> = s.querier.select_logs(&q).await.map_err(|e| e.to_string())?;
        for st in streams {
            let mut labels = st.labels.pairs().to_vec();
            if req.label_tenants {
                labels.push((TENANT_LABEL.to_string(), tenant.as_str().to_string()));
            }
            for e in st.entries {
                out.push(Out {
                    labels: labels.clone(),
                    ts: e.ts,
                    line: e.line,
                });
            }
        }
    }
    out.sort_by_key(|o| o.ts);
    if backward {
        out.reverse();
    }
    out.truncate(limit);
    Ok(out)
}

/// A frame's streams: labels and their values, in order of first appearance.
type FrameStreams<'a> = Vec<(&'a Vec<(String, String)>, Vec<Value>)>;

/// Loki's tail frame.
fn frame(entries: &[Out], dropped: &[(String, i64)]) -> String {
    let mut streams: FrameStreams<'_> = Vec::new();
    for e in entries {
        let v = json!([e.ts.to_string(), e.line]);
        match streams.iter_mut().find(|s| *s.0 == e.labels) {
            Some(s) => s.1.push(v),
            None => streams.push((&e.labels, vec![v])),
        }
    }
    let streams: Vec<Value> = streams
        .into_iter()
        .map(|(labels, values)| {
            let stream: Map<String, Value> = labels
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            json!({"stream": stream, "values": values})
        })
        .collect();
    let dropped: Vec<Value> = dropped
        .iter()
        .map(|(labels, ts)| json!({"labels": labels, "timestamp": ts.to_string()}))
        .collect();
    json!({"streams": streams, "dropped_entries": dropped}).to_string()
}

fn labels_text(labels: &[(String, String)]) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

async fn follow(socket: WebSocket, s: Arc<AppState>, req: TailRequest) {
    let (tx, rx) = mpsc::channel::<Message>(QUEUE_FRAMES);
    let sender = tokio::spawn(send_frames(socket, rx));
    poll(&s, &req, tx).await;
    let _ = sender.await;
}

/// Writes queued frames to the socket; ends when the client goes away or the queue closes.
async fn send_frames(mut socket: WebSocket, mut rx: mpsc::Receiver<Message>) {
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(m) => {
                    let close = matches!(m, Message::Close(_));
                    if socket.send(m).await.is_err() || close {
                        return;
                    }
                }
                None => return,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Reads the history, then new entries, queueing frames; returns when the client is gone.
async fn poll(s: &AppState, req: &TailRequest, tx: mpsc::Sender<Message>) {
    let fail = |e: String| {
        Message::Close(Some(CloseFrame {
            code: 1011,
            reason: e.chars().take(120).collect::<String>().into(),
        }))
    };
    let until = req.connected_at - req.delay_ns;
    // The `limit` most recent entries from `start`, sent oldest first.
    let mut history = match read(s, req, req.start, until.max(req.start), req.limit, true).await {
        Ok(h) => h,
        Err(e) => {
            let _ = tx.send(fail(e)).await;
            return;
        }
    };
    history.reverse();
    let mut from = until.max(req.start);
    // Entries at exactly `from` already sent (the next poll starts there, inclusive).
    let mut sent_at_from: HashSet<(String, String)> = HashSet::new();
    if let Some(last) = history.last() {
        from = from.max(last.ts);
        for e in history.iter().filter(|e| e.ts == from) {
            sent_at_from.insert((labels_text(&e.labels), e.line.clone()));
        }
    }
    if !history.is_empty() && tx.send(Message::Text(frame(&history, &[]).into())).await.is_err() {
        return;
    }
    let mut dropped: Vec<(String, i64)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if tx.is_closed() {
            return;
        }
        loop {
            let until = now_ns() - req.delay_ns;
            if until <= from {
                break;
            }
            let batch = match read(s, req, from, until, POLL_BATCH, false).await {
                Ok(b) => b,
                Err(e) => {
                    let _ = tx.send(fail(e)).await;
                    return;
                }
            };
            let full = batch.len() >= POLL_BATCH;
            let fresh: Vec<Out> = batch
                .into_iter()
                .filter(|e| {
                    !(e.ts == from && sent_at_from.contains(&(labels_text(&e.labels), e.line.clone())))
                })
                .collect();
            let Some(newest) = fresh.iter().map(|e| e.ts).max() else {
                if !full {
                    break;
                }
                // A whole batch at one already-sent timestamp: step past it.
                from += 1;
                sent_at_from.clear();
                continue;
            };
            if newest != from {
                sent_at_from.clear();
            }
            for e in fresh.iter().filter(|e| e.ts == newest) {
                sent_at_from.insert((labels_text(&e.labels), e.line.clone()));
            }
            from = newest;
            let text = frame(&fresh, &dropped);
            match tx.try_send(Message::Text(text.into())) {
                Ok(()) => dropped.clear(),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    for e in &fresh {
                        if dropped.len() < MAX_DROPPED_REPORTED {
                            dropped.push((labels_text(&e.labels), e.ts));
                        }
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
            if !full {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_group_entries_by_stream_and_report_drops() {
        let l = vec![("app".to_string(), "x".to_string())];
        let entries = vec![
            Out {
                labels: l.clone(),
                ts: 1,
                line: "a".into(),
            },
            Out {
                labels: l.clone(),
                ts: 2,
                line: "b".into(),
            },
        ];
        let v: Value = serde_json::from_str(&frame(&entries, &[(labels_text(&l), 7)])).unwrap();
        assert_eq!(v["streams"][0]["values"], json!([["1", "a"], ["2", "b"]]));
        assert_eq!(
            v["dropped_entries"],
            json!([{"labels": "{app=\"x\"}", "timestamp": "7"}])
        );
    }
}
