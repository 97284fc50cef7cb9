//! `GET /logq/api/v1/export`: every entry of a log query in a time range as newline-delimited
//! JSON, streamed with chunked transfer. No entry limit and no range limit: the range is walked
//! in windows (aligned divisors of an hour, sized from the line bytes the previous window held),
//! each window read whole with [`Querier::export_window`], so server memory is bounded by one
//! window and the objects read for it, whatever the range. Empty stretches are skipped with one
//! limit-1 query ([`Querier::first_entry_ts`]), so a range of years costs no more than its data.
//!
//! Each line is `{"stream":{...},"ts":"<ns>","line":"...","metadata":{...}}` (plus `"parsed"`
//! when the pipeline extracted labels); entries come oldest first (by timestamp, then stream),
//! so every stream is in time order. A complete answer ends with one trailer line
//! `{"trailer":{"entries":N,"streams":S,"bytes":B,"start":"<ns>","end":"<ns>"}}`; a failure
//! after the first byte ends the body with `{"error":"..."}` and no trailer, so a client tells a
//! complete answer from a cut one by the trailer alone.

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use logq_querier::logql::{parse, Expr, LogExpr};
use logq_querier::{Direction, LogQuery, Querier, StreamResult};
use logq_storage::{ScanStats, TenantId};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::params::Params;
use crate::state::{now_ns, AppState};
use crate::tenant::Tenant;

/// Line bytes a window should hold; the next window is sized from the last one's density.
const TARGET_WINDOW_BYTES: f64 = 32.0 * 1024.0 * 1024.0;

/// Window sizes, all dividing an hour (so no window straddles an hour block), largest first.
const WINDOW_SIZES_NS: [i64; 14] = [
    3_600_000_000_000,
    1_800_000_000_000,
    900_000_000_000,
    600_000_000_000,
    300_000_000_000,
    120_000_000_000,
    60_000_000_000,
    30_000_000_000,
    10_000_000_000,
    5_000_000_000,
    1_000_000_000,
    100_000_000,
    10_000_000,
    1_000_000,
];

/// The first window's size, before any density is known.
const FIRST_WINDOW_NS: i64 = 60_000_000_000;

/// Body bytes gathered before they are handed to the connection.
const CHUNK_BYTES: usize = 256 * 1024;

/// Chunks queued between the reader and the connection (the rest waits on the client).
const QUEUED_CHUNKS: usize = 4;

/// The largest window size whose expected line bytes, at `bytes_per_ns`, stay within the target.
fn window_size(bytes_per_ns: f64) -> i64 {
    WINDOW_SIZES_NS
        .iter()
        .copied()
        .find(|&w| bytes_per_ns * w as f64 <= TARGET_WINDOW_BYTES)
        .unwrap_or(WINDOW_SIZES_NS[WINDOW_SIZES_NS.len() - 1])
}

/// The end of the window of `size` starting at `from`: the next multiple of `size`, at most `end`.
fn window_end(from: i64, size: i64, end: i64) -> i64 {
    from.div_euclid(size)
        .saturating_add(1)
        .saturating_mul(size)
        .min(end)
}

/// Validates the request (400 with the reason) and streams the answer.
pub async fn export(
    State(s): State<Arc<AppState>>,
    Tenant(tenant): Tenant,
    p: Params,
) -> Result<Response, ApiError> {
    let expr = match parse(p.required("query")?).map_err(logq_querier::QueryError::from)? {
        Expr::Log(l) => l,
        Expr::Sample(_) => {
            return Err(ApiError::bad_request(
                "export answers log queries only (a stream selector with an optional pipeline), not metric queries",
            ))
        }
    };
    let (start, end) = p.range(now_ns())?;
    s.metrics.queries.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(QUEUED_CHUNKS);
    let querier = s.querier.clone();
    tokio::spawn(async move {
        let mut out = Sink {
            tx,
            buf: Vec::with_capacity(CHUNK_BYTES),
        };
        match write_range(&querier, tenant, expr, start, end, &mut out).await {
            Ok(()) => {}
            Err(Stop::ClientGone) => return,
            Err(Stop::Failed(message)) => {
                tracing::warn!(error = %message, "export failed after the answer started");
                out.buf
                    .extend_from_slice(json!({ "error": message }).to_string().as_bytes());
                out.buf.push(b'\n');
            }
        }
        let _ = out.flush().await;
    });
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson; charset=utf-8")],
        body,
    )
        .into_response())
}

/// Why an export stopped before its trailer.
enum Stop {
    /// The client closed the connection.
    ClientGone,
    /// A query failed; the reason goes to the client as an error line.
    Failed(String),
}

/// The answer's bytes on their way to the connection.
struct Sink {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl Sink {
    async fn flush(&mut self) -> Result<(), Stop> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES)));
        self.tx.send(Ok(chunk)).await.map_err(|_| Stop::ClientGone)
    }

    async fn maybe_flush(&mut self) -> Result<(), Stop> {
        if self.buf.len() >= CHUNK_BYTES {
            self.flush().await?;
        }
        Ok(())
    }
}

