//! Loki compatibility end to end through the real binary (issue 16): push partial acceptance,
//! and the requests Grafana, the Logs Drilldown app and logcli send, checked against the shapes
//! Loki answers with.

mod util;

use serde_json::Value;
use util::*;

const PUSH: &str = "/loki/api/v1/push";

#[test]
fn push_stores_the_valid_entries_and_names_the_rejected_ones() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--max-line-bytes", "20"]);
    let now = now_ns();
    let old = now - 8 * 24 * 3600 * 1_000_000_000;
    let body = serde_json::json!({"streams": [
        {"stream": {"app": "mixed"}, "values": [
            [(now - 3_000).to_string(), "good one"],
            [old.to_string(), "too old"],
            [(now - 2_000).to_string(), "this line is far longer than twenty bytes"],
            [(now - 1_000).to_string(), "good two"],
        ]},
        {"stream": {"1bad": "x"}, "values": [[(now - 500).to_string(), "bad labels"]]},
        {"stream": {"app": "fine"}, "values": [[(now - 400).to_string(), "good three"]]},
    ]});
    let body = serde_json::to_vec(&body).unwrap();
    let r = post(
        &server.url(PUSH),
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
        &body,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let v = r.json();
    assert_eq!(v["accepted"], 3, "{v}");
    let rejected: Vec<(u64, u64, &str)> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["stream"].as_u64().unwrap(),
                x["entry"].as_u64().unwrap(),
                x["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            (0, 1, "greater_than_max_sample_age"),
            (0, 2, "line_too_long"),
            (1, 0, "invalid_labels"),
        ]
    );
    let first = &v["rejected"][0];
    assert_eq!(first["labels"], r#"{app="mixed"}"#);
    assert_eq!(first["ts"], old.to_string());
    assert!(
        first["error"]
            .as_str()
            .unwrap()
            .starts_with("entry for stream '{app=\"mixed\"}' has timestamp too old: "),
        "{first}"
    );
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("1 errors like: Max entry size '20' bytes exceeded for stream '{app=\"mixed\"}' while adding an entry with length '41' bytes"), "{message}");

    // Without Accept: JSON, Loki's text; the same request over protobuf.
    let streams = vec![stream(
        &[("app", "proto")],
        vec![(now - 300, "kept".into()), (old, "old".into())],
    )];
    let r = post(
        &server.url(PUSH),
        &[("Content-Type", "application/x-protobuf")],
        &protobuf_body(&streams),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body
            .starts_with("entry for stream '{app=\"proto\"}' has timestamp too old:"),
        "{}",
        r.body
    );

    let got = read_all(
        &server,
        None,
        r#"{app=~"mixed|fine|proto"}"#,
        now - 60_000_000_000,
        now_ns(),
        "forward",
    );
    let lines: Vec<&str> = got.iter().map(|g| g.2.as_str()).collect();
    assert_eq!(lines, vec!["good one", "good two", "good three", "kept"]);

    let m = get(&server.url("/metrics"), &[], &[]).body;
    for (reason, n) in [
        ("greater_than_max_sample_age", 2),
        ("line_too_long", 1),
        ("invalid_labels", 1),
    ] {
        let line = format!("logq_discarded_samples_total{{reason=\"{reason}\",tenant=\"fake\"}} {n}");
        assert!(m.contains(&line), "missing {line} in\n{m}");
    }

    // A body that cannot be read at all is refused whole, in the JSON form too.
    let r = post(
        &server.url(PUSH),
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
        b"{",
    );
    assert_eq!(r.status, 400);
    let v: Value = r.json();
    assert_eq!(v["accepted"], 0);
    assert_eq!(v["rejected"], serde_json::json!([]));
}

fn q(server: &Server, path: &str, params: &[(&str, &str)], headers: &[(&str, &str)]) -> Reply {
    get(&server.url(path), params, headers)
}

