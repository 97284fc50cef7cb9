//! `GET /loki/api/v1/tail` (WebSocket): live tail. Every second (sooner while a backlog drains)
//! the new entries of the query since the last frame, `delay_for` seconds behind now, are sent as
//! one JSON text frame `{"streams":[...],"dropped_entries":[]}` in Loki's shape. A failing query
//! closes the socket with code 1011 and the error as reason.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use logq_querier::logql::{parse_log_selector, LogExpr};
use logq_querier::{Direction, LogQuery};
use logq_storage::{ScanStats, TenantId};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::params::{parse_time, Params};
use crate::state::{now_ns, AppState};
use crate::tenant::Tenant;

/// Loki's upper bound for `delay_for`.
const MAX_DELAY_SECS: i64 = 5;

/// What a tail follows.
struct TailRequest {
    tenant: TenantId,
    expr: LogExpr,
    start: i64,
    delay_ns: i64,
    limit: usize,
}

/// Validates the request (400 before upgrading) and upgrades to a WebSocket.
pub async fn tail(
    State(s): State<Arc<AppState>>,
    Tenant(tenant): Tenant,
    ws: WebSocketUpgrade,
    p: Params,
) -> Result<Response, ApiError> {
    let expr = parse_log_selector(p.required("query")?).map_err(logq_querier::QueryError::from)?;
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
    let req = TailRequest {
        tenant,
        expr,
        start,
        delay_ns: delay * 1_000_000_000,
        limit: p.limit(100)?,
    };
    Ok(ws.on_upgrade(move |socket| follow(socket, s, req)))
}

async fn follow(mut socket: WebSocket, s: Arc<AppState>, req: TailRequest) {
    let mut from = req.start;
    // Entries already sent at timestamp `from` (the next poll starts there, inclusive).
    let mut sent_at_from: HashSet<(String, String)> = HashSet::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
        }
        loop {
            let until = now_ns() - req.delay_ns;
            if until <= from {
                break;
            }
            let q = LogQuery {
                tenant: req.tenant.clone(),
                expr: req.expr.clone(),
                start: from,
                end: until,
                limit: req.limit,
                direction: Direction::Forward,
                stats: Arc::new(ScanStats::default()),
            };
            let streams = match s.querier.select_logs(&q).await {
                Ok(streams) => streams,
                Err(e) => {
                    let frame = CloseFrame {
                        code: 1011,
                        reason: e.to_string().chars().take(120).collect::<String>().into(),
                    };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    return;
                }
            };
            let total: usize = streams.iter().map(|s| s.entries.len()).sum();
            let newest = streams.iter().flat_map(|s| s.entries.iter()).map(|e| e.ts).max();
            let mut out = Vec::new();
            let mut next_seen = HashSet::new();
            for st in &streams {
                let labels = st.labels.to_string();
                let values: Vec<Value> = st
                    .entries
                    .iter()
                    .filter(|e| !(e.ts == from && sent_at_from.contains(&(labels.clone(), e.line.clone()))))
                    .map(|e| {
                        if Some(e.ts) == newest {
                            next_seen.insert((labels.clone(), e.line.clone()));
                        }
                        json!([e.ts.to_string(), e.line])
                    })
                    .collect();
                if !values.is_empty() {
                    let stream: serde_json::Map<String, Value> = st
                        .labels
                        .pairs()
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect();
                    out.push(json!({"stream": stream, "values": values}));
                }
            }
            if !out.is_empty() {
                let frame = json!({"streams": out, "dropped_entries": []}).to_string();
                if socket.send(Message::Text(frame.into())).await.is_err() {
                    return;
                }
            }
            match newest {
                // A full batch: more may be waiting at or after `newest`; poll again at once.
                Some(ts) if total >= req.limit => {
                    if ts == from {
                        next_seen.extend(sent_at_from.drain());
                    }
                    from = ts;
                    sent_at_from = next_seen;
                }
                Some(ts) => {
                    if ts == from {
                        next_seen.extend(sent_at_from.drain());
                    }
                    from = ts;
                    sent_at_from = next_seen;
                    break;
                }
                None => break,
            }
        }
    }
}