/// Walks `[start, end)` window by window, writing every entry and then the trailer.
async fn write_range(
    querier: &Querier,
    tenant: TenantId,
    expr: LogExpr,
    start: i64,
    end: i64,
    out: &mut Sink,
) -> Result<(), Stop> {
    let (mut entries, mut bytes) = (0u64, 0u64);
    let mut streams: HashSet<u64> = HashSet::new();
    let mut from = start;
    let mut size = FIRST_WINDOW_NS;
    let query = |start: i64, end: i64| LogQuery {
        tenant: tenant.clone(),
        expr: expr.clone(),
        start,
        end,
        limit: usize::MAX,
        direction: Direction::Forward,
        stats: Arc::new(ScanStats::default()),
    };
    let mut skip_empty = true;
    while from < end {
        if skip_empty {
            // Jump over an empty stretch (the first window, or after an empty one) at once.
            match querier
                .first_entry_ts(&query(from, end))
                .await
                .map_err(|e| Stop::Failed(e.to_string()))?
            {
                Some(ts) => from = from.max(ts),
                None => break,
            }
        }
        let to = window_end(from, size, end);
        let result = querier
            .export_window(&query(from, to))
            .await
            .map_err(|e| Stop::Failed(e.to_string()))?;
        skip_empty = result.iter().all(|s| s.entries.is_empty());
        let mut window_bytes = 0u64;
        for st in &result {
            streams.insert(st.labels.fingerprint());
        }
        let labels: Vec<String> = result.iter().map(stream_json).collect();
        for (stream, entry) in time_order(&result) {
            let st = &result[stream];
            let e = &st.entries[entry];
            write_entry(&mut out.buf, &labels[stream], e, st.parsed.get(entry));
            entries += 1;
            window_bytes += e.line.len() as u64;
            out.maybe_flush().await?;
        }
        bytes += window_bytes;
        size = window_size(window_bytes as f64 / (to - from).max(1) as f64);
        from = to;
    }
    let trailer = json!({"trailer": {
        "entries": entries,
        "streams": streams.len(),
        "bytes": bytes,
        "start": start.to_string(),
        "end": end.to_string(),
    }});
    out.buf.extend_from_slice(trailer.to_string().as_bytes());
    out.buf.push(b'\n');
    Ok(())
}

/// (stream index, entry index) of every entry, oldest first, ties by stream order.
fn time_order(result: &[StreamResult]) -> Vec<(usize, usize)> {
    let mut order: Vec<(i64, usize, usize)> = result
        .iter()
        .enumerate()
        .flat_map(|(s, st)| st.entries.iter().enumerate().map(move |(i, e)| (e.ts, s, i)))
        .collect();
    order.sort_unstable();
    order.into_iter().map(|(_, s, i)| (s, i)).collect()
}

/// A stream's labels as a JSON object's text.
fn stream_json(st: &StreamResult) -> String {
    pairs_json(st.labels.pairs()).to_string()
}

fn pairs_json(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// Appends one entry's line.
fn write_entry(
    buf: &mut Vec<u8>,
    stream: &str,
    e: &logq_storage::Entry,
    parsed: Option<&Vec<(String, String)>>,
) {
    buf.extend_from_slice(b"{\"stream\":");
    buf.extend_from_slice(stream.as_bytes());
    buf.extend_from_slice(b",\"ts\":\"");
    // Writing into a Vec cannot fail.
    let _ = write!(buf, "{}", e.ts);
    buf.extend_from_slice(b"\",\"line\":");
    let _ = serde_json::to_writer(&mut *buf, &e.line);
    buf.extend_from_slice(b",\"metadata\":");
    if e.metadata.is_empty() {
        buf.extend_from_slice(b"{}");
    } else {
        let _ = serde_json::to_writer(&mut *buf, &pairs_json(&e.metadata));
    }
    if let Some(p) = parsed.filter(|p| !p.is_empty()) {
        buf.extend_from_slice(b",\"parsed\":");
        let _ = serde_json::to_writer(&mut *buf, &pairs_json(p));
    }
    buf.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_divide_hours_and_follow_density() {
        for w in WINDOW_SIZES_NS {
            assert_eq!(3_600_000_000_000 % w, 0, "{w} does not divide an hour");
        }
        assert_eq!(window_size(0.0), 3_600_000_000_000);
        // 1 MB/s: 32 MiB fit in 30 s but not in 60 s.
        assert_eq!(window_size(1e6 / 1e9), 30_000_000_000);
        // Absurd density still gets the smallest window.
        assert_eq!(window_size(1e12), 1_000_000);
    }

    #[test]
    fn window_ends_are_aligned_and_capped() {
        let hour = 3_600_000_000_000;
        assert_eq!(window_end(hour + 5, hour, 10 * hour), 2 * hour);
        assert_eq!(window_end(hour, hour, 10 * hour), 2 * hour);
        assert_eq!(window_end(hour, hour, hour + 7), hour + 7);
        assert_eq!(window_end(-5, 10, 100), 0);
    }

    #[test]
    fn entry_lines_are_json_with_metadata() {
        let mut buf = Vec::new();
        let e = logq_storage::Entry {
            ts: 42,
            id: 0,
            line: "a \"quoted\"\nline".into(),
            metadata: vec![("trace_id".into(), "t1".into())],
        };
        write_entry(&mut buf, r#"{"app":"x"}"#, &e, None);
        let text = String::from_utf8(buf).unwrap();
        assert!(text.ends_with('\n'));
        let v: Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(v["stream"]["app"], "x");
        assert_eq!(v["ts"], "42");
        assert_eq!(v["line"], "a \"quoted\"\nline");
        assert_eq!(v["metadata"]["trace_id"], "t1");
        assert!(v.get("parsed").is_none());
    }
}
