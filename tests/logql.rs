//! LogQL conformance through the real server: data pushed through the API, metric and log
//! queries answered by `query_range` and `query`, compared with values computed here by brute
//! force from the same data (Loki's semantics: a range `[r]` at step `t` covers `(t - r, t]`).

mod util;

use serde_json::{json, Value};
use util::*;

const S: i64 = 1_000_000_000;

struct Fixture {
    server: Server,
    _dir: tempfile::TempDir,
    base: i64,
    web: Vec<TestStream>,
}

fn fixture() -> Fixture {
    fixture_with(&[], (now_ns() / (60 * S) - 30) * 60 * S)
}

/// The fixture's data pushed to a server started with `flags`, starting at `base`.
fn fixture_with(flags: &[&str], base: i64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), flags);
    // host a: a line every 10 s for 5 minutes; host b: every 20 s, offset by 5 s.
    let web = vec![
        stream(
            &[("app", "web"), ("host", "a")],
            (0..30)
                .map(|i| {
                    (
                        base + i * 10 * S,
                        format!("GET /a/{i} {}", if i % 3 == 0 { 500 } else { 200 }),
                    )
                })
                .collect(),
        ),
        stream(
            &[("app", "web"), ("host", "b")],
            (0..15)
                .map(|i| {
                    (
                        base + 5 * S + i * 20 * S,
                        format!("{} /b/{i} 200", if i % 2 == 0 { "GET" } else { "POST" }),
                    )
                })
                .collect(),
        ),
    ];
    let api = vec![stream(
        &[("app", "api")],
        (0..20)
            .map(|i| {
                let status = if i % 4 == 0 { 503 } else { 200 };
                (
                    base + i * 15 * S,
                    format!("level=info status={status} latency={}ms path=/x", (i + 1) * 10),
                )
            })
            .collect(),
    )];
    let worker = vec![stream(
        &[("app", "worker")],
        (0..10)
            .map(|i| {
                let line = if i == 7 {
                    "not json at all".to_string()
                } else {
                    format!(
                        r#"{{"level":"{}","job":{{"id":{i}}}}}"#,
                        if i % 2 == 0 { "error" } else { "info" }
                    )
                };
                (base + i * 30 * S, line)
            })
            .collect(),
    )];
    push_streams(&server, None, &web, false, 100);
    push_streams(&server, None, &api, true, 100);
    push_streams(&server, None, &worker, false, 100);
    Fixture {
        server,
        _dir: dir,
        base,
        web,
    }
}

fn query_range(f: &Fixture, q: &str, start: i64, end: i64, step: &str) -> Reply {
    get(
        &f.server.url("/loki/api/v1/query_range"),
        &[
            ("query", q),
            ("start", &start.to_string()),
            ("end", &end.to_string()),
            ("step", step),
        ],
        &[],
    )
}

fn matrix(r: &Reply) -> Vec<(Value, Vec<(f64, f64)>)> {
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["data"]["resultType"], "matrix", "{}", r.body);
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let points = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p[0].as_f64().unwrap(),
                        p[1].as_str().unwrap().parse::<f64>().unwrap(),
                    )
                })
                .collect();
            (s["metric"].clone(), points)
        })
        .collect()
}

/// Brute force: for each step, `agg` over the entries of `stream` in `(t - range, t]` passing `keep`.
fn reference(
    stream: &TestStream,
    steps: &[i64],
    range: i64,
    keep: impl Fn(&str) -> bool,
    agg: impl Fn(usize) -> f64,
) -> Vec<(f64, f64)> {
    steps
        .iter()
        .filter_map(|&t| {
            let n = stream
                .entries
                .iter()
                .filter(|(ts, l)| *ts > t - range && *ts <= t && keep(l))
                .count();
            (n > 0).then(|| (t as f64 / 1e9, agg(n)))
        })
        .collect()
}