/// Grafana's and logcli's read requests against one scenario: golden response shapes.
#[test]
fn grafana_and_logcli_requests_get_lokis_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let now = now_ns();
    let base = now - 120 * 1_000_000_000;
    let lines: Vec<(i64, String)> = (0..40)
        .map(|i| {
            (
                base + i * 1_000_000_000,
                format!(
                    r#"{{"level":"info","caller":"main.go:{i}","user":{{"id":"u{}"}},"took":"{i}ms"}}"#,
                    i % 3
                ),
            )
        })
        .collect();
    let body = serde_json::json!({"streams": [
        {"stream": {"app": "api", "env": "prod"}, "values": lines.iter().map(|(t, l)| serde_json::json!([t.to_string(), l, {"trace_id": format!("t{}", t % 7)}])).collect::<Vec<_>>()},
        {"stream": {"app": "db", "env": "prod"}, "values": [[(base + 5).to_string(), "connection from 10.0.0.1 closed"], [(base + 6).to_string(), "connection from 10.0.0.2 closed"]]},
    ]});
    let r = post(
        &server.url(PUSH),
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let (s, e) = (
        (base - 1_000_000_000).to_string(),
        (now + 1_000_000_000).to_string(),
    );

    // Number literals as Loki's lexer and strconv.ParseFloat read them.
    let v = q(
        &server,
        "/loki/api/v1/query",
        &[("query", "0x1p3 * 2"), ("time", &e)],
        &[],
    )
    .json();
    assert_eq!(v["data"]["result"][1], "16", "{v}");
    let r = q(&server, "/loki/api/v1/query", &[("query", "0o17 + 1")], &[]);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body.trim(),
        r#"parse error : unable to parse literal as a float: strconv.ParseFloat: parsing "0o17": invalid syntax"#
    );

    // detected_fields for Drilldown's query: no `_extracted`, metadata with parsers null, jsonPath.
    let dq = r#"{app="api"} | json | logfmt | drop __error__, __error_details__"#;
    let v = q(
        &server,
        "/loki/api/v1/detected_fields",
        &[("query", dq), ("start", &s), ("end", &e)],
        &[],
    )
    .json();
    let fields = v["fields"].as_array().unwrap();
    let field = |n: &str| fields.iter().find(|f| f["label"] == n).cloned();
    assert!(
        fields
            .iter()
            .all(|f| !f["label"].as_str().unwrap().ends_with("_extracted")),
        "{v}"
    );
    let caller = field("caller").expect("caller");
    assert_eq!(caller["parsers"], serde_json::json!(["json"]));
    assert_eq!(caller["jsonPath"], serde_json::json!(["caller"]));
    assert_eq!(
        field("user_id").unwrap()["jsonPath"],
        serde_json::json!(["user", "id"])
    );
    assert_eq!(field("user_id").unwrap()["cardinality"], 3);
    assert_eq!(field("took").unwrap()["type"], "duration");
    let trace = field("trace_id").expect("structured metadata field");
    assert!(trace["parsers"].is_null(), "{trace}");
    assert!(trace.get("jsonPath").is_none());
    let v = q(
        &server,
        "/loki/api/v1/detected_field/trace_id/values",
        &[("query", dq), ("start", &s), ("end", &e)],
        &[],
    )
    .json();
    assert_eq!(v["values"].as_array().unwrap().len(), 7, "{v}");

    // Patterns.
    let v = q(
        &server,
        "/loki/api/v1/patterns",
        &[
            ("query", r#"{app="db"}"#),
            ("start", &s),
            ("end", &e),
            ("step", "60s"),
        ],
        &[],
    )
    .json();
    assert_eq!(v["status"], "success");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{v}");
    assert_eq!(data[0]["pattern"], "connection from <_> closed");
    let samples = data[0]["samples"].as_array().unwrap();
    assert_eq!(samples.iter().map(|x| x[1].as_u64().unwrap()).sum::<u64>(), 2);
    assert_eq!(
        samples[0][0].as_i64().unwrap() % 60,
        0,
        "buckets at multiples of step"
    );

    // Volume: by series, by labels, and volume_range.
    let v = q(
        &server,
        "/loki/api/v1/index/volume",
        &[
            ("query", r#"{env="prod"}"#),
            ("start", &s),
            ("end", &e),
            ("aggregateBy", "labels"),
        ],
        &[],
    )
    .json();
    assert_eq!(v["data"]["resultType"], "vector");
    let names: Vec<&serde_json::Value> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["metric"])
        .collect();
    assert!(names.contains(&&serde_json::json!({"app": ""})), "{v}");
    assert!(names.contains(&&serde_json::json!({"env": ""})), "{v}");
    let v = q(
        &server,
        "/loki/api/v1/index/volume_range",
        &[
            ("query", r#"{app=~".+"}"#),
            ("start", &s),
            ("end", &e),
            ("step", "60"),
        ],
        &[],
    )
    .json();
    assert_eq!(v["status"], "success");
    assert!(
        ["matrix", "vector"].contains(&v["data"]["resultType"].as_str().unwrap()),
        "{v}"
    );
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 2, "{v}");

    // drilldown-limits, format_query, /config.
    let v = q(&server, "/loki/api/v1/drilldown-limits", &[], &[]).json();
    assert!(v["limits"]["discover_service_name"].is_array());
    assert!(v["limits"]["log_level_fields"].is_array());
    assert_eq!(v["pattern_ingester_enabled"], true);
    assert!(v["version"].is_string());
    let v = q(
        &server,
        "/loki/api/v1/format_query",
        &[("query", r#"{app="api"}|="x""#)],
        &[],
    )
    .json();
    assert_eq!(
        v,
        serde_json::json!({"status": "success", "data": r#"{app="api"} |= "x""#})
    );
    assert_eq!(
        q(&server, "/loki/api/v1/format_query", &[("query", "{app=")], &[]).status,
        400
    );
    let c = q(&server, "/config", &[], &[]);
    assert_eq!(c.status, 200);
    assert!(
        c.body.contains("limits_config:") && c.body.contains("max_line_size: "),
        "{}",
        c.body
    );
}

#[test]
fn several_tenants_are_read_together_and_labelled() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let now = now_ns();
    for (tenant, line) in [("a", "from a"), ("b", "from b")] {
        let streams = vec![stream(
            &[("app", "x")],
            vec![(now - 1_000_000_000, line.to_string())],
        )];
        push_streams(&server, Some(tenant), &streams, false, 10);
    }
    let ab = [("X-Scope-OrgID", "b|a")];
    let (s, e) = (
        (now - 60_000_000_000).to_string(),
        (now + 1_000_000_000).to_string(),
    );
    let v = q(
        &server,
        "/loki/api/v1/query_range",
        &[("query", r#"{app="x"}"#), ("start", &s), ("end", &e)],
        &ab,
    )
    .json();
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2, "{v}");
    let tenants: Vec<&str> = result
        .iter()
        .map(|r| r["stream"]["__tenant_id__"].as_str().unwrap())
        .collect();
    assert!(tenants.contains(&"a") && tenants.contains(&"b"));
    let v = q(
        &server,
        "/loki/api/v1/query_range",
        &[
            ("query", r#"{app="x", __tenant_id__="a"}"#),
            ("start", &s),
            ("end", &e),
        ],
        &ab,
    )
    .json();
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["data"]["result"][0]["values"][0][1], "from a");
    let v = q(&server, "/loki/api/v1/labels", &[("start", &s), ("end", &e)], &ab).json();
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("__tenant_id__")),
        "{v}"
    );
    let v = q(&server, "/loki/api/v1/label/__tenant_id__/values", &[], &ab).json();
    assert_eq!(v["data"], serde_json::json!(["a", "b"]));
    let v = q(
        &server,
        "/loki/api/v1/series",
        &[("match[]", r#"{app="x"}"#), ("start", &s), ("end", &e)],
        &ab,
    )
    .json();
    assert_eq!(v["data"].as_array().unwrap().len(), 2, "{v}");
    let v = q(
        &server,
        "/loki/api/v1/query_range",
        &[
            (
                "query",
                r#"sum by (__tenant_id__) (count_over_time({app="x"}[1m]))"#,
            ),
            ("start", &s),
            ("end", &e),
            ("step", "60"),
        ],
        &ab,
    )
    .json();
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 2, "{v}");
    // A sum across tenants is one series, as in Loki (the tenant label is summed away).
    let t = (now + 1_000_000_000).to_string();
    let instant = |query: &str| {
        q(
            &server,
            "/loki/api/v1/query",
            &[("query", query), ("time", &t)],
            &ab,
        )
        .json()
    };
    let v = instant(r#"sum(count_over_time({app="x"}[1m]))"#);
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["data"]["result"][0]["value"][1], "2", "{v}");
    let v = instant(r#"count_over_time({app="x"}[1m])"#);
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2, "{v}");
    assert_eq!(result[0]["metric"]["__tenant_id__"], "a", "{v}");
    assert_eq!(result[1]["metric"]["__tenant_id__"], "b", "{v}");
    let v = instant(r#"sum(count_over_time({app="x", __tenant_id__="b"}[1m]))"#);
    assert_eq!(v["data"]["result"][0]["value"][1], "1", "{v}");
    let v = instant(r#"sum(count_over_time({app="x", __tenant_id__="c"}[1m]))"#);
    assert_eq!(v["data"]["result"], serde_json::json!([]), "{v}");
    let v = q(
        &server,
        "/loki/api/v1/index/stats",
        &[("query", r#"{app="x"}"#), ("start", &s), ("end", &e)],
        &ab,
    )
    .json();
    assert_eq!(v["entries"], 2);
    // Never on push.
    let r = post(
        &server.url(PUSH),
        &[("Content-Type", "application/json"), ("X-Scope-OrgID", "a|b")],
        &json_body(&[stream(&[("app", "x")], vec![(now, "y".into())])]),
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("multiple org IDs present"), "{}", r.body);
}

#[test]
fn demo_data_shows_services_and_levels() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--demo", "--demo-rate", "20"]);
    let v = q(&server, "/loki/api/v1/label/service_name/values", &[], &[]).json();
    assert!(v["data"].as_array().is_some_and(|a| !a.is_empty()), "{v}");
    let v = q(
        &server,
        "/loki/api/v1/query",
        &[(
            "query",
            r#"sum by (detected_level) (count_over_time({service_name=~".+"}[5m]))"#,
        )],
        &[],
    )
    .json();
    let levels: Vec<&str> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["metric"]["detected_level"].as_str())
        .collect();
    assert!(levels.len() >= 2, "{v}");
}

/// Reads tail frames until `want` values arrived or `secs` passed.
fn tail_values(
    socket: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
    want: usize,
    secs: u64,
) -> Vec<(String, Value)> {
    use std::time::{Duration, Instant};
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(secs);
    while got.len() < want && Instant::now() < deadline {
        match socket.read() {
            Ok(tungstenite::Message::Text(text)) => {
                let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                for s in frame["streams"].as_array().unwrap() {
                    for v in s["values"].as_array().unwrap() {
                        got.push((v[1].as_str().unwrap().to_string(), s["stream"].clone()));
                    }
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
            }
            Err(e) => panic!("websocket error: {e}"),
        }
    }
    got
}

#[test]
fn tail_sends_the_limit_most_recent_then_only_new_entries() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let now = now_ns();
    let old: Vec<(i64, String)> = (0..50)
        .map(|i| (now - 60_000_000_000 + i * 1_000_000, format!("old {i}")))
        .collect();
    push_streams(&server, None, &[stream(&[("app", "t")], old)], false, 100);
    push_streams(
        &server,
        Some("other"),
        &[stream(
            &[("app", "t")],
            vec![(now - 1_000_000, "other tenant".into())],
        )],
        false,
        10,
    );
    let url = format!(
        "{}/loki/api/v1/tail?query=%7Bapp%3D%22t%22%7D&start={}&limit=5",
        server.addr.replace("http://", "ws://"),
        now - 300_000_000_000
    );
    let mut req = tungstenite::client::IntoClientRequest::into_client_request(url.as_str()).unwrap();
    req.headers_mut()
        .insert("X-Scope-OrgID", "fake|other".parse().unwrap());
    let (mut socket, _) = tungstenite::connect(req).expect("websocket connect");
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = socket.get_ref() {
        s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
    }
    let first = tail_values(&mut socket, 5, 10);
    let lines: Vec<&str> = first.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(
        lines,
        vec!["old 46", "old 47", "old 48", "old 49", "other tenant"]
    );
    assert_eq!(first[4].1["__tenant_id__"], "other");
    assert_eq!(first[0].1["__tenant_id__"], "fake");
    push_streams(
        &server,
        None,
        &[stream(&[("app", "t")], vec![(now_ns(), "new one".into())])],
        false,
        10,
    );
    let next = tail_values(&mut socket, 2, 6);
    let lines: Vec<&str> = next.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(lines, vec!["new one"], "only the new entry follows");
    let _ = socket.close(None);
}
