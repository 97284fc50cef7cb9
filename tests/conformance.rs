//! LogQL conformance with Loki through the HTTP API: one scenario pushed through
//! `/loki/api/v1/push` (Loki JSON, with structured metadata) into a fresh tenant, then instant
//! (`/query`) and range (`/query_range`) queries checking Loki's response shapes and the API's
//! own request checks. The conformance suite itself (every LogQL case, over memory, chunks and
//! blocks) is data files run against the querier: `querier/tests/conformance/*.cases`.
//! Values are compared as the exact strings Loki prints unless a case says the value is
//! computed by floating-point steps (then within 1e-12).

mod util;

use serde_json::{json, Map, Value};
use util::*;

const S: i64 = 1_000_000_000;
const TENANT: &str = "conformance";

/// What a query must answer.
enum Want {
    /// An instant vector: (labels, value) in this order.
    Vector(Vec<(Value, Val)>),
    /// A matrix: (labels, [(seconds after base, value)]) in this order.
    Matrix(Vec<(Value, Vec<(i64, Val)>)>),
    /// A scalar.
    Scalar(Val),
    /// An error status whose body contains the text.
    Error(u16, &'static str),
}

/// An expected sample value.
#[derive(Clone, Copy)]
enum Val {
    /// Printed exactly as Rust's shortest round-trip form of this float, which is Go's
    /// `strconv.FormatFloat(v, 'f', -1, 64)` (Prometheus' formatting): 4/60 is
    /// `0.06666666666666667`.
    Exact(f64),
    /// Within 1e-12 (the value comes from a running formula).
    Near(f64),
}

/// When a query is evaluated.
enum At {
    /// `/query` at base + seconds.
    Instant(i64),
    /// `/query_range` from base + start to base + end (seconds) with `step`.
    Range(i64, i64, &'static str),
}

struct Case {
    name: &'static str,
    query: &'static str,
    at: At,
    want: Want,
}

fn labels(pairs: &[(&str, &str)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect::<Map<_, _>>(),
    )
}

/// One entry: seconds after base, line, structured metadata.
type E = (i64, &'static str, &'static [(&'static str, &'static str)]);

fn push(server: &Server, stream: &[(&str, &str)], base: i64, entries: &[E]) {
    let values: Vec<Value> = entries
        .iter()
        .map(|(t, line, meta)| {
            let ts = (base + t * S).to_string();
            if meta.is_empty() {
                json!([ts, line])
            } else {
                json!([ts, line, labels(meta)])
            }
        })
        .collect();
    let body = json!({"streams": [{"stream": labels(stream), "values": values}]});
    let r = post(
        &server.url("/loki/api/v1/push"),
        &[("Content-Type", "application/json"), ("X-Scope-OrgID", TENANT)],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 204, "push failed: {}", r.body);
}

/// The scenario. Stream `{app="shop", env="prod"}` (logfmt, structured metadata `pod`, some
/// `trace_id`), `{app="shop", env="dev"}` (JSON, a counter that resets, one non-JSON line),
/// `{app="db", env="prod"}` (one entry whose metadata `env` clashes with the stream label).
fn load(server: &Server, base: i64) {
    push(
        server,
        &[("app", "shop"), ("env", "prod")],
        base,
        &[
            (
                10,
                r#"level=info status=200 latency=100ms size=10 msg="ok""#,
                &[("trace_id", "t1"), ("pod", "p1")],
            ),
            (
                20,
                "level=error status=500 latency=250ms size=20",
                &[("trace_id", "t2"), ("pod", "p1")],
            ),
            (
                30,
                "level=info status=200 latency=50ms size=oops",
                &[("pod", "p2")],
            ),
            (40, "level=warn status=404 latency=1s size=40", &[("pod", "p2")]),
            (70, "level=info status=200 latency=10ms size=5", &[("pod", "p1")]),
        ],
    );
    push(
        server,
        &[("app", "shop"), ("env", "dev")],
        base,
        &[
            (15, r#"{"level":"info","counter":3,"user":{"id":"u1"}}"#, &[]),
            (25, r#"{"level":"error","counter":7,"user":{"id":"u2"}}"#, &[]),
            (45, r#"{"level":"info","counter":2,"user":{"id":"u1"}}"#, &[]),
            (55, "not json", &[]),
        ],
    );
    push(
        server,
        &[("app", "db"), ("env", "prod")],
        base,
        &[
            (5, "query took 3s", &[("env", "staging")]),
            (65, "query took 1s", &[]),
        ],
    );
}

/// Streams whose pipelines set labels to "": `{app="edge", env="qa"}` (JSON with a status
/// that is "200", "" or missing) and `{app="edge", env="re"}` (lines with and without a status
/// code for an optional `regexp` group).
fn load_edge(server: &Server, base: i64) {
    push(
        server,
        &[("app", "edge"), ("env", "qa")],
        base,
        &[
            (10, r#"{"status":"200","path":"/a","took":1.50}"#, &[]),
            (20, r#"{"status":"","path":"/b"}"#, &[]),
            (30, r#"{"path":"/c","status":null}"#, &[]),
        ],
    );
    push(
        server,
        &[("app", "edge"), ("env", "re")],
        base,
        &[(15, "GET /a 200", &[]), (25, "GET /b", &[])],
    );
}

/// The response shapes of Loki's query API, a few answers of the suite checked through HTTP,
/// and the request checks the API makes itself. Every LogQL case lives in the querier's data
/// files (`querier/tests/conformance/*.cases`), run against the querier over memory, chunks
/// and blocks by `cargo test -p logq-querier`.
fn cases() -> Vec<Case> {
    use Val::*;
    vec![
        // An instant vector, with a label set to "" its own series (labels.go `Set`).
        Case {
            name: "json field set to empty is its own group",
            query: r#"sum by (status) (count_over_time({app="edge", env="qa"} | json [1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[]), Exact(1.0)),
                (labels(&[("status", "")]), Exact(1.0)),
                (labels(&[("status", "200")]), Exact(1.0)),
            ]),
        },
        // A value computed by floating-point steps.
        Case {
            name: "avg_over_time of durations by a metadata label",
            query: r#"avg_over_time({app="shop", env="prod"} | logfmt | unwrap duration(latency) [1m]) by (pod)"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[("pod", "p1")]), Near((0.1 + 0.25) / 2.0)),
                (labels(&[("pod", "p2")]), Near((0.05 + 1.0) / 2.0)),
            ]),
        },
        Case {
            name: "scalar literal",
            query: "2 * 3",
            at: At::Instant(60),
            want: Want::Scalar(Exact(6.0)),
        },
        Case {
            name: "grouping on count_over_time is a parse error",
            query: r#"count_over_time({app="shop"}[1m]) by (pod)"#,
            at: At::Instant(60),
            want: Want::Error(400, "grouping not allowed for count_over_time aggregation"),
        },
        // Loki evaluates a range query at start + k*step exactly as given (issue 16): a step
        // that does not divide start does not move the points.
        Case {
            name: "range query steps at start plus multiples of step",
            query: r#"count_over_time({app="shop", env="dev"}[1m])"#,
            at: At::Range(30, 90, "60s"),
            want: Want::Matrix(vec![(
                labels(&[("app", "shop"), ("env", "dev")]),
                vec![(30, Exact(2.0)), (90, Exact(2.0))],
            )]),
        },
        // A scalar of a range query is a matrix of one series without labels.
        Case {
            name: "scalar over a range",
            query: "1 + 1",
            at: At::Range(0, 120, "60s"),
            want: Want::Matrix(vec![(
                labels(&[]),
                vec![(0, Exact(2.0)), (60, Exact(2.0)), (120, Exact(2.0))],
            )]),
        },
        // evaluator.go: a series with __error__ at a step fails the query (400).
        Case {
            name: "unwrap conversion error fails the query",
            query: r#"sum_over_time({app="shop", env="prod"} | logfmt | unwrap size [1m])"#,
            at: At::Instant(60),
            want: Want::Error(400, "SampleExtractionErr"),
        },
        Case {
            name: "grouping on count_over_time is a parse error",
            query: r#"count_over_time({app="shop"}[1m]) by (pod)"#,
            at: At::Instant(60),
            want: Want::Error(400, "grouping not allowed for count_over_time aggregation"),
        },
        // logqlmodel.ErrUnsupportedSyntaxForInstantQuery.
        Case {
            name: "log query as an instant query",
            query: r#"{app="shop"}"#,
            at: At::Instant(60),
            want: Want::Error(400, "log queries are not supported as an instant query type"),
        },
        Case {
            name: "zero step",
            query: r#"count_over_time({app="shop"}[1m])"#,
            at: At::Range(0, 60, "0"),
            want: Want::Error(
                400,
                "zero or negative query resolution step widths are not accepted",
            ),
        },
        Case {
            name: "too many points",
            query: r#"count_over_time({app="shop"}[1m])"#,
            at: At::Range(0, 12_000, "1s"),
            want: Want::Error(400, "exceeded maximum resolution of 11,000 points per timeseries"),
        },
    ]
}

fn value_ok(got: &str, want: Val) -> bool {
    match want {
        Val::Exact(v) => got == format!("{v}"),
        Val::Near(v) => got.parse::<f64>().is_ok_and(|g| (g - v).abs() < 1e-12),
    }
}

fn run(server: &Server, base: i64, c: &Case) -> Result<(), String> {
    let url_time = |s: i64| (base + s * S).to_string();
    let r = match &c.at {
        At::Instant(t) => get(
            &server.url("/loki/api/v1/query"),
            &[("query", c.query), ("time", &url_time(*t))],
            &[("X-Scope-OrgID", TENANT)],
        ),
        At::Range(start, end, step) => get(
            &server.url("/loki/api/v1/query_range"),
            &[
                ("query", c.query),
                ("start", &url_time(*start)),
                ("end", &url_time(*end)),
                ("step", step),
            ],
            &[("X-Scope-OrgID", TENANT)],
        ),
    };
    let secs = |t: i64| (base / S + t) as f64;
    if let Want::Error(status, text) = &c.want {
        if r.status != *status || !r.body.contains(text) {
            return Err(format!(
                "want {status} with {text:?}, got {}: {}",
                r.status, r.body
            ));
        }
        return Ok(());
    }
    if r.status != 200 {
        return Err(format!("status {}: {}", r.status, r.body));
    }
    let v = r.json();
    let data = &v["data"];
    let bad = |why: String| Err(format!("{why}\n  body: {}", r.body));
    match &c.want {
        Want::Scalar(want) => {
            if data["resultType"] != "scalar" || !value_ok(data["result"][1].as_str().unwrap_or(""), *want) {
                return bad("scalar differs".into());
            }
        }
        Want::Vector(want) => {
            let At::Instant(t) = c.at else { unreachable!() };
            let got = data["result"].as_array().cloned().unwrap_or_default();
            if data["resultType"] != "vector" || got.len() != want.len() {
                return bad(format!("want {} series of a vector", want.len()));
            }
            for (g, (labels, val)) in got.iter().zip(want) {
                if g["metric"] != *labels
                    || g["value"][0].as_f64() != Some(secs(t))
                    || !value_ok(g["value"][1].as_str().unwrap_or(""), *val)
                {
                    return bad(format!("series {labels} differs"));
                }
            }
        }
        Want::Matrix(want) => {
            let got = data["result"].as_array().cloned().unwrap_or_default();
            if data["resultType"] != "matrix" || got.len() != want.len() {
                return bad(format!("want {} series of a matrix", want.len()));
            }
            for (g, (labels, points)) in got.iter().zip(want) {
                let values = g["values"].as_array().cloned().unwrap_or_default();
                let same = g["metric"] == *labels
                    && values.len() == points.len()
                    && values.iter().zip(points).all(|(p, (t, val))| {
                        p[0].as_f64() == Some(secs(*t)) && value_ok(p[1].as_str().unwrap_or(""), *val)
                    });
                if !same {
                    return bad(format!("series {labels} differs"));
                }
            }
        }
        Want::Error(..) => unreachable!(),
    }
    Ok(())
}

fn check_all(server: &Server, base: i64, cases: &[Case], source: &str) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            run(server, base, c)
                .err()
                .map(|e| format!("{} ({}): {e}", c.name, c.query))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Loki with the data in {source}:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Loki's response shapes (vector, matrix, scalar, errors) and the API's own request checks,
/// through the real server; the data in the ingester's memory.
#[test]
fn loki_query_api_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let hour = 3600 * S;
    // Every step in the cases is aligned.
    let base = (now_ns() / hour) * hour - 2 * hour;
    let server = Server::start(dir.path(), &["--flush-check-interval", "1000h"]);
    load(&server, base);
    load_edge(&server, base);
    check_all(&server, base, &cases(), "memory");
}

/// engine.go JoinSampleVector: more than 500 result series is Loki's limit error; aggregating
/// them away is fine. 501 entries of one stream with distinct `trace_id` metadata.
#[test]
fn series_limit_counts_result_series() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let base = (now_ns() / (600 * S) - 3) * 600 * S;
    let values: Vec<Value> = (0..501)
        .map(|i| json!([(base + S + i * 1_000_000).to_string(), "x", {"trace_id": format!("t{i}")}]))
        .collect();
    let body = json!({"streams": [{"stream": {"app": "many"}, "values": values}]});
    let r = post(
        &server.url("/loki/api/v1/push"),
        &[("Content-Type", "application/json"), ("X-Scope-OrgID", TENANT)],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let time = (base + 60 * S).to_string();
    let ask = |q: &str| {
        get(
            &server.url("/loki/api/v1/query"),
            &[("query", q), ("time", &time)],
            &[("X-Scope-OrgID", TENANT)],
        )
    };
    let r = ask(r#"count_over_time({app="many"}[1m])"#);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body
            .contains("maximum of series (500) reached for a single query"),
        "{}",
        r.body
    );
    let r = ask(r#"sum(count_over_time({app="many"}[1m]))"#);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["data"]["result"][0]["value"][1], "501");
}

/// Log queries: structured metadata in the stream labels by default; with Loki's
/// `categorize-labels` flag, streams by stream labels and metadata with each entry.
#[test]
fn log_queries_show_structured_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let base = (now_ns() / (600 * S) - 3) * 600 * S;
    load(&server, base);
    let params = [
        ("query", r#"{app="shop", env="prod"} | logfmt | level="info""#),
        ("start", &base.to_string()),
        ("end", &(base + 120 * S).to_string()),
        ("direction", "forward"),
    ];
    let r = get(
        &server.url("/loki/api/v1/query_range"),
        &params,
        &[("X-Scope-OrgID", TENANT)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let streams = r.json()["data"]["result"].as_array().cloned().unwrap();
    let first = streams
        .iter()
        .find(|s| s["stream"]["trace_id"] == "t1")
        .unwrap_or_else(|| panic!("no stream with trace_id t1: {}", r.body));
    assert_eq!(first["stream"]["pod"], "p1");
    assert_eq!(first["stream"]["level"], "info");
    assert_eq!(streams.len(), 3, "{}", r.body);

    let r = get(
        &server.url("/loki/api/v1/query_range"),
        &params,
        &[
            ("X-Scope-OrgID", TENANT),
            ("X-Loki-Response-Encoding-Flags", "categorize-labels"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let streams = v["data"]["result"].as_array().cloned().unwrap();
    assert_eq!(streams.len(), 1, "{}", r.body);
    assert_eq!(streams[0]["stream"], json!({"app": "shop", "env": "prod"}));
    let entry = &streams[0]["values"][0];
    assert_eq!(
        entry[2]["structuredMetadata"],
        json!({"pod": "p1", "trace_id": "t1"})
    );
    assert_eq!(entry[2]["parsed"]["level"], "info");

    // Pipeline errors are labels of log query results, with Loki's details.
    let errors = [
        ("query", r#"{app="shop"} | json | __error__!="" or counter > 2"#),
        ("start", &base.to_string()),
        ("end", &(base + 120 * S).to_string()),
    ];
    let r = get(
        &server.url("/loki/api/v1/query_range"),
        &errors,
        &[("X-Scope-OrgID", TENANT)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let streams = v["data"]["result"].as_array().unwrap();
    let bad: Vec<&Value> = streams
        .iter()
        .filter(|s| s["stream"]["__error__"] == "JSONParserErr")
        .collect();
    // Every prod line (logfmt) and the dev line "not json".
    let lines: usize = bad.iter().map(|s| s["values"].as_array().unwrap().len()).sum();
    assert_eq!(lines, 6, "{}", r.body);
    assert!(bad
        .iter()
        .all(|s| s["stream"]["__error_details__"]
            == "Value looks like object, but can't find closing '}' symbol"));
    let filtered = [
        ("query", r#"{app="shop", env="prod"} | logfmt | size > 5"#),
        ("start", &base.to_string()),
        ("end", &(base + 120 * S).to_string()),
    ];
    let r = get(
        &server.url("/loki/api/v1/query_range"),
        &filtered,
        &[("X-Scope-OrgID", TENANT)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let with_error: Vec<&Value> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["stream"]["__error__"] == "LabelFilterErr")
        .collect();
    assert_eq!(with_error.len(), 1, "{}", r.body);
    assert_eq!(
        with_error[0]["stream"]["__error_details__"],
        r#"strconv.ParseFloat: parsing "oops": invalid syntax"#
    );

    // distinct keeps the first line of each pod in the query's direction.
    let distinct = [
        ("query", r#"{app="shop", env="prod"} | distinct pod"#),
        ("start", &base.to_string()),
        ("end", &(base + 120 * S).to_string()),
        ("direction", "backward"),
    ];
    let r = get(
        &server.url("/loki/api/v1/query_range"),
        &distinct,
        &[("X-Scope-OrgID", TENANT)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut lines: Vec<String> = r.json()["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap().clone())
        .map(|v| v[1].as_str().unwrap().to_string())
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "level=info status=200 latency=10ms size=5",
            "level=warn status=404 latency=1s size=40"
        ]
    );
}

/// Loki 3's ingest defaults, off unless configured: with `--discover-service-name loki
/// --discover-log-levels`, streams get `service_name` (the first of Loki's discovery labels,
/// else `unknown_service`) and entries `detected_level` structured metadata (a level field of
/// the JSON or logfmt line, else words in the line, else `unknown`), which metric queries see.
#[test]
fn loki_ingest_defaults_when_configured() {
    let run = |flags: &[&str]| -> Vec<(Value, String)> {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(dir.path(), flags);
        let base = (now_ns() / (600 * S) - 3) * 600 * S;
        push(
            &server,
            &[("job", "batch"), ("app", "shop")],
            base,
            &[
                (10, r#"{"level":"WARNING","msg":"slow"}"#, &[]),
                (20, "ts=1 lvl=err msg=boom", &[]),
                (30, "GET /index.html 200", &[]),
            ],
        );
        push(&server, &[("host", "h1")], base, &[(15, "disk error", &[])]);
        let mut out = Vec::new();
        for sel in [r#"{job=~".+"}"#, r#"{host=~".+"}"#] {
            let q = format!("sum by (service_name, detected_level) (count_over_time({sel}[1m]))");
            let r = get(
                &server.url("/loki/api/v1/query"),
                &[("query", q.as_str()), ("time", &(base + 60 * S).to_string())],
                &[("X-Scope-OrgID", TENANT)],
            );
            assert_eq!(r.status, 200, "{}", r.body);
            for s in r.json()["data"]["result"].as_array().unwrap() {
                out.push((s["metric"].clone(), s["value"][1].as_str().unwrap().to_string()));
            }
        }
        out
    };
    let off = run(&[]);
    assert_eq!(
        off,
        [(labels(&[]), "3".to_string()), (labels(&[]), "1".to_string())]
    );
    let on = run(&["--discover-service-name", "loki", "--discover-log-levels"]);
    let series = |level: &str, service: &str| labels(&[("detected_level", level), ("service_name", service)]);
    assert_eq!(
        on,
        [
            (series("error", "shop"), "1".to_string()),
            (series("unknown", "shop"), "1".to_string()),
            (series("warn", "shop"), "1".to_string()),
            (series("error", "unknown_service"), "1".to_string()),
        ]
    );
}