#[test]
fn metric_queries_match_brute_force() {
    let f = fixture();
    let (start, end) = (f.base, f.base + 6 * 60 * S);
    let steps: Vec<i64> = (0..=12).map(|i| start + i * 30 * S).collect();

    // count_over_time per stream.
    let got = matrix(&query_range(
        &f,
        r#"count_over_time({app="web"}[1m])"#,
        start,
        end,
        "30s",
    ));
    assert_eq!(got.len(), 2);
    for (metric, points) in &got {
        let s = f
            .web
            .iter()
            .find(|s| s.labels.iter().any(|(k, v)| k == "host" && metric["host"] == *v))
            .unwrap();
        assert_eq!(
            *points,
            reference(s, &steps, 60 * S, |_| true, |n| n as f64),
            "count_over_time {metric}"
        );
        assert_eq!(metric["app"], "web");
    }

    // sum by (host) of a filtered rate.
    let got = matrix(&query_range(
        &f,
        r#"sum by (host) (rate({app="web"} |= "GET" [1m]))"#,
        start,
        end,
        "30s",
    ));
    for (metric, points) in &got {
        assert_eq!(
            metric.as_object().unwrap().len(),
            1,
            "only host remains: {metric}"
        );
        let s = f
            .web
            .iter()
            .find(|s| s.labels.iter().any(|(k, v)| k == "host" && metric["host"] == *v))
            .unwrap();
        assert_eq!(
            *points,
            reference(s, &steps, 60 * S, |l| l.contains("GET"), |n| n as f64 / 60.0),
            "rate {metric}"
        );
    }

    // Aggregating everything, with arithmetic and a comparison.
    let got = matrix(&query_range(
        &f,
        r#"sum(count_over_time({app="web"}[1m])) * 2 > 14"#,
        start,
        end,
        "30s",
    ));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, json!({}));
    let both: Vec<(f64, f64)> = steps
        .iter()
        .filter_map(|&t| {
            let n: usize = f
                .web
                .iter()
                .map(|s| {
                    s.entries
                        .iter()
                        .filter(|(ts, _)| *ts > t - 60 * S && *ts <= t)
                        .count()
                })
                .sum();
            (n * 2 > 14).then(|| (t as f64 / 1e9, (n * 2) as f64))
        })
        .collect();
    assert!(!both.is_empty());
    assert_eq!(got[0].1, both);
    let with_bool = matrix(&query_range(
        &f,
        r#"sum(count_over_time({app="web"}[1m])) > bool 1000"#,
        start,
        end,
        "30s",
    ));
    assert!(with_bool[0].1.iter().all(|(_, v)| *v == 0.0));

    // logfmt + label filter, and unwrap with a duration conversion.
    let got = matrix(&query_range(
        &f,
        r#"sum(count_over_time({app="api"} | logfmt | status >= 500 [10m]))"#,
        end,
        end,
        "1m",
    ));
    assert_eq!(got[0].1, vec![(end as f64 / 1e9, 5.0)]);
    let got = matrix(&query_range(
        &f,
        r#"max_over_time({app="api"} | logfmt | unwrap duration(latency) [10m])"#,
        end,
        end,
        "1m",
    ));
    // Extracted labels split series: one per status.
    let maxes: Vec<(String, f64)> = got
        .iter()
        .map(|(m, p)| (m["status"].as_str().unwrap().to_string(), p[0].1))
        .collect();
    assert_eq!(
        maxes,
        vec![("200".to_string(), 0.2), ("503".to_string(), 0.17)],
        "durations in seconds"
    );
    assert!(
        got[0].0.get("latency").is_none(),
        "the unwrapped label is dropped"
    );
    let got = matrix(&query_range(
        &f,
        r#"quantile_over_time(0.5, {app="api"} | logfmt | unwrap duration(latency) [10m]) by (app)"#,
        end,
        end,
        "1m",
    ));
    assert_eq!(got[0].0, json!({"app": "api"}));
    assert!((got[0].1[0].1 - 0.105).abs() < 1e-9, "{:?}", got[0].1);

    // Parser errors surface as Loki does, unless filtered...
    let r = query_range(
        &f,
        r#"sum by (level) (count_over_time({app="worker"} | json [10m]))"#,
        end,
        end,
        "1m",
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("JSONParserErr"), "{}", r.body);
    // ...or unless no label is needed (Loki's parser hints: the parser does not run).
    let got = matrix(&query_range(
        &f,
        r#"sum(count_over_time({app="worker"} | json [10m]))"#,
        end,
        end,
        "1m",
    ));
    assert_eq!(got[0].1[0].1, 10.0, "{got:?}");
    let got = matrix(&query_range(
        &f,
        r#"sum by (level) (count_over_time({app="worker"} | json | __error__="" [10m]))"#,
        end,
        end,
        "1m",
    ));
    let counts: Vec<(String, f64)> = got
        .iter()
        .map(|(m, p)| (m["level"].as_str().unwrap().to_string(), p[0].1))
        .collect();
    assert_eq!(
        counts,
        vec![("error".to_string(), 5.0), ("info".to_string(), 4.0)]
    );
}

