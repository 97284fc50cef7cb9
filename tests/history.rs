//! End-to-end tests of history indexes through the real binary: the equality suite (the same
//! log and metric queries answered by scanning and with an index give identical answers, with
//! data in blocks, chunks and the head at once and ranges partly covered), the lifecycle (one
//! build for concurrent loads, reuse after a restart, expiry, eviction under the disk budget,
//! delete requests and retention, tenant isolation, corruption), the API's errors and the CLI.

mod util;

use std::process::Command;
use std::time::Duration;

use logq_loadgen::LogGenerator;
use serde_json::Value;
use util::*;

const SEC: i64 = 1_000_000_000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;

/// An answer with the path header.
struct Answer {
    status: u16,
    body: String,
    path: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn call(method: &str, url: &str, tenant: Option<&str>, params: &[(&str, String)]) -> Answer {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let result = match method {
        "POST" => {
            let body: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
                .finish();
            let mut r = agent
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded");
            if let Some(t) = tenant {
                r = r.header("X-Scope-OrgID", t);
            }
            r.send(body.as_bytes())
        }
        _ => {
            let mut r = if method == "DELETE" {
                agent.delete(url)
            } else {
                agent.get(url)
            };
            for (k, v) in params {
                r = r.query(*k, v);
            }
            if let Some(t) = tenant {
                r = r.header("X-Scope-OrgID", t);
            }
            r.call()
        }
    };
    let mut resp = result.expect("request");
    let status = resp.status().as_u16();
    let path = resp
        .headers()
        .get("x-logq-path")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .unwrap_or_default();
    Answer { status, body, path }
}

/// Loads `[start, end)` (optionally a selector) and returns the description.
fn load(server: &Server, tenant: Option<&str>, start: i64, end: i64, query: Option<&str>) -> Answer {
    let mut params = vec![("start", start.to_string()), ("end", end.to_string())];
    if let Some(q) = query {
        params.push(("query", q.to_string()));
    }
    call("POST", &server.url("/logq/api/v1/history"), tenant, &params)
}

fn describe(server: &Server, tenant: Option<&str>, id: &str) -> Answer {
    call(
        "GET",
        &server.url(&format!("/logq/api/v1/history/{id}")),
        tenant,
        &[],
    )
}

/// Waits until index `id` is in `state`, returning its description.
fn wait_state(server: &Server, tenant: Option<&str>, id: &str, state: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..600 {
        let a = describe(server, tenant, id);
        assert_eq!(a.status, 200, "{}", a.body);
        last = a.json();
        if last["state"] == state {
            return last;
        }
        assert!(
            !(state == "ready" && last["state"] == "failed"),
            "build failed: {last}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("index {id} never became {state}: {last}");
}

fn load_ready(server: &Server, tenant: Option<&str>, start: i64, end: i64, query: Option<&str>) -> Value {
    let a = load(server, tenant, start, end, query);
    assert_eq!(a.status, 202, "{}", a.body);
    let id = a.json()["id"].as_str().unwrap().to_string();
    wait_state(server, tenant, &id, "ready")
}

fn metric(server: &Server, name: &str) -> f64 {
    let body = call("GET", &server.url("/metrics"), None, &[]).body;
    body.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

/// Runs a query (`query_range`, or `query` when `step` is None and `instant`), returning the
/// answer.
fn query_range(
    server: &Server,
    tenant: Option<&str>,
    q: &str,
    start: i64,
    end: i64,
    extra: &[(&str, &str)],
) -> Answer {
    let mut params = vec![
        ("query", q.to_string()),
        ("start", start.to_string()),
        ("end", end.to_string()),
    ];
    params.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    call("GET", &server.url("/loki/api/v1/query_range"), tenant, &params)
}

fn query_instant(server: &Server, tenant: Option<&str>, q: &str, time: i64) -> Answer {
    call(
        "GET",
        &server.url("/loki/api/v1/query"),
        tenant,
        &[("query", q.to_string()), ("time", time.to_string())],
    )
}

/// A rare needle planted in some lines, and trace ids.
const NEEDLE: &str = "needle-7f3a";

/// `streams` streams of `per` lines from `start`, `step` apart, in time order per stream; some
/// lines carry the needle, unicode or punctuation that crosses token boundaries.
fn corpus(label: &str, streams: usize, per: i64, start: i64, step: i64) -> Vec<TestStream> {
    let mut gen = LogGenerator::new(7);
    let services = LogGenerator::services();
    (0..streams)
        .map(|s| {
            let service = services[s % services.len()];
            let host = format!("host-{}", s % 3);
            let entries = (0..per)
                .map(|i| {
                    let ts = start + (i * streams as i64 + s as i64) * step;
                    let mut line = gen.line_for(service, &host, ts).line;
                    if (i * 7 + s as i64) % 97 == 0 {
                        line.push_str(&format!(" {NEEDLE} span=Ünïcødé·{i}"));
                    }
                    if (i + s as i64) % 211 == 0 {
                        line.push_str(" error: conn refused (ror: conn)");
                    }
                    (ts, line)
                })
                .collect();
            TestStream {
                labels: vec![
                    ("test".into(), label.into()),
                    ("service".into(), service.into()),
                    ("host".into(), host),
                ],
                entries,
            }
        })
        .collect()
}

/// A trace id that occurs in the corpus (from an `api` line).
fn some_trace_id(streams: &[TestStream]) -> String {
    streams
        .iter()
        .flat_map(|s| &s.entries)
        .find_map(|(_, l)| l.split("trace_id=").nth(1).map(|t| t[..16].to_string()))
        .expect("an api line with a trace id")
}

/// Log queries (query, direction, limit) and metric queries of the equality suite.
fn suite(trace: &str) -> (Vec<(String, &'static str, &'static str)>, Vec<String>) {
    let sel = r#"{test="eq"}"#;
    let logs: Vec<(String, &str, &str)> = vec![
        (format!(r#"{sel} |= "{NEEDLE}""#), "backward", "1000"),
        (format!(r#"{sel} |= "{NEEDLE}""#), "forward", "7"),
        (format!(r#"{sel} |= "{trace}""#), "backward", "100"),
        (format!(r#"{sel} |= "GET""#), "backward", "100"),
        (format!(r#"{sel} |= "GET""#), "forward", "100"),
        (format!(r#"{sel} |= "ror: conn""#), "backward", "1000"),
        (format!(r#"{sel} |= "ror: conn""#), "forward", "3"),
        (format!(r#"{sel} |~ "status=5\\d\\d""#), "backward", "1000"),
        (
            format!(r#"{sel} |~ "Failed password for invalid user [a-z]+""#),
            "forward",
            "50",
        ),
        (
            format!(r#"{sel} |= "{NEEDLE}" or "kex_exchange""#),
            "backward",
            "1000",
        ),
        (format!(r#"{sel} |= "GET" != "200""#), "backward", "200"),
        (format!(r#"{sel} |= "GET" != "200" |= "/api""#), "forward", "200"),
        (
            format!(r#"{sel} |= "level=error" | logfmt | status >= 500"#),
            "backward",
            "1000",
        ),
        (
            format!(r#"{sel} |= "job failed" | json | queue = "billing""#),
            "forward",
            "1000",
        ),
        (format!(r#"{sel} |= "Ünïcødé""#), "backward", "1000"),
        (format!(r#"{sel} |= "·1""#), "backward", "1000"),
        (
            format!(r#"{sel} |> "<_> \"GET <_> HTTP/1.1\" 404 <_>""#),
            "backward",
            "100",
        ),
        (
            format!(r#"{sel} |= "{NEEDLE}" | line_format "{{{{.service}}}} {{{{__line__}}}}""#),
            "backward",
            "1000",
        ),
        (
            r#"{test="eq", service="api"} |= "trace_id=""#.to_string(),
            "backward",
            "30",
        ),
        (
            format!(r#"{{test="eq", host=~"host-[01]"}} |= "{NEEDLE}""#),
            "forward",
            "1000",
        ),
        (
            format!(r#"{sel} |= "no-such-needle-anywhere""#),
            "backward",
            "100",
        ),
        (format!(r#"{sel} |~ "(?i)ERROR""#), "backward", "100"),
    ];
    let metrics = vec![
        format!(r#"sum(count_over_time({sel} |= "{NEEDLE}" [1h]))"#),
        format!(r#"sum by (service) (count_over_time({sel} |= "GET" [10m]))"#),
        format!(r#"sum by (host) (rate({sel} |= "ror: conn" [30m]))"#),
        format!(r#"sum(bytes_over_time({sel} |~ "status=4\\d\\d" [1h]))"#),
        format!(r#"count_over_time({sel} |= "{trace}" [3h])"#),
        format!(r#"sum by (service) (count_over_time({sel} |= "{NEEDLE}" or "Failed password" [20m]))"#),
        format!(r#"topk(2, sum by (host) (count_over_time({sel} |= "GET" != "200" [1h])))"#),
        format!(
            r#"avg_over_time({sel} |= "level=" | logfmt | unwrap duration(duration) [30m]) by (service)"#
        ),
        format!(r#"sum(count_over_time({sel} |= "GET" [5m])) / sum(count_over_time({sel} [5m]))"#),
    ];
    (logs, metrics)
}

/// `data` of an answer that must have succeeded.
fn data(a: &Answer, what: &str) -> Value {
    assert_eq!(a.status, 200, "{what}: {}", a.body);
    a.json()["data"].clone()
}

/// Runs the suite over `[start, end)`: (what, data, path, indexes used) per query.
fn run_suite(server: &Server, trace: &str, start: i64, end: i64) -> Vec<(String, Value, String, u64)> {
    let (logs, metrics) = suite(trace);
    let mut out = Vec::new();
    let mut record = |what: String, a: Answer| {
        let used = a.json()["data"]["stats"]["summary"]["historyIndexesUsed"]
            .as_u64()
            .unwrap_or_else(|| panic!("{what}: no historyIndexesUsed in {}", a.body));
        out.push((what.clone(), data(&a, &what), a.path, used));
    };
    for (q, direction, limit) in logs {
        let a = query_range(
            server,
            None,
            &q,
            start,
            end,
            &[("direction", direction), ("limit", limit)],
        );
        record(format!("{q} {direction} limit {limit}"), a);
    }
    for q in &metrics {
        let a = query_range(server, None, q, start, end, &[("step", "60")]);
        record(format!("range {q}"), a);
        let a = query_instant(server, None, q, end);
        record(format!("instant {q}"), a);
    }
    out
}

/// Strips the stats (they say how the answer was found, which differs) from `data`.
fn without_stats(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("stats");
    }
    v
}

#[test]
fn index_answers_equal_scan_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), FAST_FLAGS);
    // Three hours up to a minute from now: closed hours become blocks, closed windows of this
    // hour chunks, the current window stays in the head.
    let now = now_ns();
    let start = now - 3 * HOUR;
    let streams = corpus("eq", 12, 700, start, (3 * HOUR + MIN) / (12 * 700));
    push_streams(&server, None, &streams, false, 700);
    let store = dir.path().join("store");
    wait_for(60, "a compacted block", || {
        !files_with_suffix(&store, ".parquet").is_empty()
    });
    wait_for(30, "a flushed chunk", || {
        !files_with_suffix(&store, ".chunk").is_empty()
    });
    // Let compaction of the closed hours settle.
    let mut blocks = files_with_suffix(&store, ".parquet").len();
    loop {
        std::thread::sleep(Duration::from_secs(2));
        let n = files_with_suffix(&store, ".parquet").len();
        if n == blocks {
            break;
        }
        blocks = n;
    }
    let trace = some_trace_id(&streams);
    let end = now + 2 * MIN;
    // The index covers blocks and chunks, not the newest minutes (head and a chunk or two).
    let covered_end = now - 6 * MIN;
    let hour_start = (now / HOUR) * HOUR;
    let block_end = hour_start.min(start + 2 * HOUR).max(start + HOUR);

    let scanned_full = run_suite(&server, &trace, start, end);
    let scanned_covered = run_suite(&server, &trace, start, covered_end);
    for (what, _, path, used) in scanned_full.iter().chain(&scanned_covered) {
        assert_eq!((path.as_str(), *used), ("scan", 0), "{what} before any load");
    }
    let d = load_ready(&server, None, start, covered_end, None);
    assert!(d["lines"].as_u64().unwrap() > 0, "{d}");
    assert!(d["bytes_on_disk"].as_u64().unwrap() > 0, "{d}");
    assert_eq!(d["progress"], 1.0);

    let indexed_full = run_suite(&server, &trace, start, end);
    let indexed_covered = run_suite(&server, &trace, start, covered_end);
    let mut served = 0;
    for (scan, index) in scanned_full
        .iter()
        .zip(&indexed_full)
        .chain(scanned_covered.iter().zip(&indexed_covered))
    {
        assert_eq!(
            without_stats(scan.1.clone()),
            without_stats(index.1.clone()),
            "{}: index answer differs from scan",
            scan.0
        );
        let uses_index = index.2 != "scan";
        assert_eq!(
            uses_index,
            index.3 == 1,
            "{}: path {} with {} indexes",
            index.0,
            index.2,
            index.3
        );
        served += usize::from(uses_index);
    }
    // Every query with a positive line filter used the index; the others did not.
    for (what, _, path, _) in &indexed_full {
        let eligible =
            !what.contains("(?i)") && !what.contains(r#"[5m])) / sum(count_over_time({test="eq"} [5m]"#);
        if eligible {
            assert_eq!(path, "mixed", "{what}: the range reaches past the index");
        }
    }
    for (what, _, path, _) in &indexed_covered {
        if what.contains("(?i)") {
            assert_eq!(path, "scan", "{what}: no literal to look up");
        } else if !what.contains("/ sum") {
            assert_ne!(path, "scan", "{what}: covered range, needle present");
        }
    }
    assert!(served >= 60, "only {served} answers used the index");
    // Inside the hours made of blocks nothing is left to scan.
    let a = query_range(
        &server,
        None,
        &format!(r#"{{test="eq"}} |= "{NEEDLE}""#),
        start,
        block_end,
        &[("limit", "1000")],
    );
    assert_eq!(a.path, "history", "{}", a.body);
    assert_eq!(a.json()["data"]["stats"]["summary"]["historyIndexesUsed"], 1);
    assert!(metric(&server, "logq_history_queries_served_total") >= served as f64);
    assert!(metric(&server, "logq_history_hit_ratio") > 0.0);
    assert!(metric(&server, "logq_history_bytes_on_disk") > 0.0);

    // The whole suite returned something for most queries (it is not comparing empty sets).
    let non_empty = indexed_full
        .iter()
        .filter(|(_, d, _, _)| d["result"].as_array().is_some_and(|r| !r.is_empty()))
        .count();
    assert!(non_empty >= 30, "only {non_empty} non-empty answers");
}

/// A server with `per` lines per stream of 4 streams over the hour ending 10 minutes ago,
/// flushed to chunks.
fn small(extra: &[&str], label: &str) -> (tempfile::TempDir, Server, i64, i64) {
    small_ending(extra, label, 10 * MIN)
}

/// Like [`small`], the hour ending `ago` before now.
fn small_ending(extra: &[&str], label: &str, ago: i64) -> (tempfile::TempDir, Server, i64, i64) {
    let dir = tempfile::tempdir().unwrap();
    let mut flags: Vec<&str> = FAST_FLAGS.to_vec();
    flags.extend_from_slice(extra);
    let server = Server::start(dir.path(), &flags);
    let end = now_ns() - ago;
    let start = end - HOUR;
    let streams = corpus(label, 4, 300, start, HOUR / 1200);
    push_streams(&server, None, &streams, false, 300);
    push_streams(&server, Some("other"), &streams, false, 300);
    let store = dir.path().join("store");
    wait_for(30, "flushed chunks", || {
        files_with_suffix(&store, ".chunk").len() >= 4 || !files_with_suffix(&store, ".parquet").is_empty()
    });
    // Everything older than the current window is flushed within a few checks.
    std::thread::sleep(Duration::from_secs(2));
    (dir, server, start, end)
}

#[test]
fn concurrent_loads_build_once_and_a_restart_reuses_the_index() {
    let (dir, mut server, start, end) = small(&[], "life");
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    let a = load(&server, None, start, end, Some(r#"{test="life"}"#));
                    assert_eq!(a.status, 202, "{}", a.body);
                    a.json()["id"].as_str().unwrap().to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    let d = wait_state(&server, None, &ids[0], "ready");
    assert_eq!(d["query"], r#"{test="life"}"#);
    assert_eq!(metric(&server, "logq_history_builds_started_total"), 1.0);
    // Asking again returns the ready index.
    let again = load(&server, None, start, end, Some(r#"{test="life"}"#)).json();
    assert_eq!(
        (again["id"].clone(), again["state"].clone()),
        (d["id"].clone(), "ready".into())
    );
    let list = call("GET", &server.url("/logq/api/v1/history"), None, &[]).json();
    assert_eq!(list.as_array().unwrap().len(), 1);

    let q = format!(r#"{{test="life"}} |= "{NEEDLE}""#);
    let before = query_range(&server, None, &q, start, end, &[("limit", "1000")]);
    assert_eq!(before.path, "history", "{}", before.body);

    server.terminate();
    server.restart();
    let d2 = describe(&server, None, &ids[0]).json();
    assert_eq!(d2["state"], "ready", "{d2}");
    assert_eq!(d2["lines"], d["lines"]);
    assert_eq!(
        metric(&server, "logq_history_builds_started_total"),
        0.0,
        "reopened, not rebuilt"
    );
    let after = query_range(&server, None, &q, start, end, &[("limit", "1000")]);
    assert_eq!(after.path, "history");
    assert_eq!(
        data(&after, "after restart")["result"],
        data(&before, "before")["result"]
    );
    drop(dir);
}

#[test]
fn an_unused_index_expires() {
    let (dir, server, start, end) = small(&["--history-ttl", "2s"], "ttl");
    let d = load_ready(&server, None, start, end, None);
    let id = d["id"].as_str().unwrap();
    let history = dir.path().join("history");
    assert!(registry_dirs(&history) >= 1);
    let expired = wait_state(&server, None, id, "expired");
    assert_eq!(expired["bytes_on_disk"], 0);
    assert!(
        expired["error"].as_str().unwrap().contains("expired"),
        "{expired}"
    );
    assert_eq!(registry_dirs(&history), 0, "files deleted");
    let a = query_range(
        &server,
        None,
        &format!(r#"{{test="ttl"}} |= "{NEEDLE}""#),
        start,
        end,
        &[],
    );
    assert_eq!(a.path, "scan");
    assert!(metric(&server, "logq_history_expired_total") >= 1.0);
    // Loading it again rebuilds it under the same id.
    let again = load_ready(&server, None, start, end, None);
    assert_eq!(again["id"], d["id"]);
}

/// Index directories (not the registry) under the history root.
fn registry_dirs(history: &std::path::Path) -> usize {
    std::fs::read_dir(history)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|t| t.path().is_dir())
        .flat_map(|t| std::fs::read_dir(t.path()).into_iter().flatten().flatten())
        .filter(|e| e.path().is_dir())
        .count()
}

#[test]
fn least_recently_used_indexes_are_evicted_under_the_disk_budget() {
    let (dir, mut server, start, end) = small(&[], "lru");
    let half = start + (end - start) / 2;
    let a = load_ready(&server, None, start, half, None);
    let size = a["bytes_on_disk"].as_u64().unwrap();
    server.terminate();
    // Room for one index and a half.
    let budget = (size * 3 / 2).to_string();
    let mut server = Server::start(
        dir.path(),
        &[FAST_FLAGS, &["--history-disk-budget", &budget]].concat(),
    );
    assert_eq!(
        describe(&server, None, a["id"].as_str().unwrap()).json()["state"],
        "ready"
    );
    let b = load_ready(&server, None, half, end, None);
    assert_eq!(b["state"], "ready");
    let a_now = describe(&server, None, a["id"].as_str().unwrap()).json();
    assert_eq!(a_now["state"], "expired", "{a_now}");
    assert!(
        a_now["error"].as_str().unwrap().contains("disk budget"),
        "{a_now}"
    );
    assert!(metric(&server, "logq_history_evicted_total") >= 1.0);
    assert!(metric(&server, "logq_history_bytes_on_disk") <= (size * 3 / 2) as f64);
    server.terminate();
    // A budget smaller than the stored data of the range: refused with the reason.
    let server = Server::start(
        dir.path(),
        &[FAST_FLAGS, &["--history-disk-budget", "100"]].concat(),
    );
    let refused = load(&server, None, start, end, Some(r#"{test="lru"}"#));
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(refused.body.contains("disk budget"), "{}", refused.body);
    drop(server);
    drop(dir);
}

#[test]
fn deleted_lines_never_come_back_from_an_index() {
    let (_dir, server, start, end) = small(&[], "del");
    load_ready(&server, None, start, end, None);
    let q = format!(r#"{{test="del"}} |= "{NEEDLE}""#);
    let before = query_range(&server, None, &q, start, end, &[("limit", "1000")]);
    assert_eq!(before.path, "history");
    let n = |a: &Answer| -> usize {
        a.json()["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["values"].as_array().unwrap().len())
            .sum()
    };
    assert!(n(&before) > 0);
    let r = call(
        "POST",
        &server.url("/loki/api/v1/delete"),
        None,
        &[
            ("query", format!(r#"{{test="del", host="host-1"}} |= "{NEEDLE}""#)),
            ("start", start.to_string()),
            ("end", end.to_string()),
        ],
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let check = |what: &str| {
        let a = query_range(&server, None, &q, start, end, &[("limit", "1000")]);
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(
            !a.body.contains(r#""host":"host-1""#),
            "{what}: deleted lines came back: {}",
            a.body
        );
        assert!(n(&a) > 0, "{what}: other hosts' lines stay");
        let m = query_instant(
            &server,
            None,
            &format!(r#"sum(count_over_time({{test="del", host="host-1"}} |= "{NEEDLE}" [2h]))"#),
            end,
        );
        assert_eq!(
            m.json()["data"]["result"],
            serde_json::json!([]),
            "{what}: {}",
            m.body
        );
    };
    check("right after the delete request");
    // The compactor rewrites the objects; the index was built from the old ones.
    std::thread::sleep(Duration::from_secs(3));
    check("after the compactor ran");
}

#[test]
fn retention_after_a_load_removes_lines_from_index_answers() {
    let (dir, mut server, start, end) = small_ending(&[], "ret", 2 * HOUR);
    load_ready(&server, None, start, end, None);
    let q = format!(r#"{{test="ret"}} |= "{NEEDLE}""#);
    assert_eq!(query_range(&server, None, &q, start, end, &[]).path, "history");
    server.terminate();
    // Retention of 90 minutes: the loaded range (2-3 hours ago) expires.
    let server = Server::start(dir.path(), &[FAST_FLAGS, &["--retention", "90m"]].concat());
    wait_for(30, "retention to drop the old data", || {
        let a = query_range(&server, None, r#"{test="ret"}"#, start, end, &[]);
        a.json()["data"]["result"].as_array().unwrap().is_empty()
    });
    let a = query_range(&server, None, &q, start, end, &[]);
    assert_eq!(a.json()["data"]["result"], serde_json::json!([]), "{}", a.body);
}

#[test]
fn tenants_cannot_see_or_use_each_others_indexes() {
    let (_dir, server, start, end) = small(&[], "iso");
    let d = load_ready(&server, None, start, end, None);
    let id = d["id"].as_str().unwrap();
    let other = Some("other");
    let list = call("GET", &server.url("/logq/api/v1/history"), other, &[]).json();
    assert_eq!(list, serde_json::json!([]));
    assert_eq!(describe(&server, other, id).status, 404);
    assert_eq!(
        call(
            "DELETE",
            &server.url(&format!("/logq/api/v1/history/{id}")),
            other,
            &[]
        )
        .status,
        404
    );
    let q = format!(r#"{{test="iso"}} |= "{NEEDLE}""#);
    let theirs = query_range(&server, other, &q, start, end, &[("limit", "1000")]);
    assert_eq!(theirs.path, "scan");
    assert_eq!(theirs.json()["data"]["stats"]["summary"]["historyIndexesUsed"], 0);
    let mine = query_range(&server, None, &q, start, end, &[("limit", "1000")]);
    assert_eq!(mine.path, "history");
    assert_eq!(data(&theirs, "other")["result"], data(&mine, "mine")["result"]);
    // The owner can delete it; then it is gone.
    assert_eq!(
        call(
            "DELETE",
            &server.url(&format!("/logq/api/v1/history/{id}")),
            None,
            &[]
        )
        .status,
        204
    );
    assert_eq!(describe(&server, None, id).status, 404);
    assert_eq!(query_range(&server, None, &q, start, end, &[]).path, "scan");
}

#[test]
fn a_corrupted_index_is_detected_and_rebuilt() {
    let (dir, mut server, start, end) = small(&[], "bad");
    let d = load_ready(&server, None, start, end, None);
    let id = d["id"].as_str().unwrap().to_string();
    let q = format!(r#"{{test="bad"}} |= "{NEEDLE}""#);
    let good = data(
        &query_range(&server, None, &q, start, end, &[("limit", "1000")]),
        "good",
    );
    server.terminate();
    // Damage every file of the index.
    let tenant_dir = dir.path().join("history").join("fake");
    for entry in std::fs::read_dir(&tenant_dir).unwrap().flatten() {
        if entry.path().is_dir() {
            for f in files_with_suffix(&entry.path(), "") {
                let mut bytes = std::fs::read(&f).unwrap();
                if bytes.is_empty() {
                    continue;
                }
                let mid = bytes.len() / 2;
                bytes.truncate(mid.max(1));
                bytes.extend_from_slice(b"\x00garbage\xff");
                std::fs::write(&f, bytes).unwrap();
            }
        }
    }
    server.restart();
    assert_eq!(metric(&server, "logq_history_corrupt_total"), 1.0);
    let a = query_range(&server, None, &q, start, end, &[("limit", "1000")]);
    assert_eq!(data(&a, "while rebuilding")["result"], good["result"]);
    let rebuilt = wait_state(&server, None, &id, "ready");
    assert_eq!(rebuilt["lines"], d["lines"]);
    let a = query_range(&server, None, &q, start, end, &[("limit", "1000")]);
    assert_eq!(a.path, "history");
    assert_eq!(data(&a, "rebuilt")["result"], good["result"]);
}

#[test]
fn bad_history_requests_get_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--history-max-range", "1d"]);
    let url = server.url("/logq/api/v1/history");
    let now = now_ns();
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (
            vec![("start", now.to_string()), ("end", now.to_string())],
            "start must be before end",
        ),
        (
            vec![
                ("start", (now - 2 * 24 * HOUR).to_string()),
                ("end", now.to_string()),
            ],
            "too long",
        ),
        (
            vec![("start", "yesterday".into()), ("end", now.to_string())],
            "invalid start",
        ),
        (vec![("end", now.to_string())], "start"),
        (
            vec![
                ("start", (now - HOUR).to_string()),
                ("end", now.to_string()),
                ("query", "{app=".into()),
            ],
            "invalid query",
        ),
        (
            vec![
                ("start", (now - HOUR).to_string()),
                ("end", now.to_string()),
                ("query", r#"{app="x"} |= "y""#.into()),
            ],
            "stream selector only",
        ),
    ];
    for (params, reason) in cases {
        let a = call("POST", &url, None, &params);
        assert_eq!(a.status, 400, "{params:?}: {}", a.body);
        assert!(a.body.contains(reason), "{params:?}: {}", a.body);
    }
    assert_eq!(describe(&server, None, "0123456789abcdef").status, 404);
    assert_eq!(
        call("DELETE", &server.url("/logq/api/v1/history/nope"), None, &[]).status,
        404
    );
    // Parameters in the query string work as in a form body; RFC 3339 times too.
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let resp = agent
        .post(&url)
        .query("start", "2024-05-01T02:00:00Z")
        .query("end", "2024-05-01T06:00:00Z")
        .query("query", r#"{service="api"}"#)
        .send_empty()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let d: Value = serde_json::from_str(&resp.into_body().read_to_string().unwrap()).unwrap();
    assert_eq!(d["start"], "2024-05-01T02:00:00Z");
    assert_eq!(d["end"], "2024-05-01T06:00:00Z");
    assert_eq!(d["query"], r#"{service="api"}"#);
    for key in [
        "id",
        "state",
        "progress",
        "lines",
        "bytes_raw",
        "bytes_on_disk",
        "created_at",
        "last_used_at",
        "expires_at",
        "error",
    ] {
        assert!(d.get(key).is_some(), "{key} missing from {d}");
    }
}

#[test]
fn the_cli_loads_lists_and_removes_indexes() {
    let (_dir, server, start, end) = small(&[], "cli");
    let run = |args: &[&str]| {
        let out = Command::new(logq_bin())
            .arg("history")
            .args(args)
            .args(["--addr", &server.addr])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (from, to) = (start.to_string(), end.to_string());
    let (ok, out, err) = run(&["load", "--from", &from, "--to", &to, r#"{test="cli"}"#]);
    assert!(ok, "{err}");
    assert!(out.contains("ready"), "{out}");
    let id = out.split_whitespace().next().unwrap().to_string();
    let (ok, out, _) = run(&["ls"]);
    assert!(
        ok && out.contains(&id) && out.contains(r#"{test="cli"}"#),
        "{out}"
    );
    let (ok, out, err) = run(&["load", "--from", &from, "--to", &to, "--no-wait"]);
    assert!(ok, "{err}");
    assert!(
        !out.contains(&id),
        "a different selector is a different index: {out}"
    );
    let (ok, _, err) = run(&["rm", &id]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&["rm", &id]);
    assert!(!ok && err.contains("404"), "{err}");
    let (ok, _, err) = run(&["load", "--from", &to, "--to", &from]);
    assert!(!ok && err.contains("before"), "{err}");
}