#[test]
fn instant_queries_and_grafana_health_check() {
    let f = fixture();
    // Grafana's "Save & test".
    let r = get(
        &f.server.url("/loki/api/v1/query"),
        &[("query", "vector(1)+vector(1)"), ("time", "4000000000")],
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["data"]["result"],
        json!([{"metric": {}, "value": [4000000000u64, "2"]}])
    );
    let r = get(
        &f.server.url("/loki/api/v1/query"),
        &[("query", "1 + 2 * 3"), ("time", "100")],
        &[],
    );
    assert_eq!(
        r.json()["data"],
        json!({"resultType": "scalar", "result": [100, "7"], "stats": r.json()["data"]["stats"]})
    );

    let t = (f.base + 5 * 60 * S).to_string();
    let r = get(
        &f.server.url("/loki/api/v1/query"),
        &[
            (
                "query",
                r#"topk(1, sum by (host) (count_over_time({app="web"}[10m])))"#,
            ),
            ("time", &t),
        ],
        &[],
    );
    let v = r.json();
    assert_eq!(v["data"]["resultType"], "vector", "{}", r.body);
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"]["result"][0]["metric"], json!({"host": "a"}));
    assert_eq!(v["data"]["result"][0]["value"][1], "30");

    // label_replace and value ordering of instant vectors.
    let instant = |q: &str| {
        get(
            &f.server.url("/loki/api/v1/query"),
            &[("query", q), ("time", &t)],
            &[],
        )
        .json()
    };
    let v = instant(
        r#"label_replace(sum by (host) (count_over_time({app="web"}[10m])), "machine", "m-$1", "host", "(.*)")"#,
    );
    assert_eq!(
        v["data"]["result"][0]["metric"],
        json!({"host": "a", "machine": "m-a"})
    );
    let hosts = |v: &Value| -> Vec<String> {
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["metric"]["host"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        hosts(&instant(
            r#"sort_desc(sum by (host) (count_over_time({app="web"}[10m])))"#
        )),
        ["a", "b"]
    );
    assert_eq!(
        hosts(&instant(
            r#"sort(sum by (host) (count_over_time({app="web"}[10m])))"#
        )),
        ["b", "a"]
    );

    // Many-to-one matching: each host's share of its app's lines.
    let v = instant(
        r#"sum by (host, app) (count_over_time({app="web"}[10m])) / on (app) group_left sum by (app) (count_over_time({app="web"}[10m]))"#,
    );
    let shares: Vec<(Value, String)> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["metric"].clone(), r["value"][1].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        shares,
        vec![
            (json!({"app": "web", "host": "a"}), (30.0f64 / 45.0).to_string()),
            (json!({"app": "web", "host": "b"}), (15.0f64 / 45.0).to_string())
        ]
    );
    let r = get(
        &f.server.url("/loki/api/v1/query"),
        &[
            (
                "query",
                r#"sum by (app) (count_over_time({app="web"}[10m])) / on (app) group_right count_over_time({app="web"}[10m]) > 1"#,
            ),
            ("time", &t),
        ],
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get(
        &f.server.url("/loki/api/v1/query"),
        &[
            (
                "query",
                r#"sum by (app) (count_over_time({app="web"}[10m])) / on (app) group_left count_over_time({app="web"}[10m])"#,
            ),
            ("time", &t),
        ],
        &[],
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("many-to-many matching not allowed"), "{}", r.body);

    // Grafana's log volume histogram.
    let r = query_range(
        &f,
        r#"sum by (level, detected_level) (count_over_time({app="api"} | logfmt | drop __error__ [1m]))"#,
        f.base,
        f.base + 600 * S,
        "60s",
    );
    let got = matrix(&r);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, json!({"level": "info"}));
    assert_eq!(
        got[0].1.iter().map(|p| p.1).sum::<f64>(),
        20.0,
        "every api line counted once"
    );

    // Log queries with a parser regroup lines by their extracted labels.
    let lines = read_all(
        &f.server,
        None,
        r#"{app="worker"} | json | level="error""#,
        f.base,
        now_ns(),
        "forward",
    );
    assert_eq!(lines.len(), 5);
    assert!(
        lines
            .iter()
            .all(|(_, labels, _)| labels.contains(r#"level="error""#) && labels.contains("job_id=")),
        "{lines:?}"
    );

    // Bad metric queries are 400s with a reason.
    for (q, want) in [
        ("sum(rate({app=\"web\"}[0s]))", "range must be positive"),
        ("rate({app=\"web\"}[1m]) and 1", "set operator"),
        ("sum_over_time({app=\"api\"}[1m])", "without unwrap"),
    ] {
        let r = get(
            &f.server.url("/loki/api/v1/query"),
            &[("query", q), ("time", &t)],
            &[],
        );
        assert_eq!(r.status, 400, "{q}: {}", r.body);
        assert!(r.body.contains(want), "{q}: {}", r.body);
    }
    // Loki folds a comparison of two scalars without `bool` (issue 16): `1 > 2` is 0.
    let r = get(
        &f.server.url("/loki/api/v1/query"),
        &[("query", "1 > 2"), ("time", &t)],
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains(r#""resultType":"scalar""#) && r.body.contains(r#","0"]"#),
        "{}",
        r.body
    );
    let r = query_range(
        &f,
        r#"count_over_time({app="web"}[1m])"#,
        f.base,
        f.base + 86_400 * S,
        "1s",
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("11,000 points"), "{}", r.body);
}

/// Every query of the suite gives the same answer whether the data is in the ingester's memory,
/// in flushed chunks or in compacted blocks.
#[test]
fn same_answers_from_memory_chunks_and_blocks() {
    let hour = 3600 * S;
    // Two closed hours before the current one, so compaction takes everything.
    let base = (now_ns() / hour) * hour - 2 * hour;
    let idle = [
        "--flush-check-interval",
        "1000h",
        "--window-grace",
        "0s",
        "--compact-interval",
        "1000h",
    ];
    let mut f = fixture_with(&idle, base);
    let (start, end) = (base, base + 10 * 60 * S);
    let queries: Vec<(&str, &str)> = vec![
        ("range", r#"{app="web"}"#),
        ("range", r#"{app=~"web|api"} |= "GET" != "/a/3""#),
        (
            "range",
            r#"{app="api"} | logfmt | status >= 500 | line_format "{{.status}} {{.latency}}""#,
        ),
        ("range", r#"{app="worker"} | json | __error__="" | level="error""#),
        ("range", r#"count_over_time({app="web"}[1m])"#),
        ("range", r#"sum by (host) (rate({app="web"} |= "GET" [2m]))"#),
        ("range", r#"sum(bytes_over_time({app=~".+"}[5m]))"#),
        (
            "range",
            r#"max_over_time({app="api"} | logfmt | unwrap duration(latency) [5m]) by (status)"#,
        ),
        (
            "range",
            r#"topk(1, sum by (host) (count_over_time({app="web"}[3m])))"#,
        ),
        (
            "instant",
            r#"sum by (level) (count_over_time({app="worker"} | json | __error__="" [10m]))"#,
        ),
        (
            "instant",
            r#"sum by (host) (count_over_time({app="web"}[10m])) / on () group_left sum(count_over_time({app="web"}[10m]))"#,
        ),
    ];
    let run = |server: &Server| -> Vec<serde_json::Value> {
        queries
            .iter()
            .map(|(kind, q)| {
                let r = if *kind == "range" {
                    get(
                        &server.url("/loki/api/v1/query_range"),
                        &[
                            ("query", q),
                            ("start", &start.to_string()),
                            ("end", &end.to_string()),
                            ("step", "60s"),
                            ("limit", "1000"),
                            ("direction", "forward"),
                        ],
                        &[],
                    )
                } else {
                    get(
                        &server.url("/loki/api/v1/query"),
                        &[("query", q), ("time", &end.to_string())],
                        &[],
                    )
                };
                assert_eq!(r.status, 200, "{q}: {}", r.body);
                let v = r.json();
                assert!(
                    !v["data"]["result"].as_array().unwrap().is_empty(),
                    "{q}: empty result"
                );
                v["data"]["result"].clone()
            })
            .collect()
    };
    let store = f.server.data_dir.join("store");
    let in_memory = run(&f.server);
    assert!(
        files_with_suffix(&store, ".chunk").is_empty(),
        "nothing flushed yet"
    );

    f.server.terminate(); // flushes everything to chunks
    f.server.restart();
    assert!(!files_with_suffix(&store, ".chunk").is_empty());
    let in_chunks = run(&f.server);
    f.server.terminate();

    let data_dir = f.server.data_dir.to_str().unwrap().to_string();
    let out = std::process::Command::new(logq_bin())
        .args([
            "compact",
            "--once",
            "--data-dir",
            &data_dir,
            "--hour-grace",
            "0s",
            "--delete-grace",
            "0s",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        files_with_suffix(&store, ".chunk").is_empty(),
        "all compacted: {} left {:?}",
        String::from_utf8_lossy(&out.stdout),
        files_with_suffix(&store, ".chunk")
    );
    f.server.restart();
    let in_blocks = run(&f.server);

    for (i, (kind, q)) in queries.iter().enumerate() {
        assert_eq!(in_memory[i], in_chunks[i], "{kind} {q}: memory vs chunks");
        assert_eq!(in_memory[i], in_blocks[i], "{kind} {q}: memory vs blocks");
    }
}

#[test]
fn drilldown_detected_labels_and_fields() {
    let f = fixture();
    let (start, end) = (f.base.to_string(), now_ns().to_string());
    let range = [("start", start.as_str()), ("end", end.as_str())];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        range.iter().copied().chain(extra.iter().copied()).collect()
    };
    let v = get(
        &f.server.url("/loki/api/v1/detected_labels"),
        &with(&[("query", r#"{app=~".+"}"#)]),
        &[],
    )
    .json();
    assert_eq!(
        v["detectedLabels"],
        json!([{"label": "app", "cardinality": 3}, {"label": "host", "cardinality": 2}])
    );
    let v = get(
        &f.server.url("/loki/api/v1/detected_fields"),
        &with(&[("query", r#"{app="api"}"#)]),
        &[],
    )
    .json();
    let fields = v["fields"].as_array().unwrap();
    let field = |name: &str| {
        fields
            .iter()
            .find(|x| x["label"] == name)
            .unwrap_or_else(|| panic!("no field {name} in {v}"))
            .clone()
    };
    assert_eq!(
        field("status"),
        json!({"label": "status", "type": "int", "cardinality": 2, "parsers": ["logfmt"]})
    );
    assert_eq!(field("latency")["type"], "duration");
    assert_eq!(field("latency")["cardinality"], 20);
    let v = get(
        &f.server.url("/loki/api/v1/detected_fields"),
        &with(&[("query", r#"{app="worker"}"#)]),
        &[],
    )
    .json();
    let names: Vec<&str> = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["label"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["job_id", "level"], "json fields, nested keys flattened");
    assert_eq!(v["fields"][1]["parsers"], json!(["json"]));
    let v = get(
        &f.server.url("/loki/api/v1/detected_field/status/values"),
        &with(&[("query", r#"{app="api"}"#)]),
        &[],
    )
    .json();
    assert_eq!(v["values"], json!(["200", "503"]));
    let r = get(
        &f.server.url("/loki/api/v1/detected_fields"),
        &with(&[("query", r#"{app="api"}"#), ("line_limit", "0")]),
        &[],
    );
    assert_eq!(r.status, 400);
}
