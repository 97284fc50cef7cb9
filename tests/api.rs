//! End-to-end API behaviour through the real binary: bad input answers 400 with a reason and
//! loses nothing, tenants never see each other's data, label endpoints, and the CLI.

mod util;

use std::process::Command;

use util::*;

fn lines(n: i64, base: i64, tag: &str) -> Vec<(i64, String)> {
    (0..n)
        .map(|i| (base + i * 1_000_000, format!("{tag} line {i} status=200")))
        .collect()
}

#[test]
fn bad_input_is_rejected_with_a_reason_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let base = now_ns() - 60_000_000_000;
    let good = vec![stream(&[("app", "good")], lines(50, base, "good"))];
    push_streams(&server, None, &good, false, 100);

    let push = server.url("/loki/api/v1/push");
    let json = [("Content-Type", "application/json")];
    let proto = [("Content-Type", "application/x-protobuf")];
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            json.to_vec(),
            b"{\"streams\": [".to_vec(),
            "error parsing push request JSON",
        ),
        (
            "numeric timestamp",
            json.to_vec(),
            br#"{"streams":[{"stream":{"a":"b"},"values":[[1700000000000000000,"x"]]}]}"#.to_vec(),
            "expected a string",
        ),
        (
            "timestamp not digits",
            json.to_vec(),
            br#"{"streams":[{"stream":{"a":"b"},"values":[["17e9","x"]]}]}"#.to_vec(),
            "invalid timestamp",
        ),
        (
            "empty label set",
            json.to_vec(),
            br#"{"streams":[{"stream":{},"values":[["1","x"]]}]}"#.to_vec(),
            "error at least one label pair is required per stream",
        ),
        (
            "bad snappy",
            proto.to_vec(),
            b"definitely not snappy".to_vec(),
            "invalid snappy body",
        ),
        (
            "bad protobuf",
            proto.to_vec(),
            snap::raw::Encoder::new().compress_vec(&[0xff; 64]).unwrap(),
            "error parsing push request protobuf",
        ),
        (
            "unknown Content-Encoding",
            vec![("Content-Type", "application/json"), ("Content-Encoding", "br")],
            b"{}".to_vec(),
            "unsupported Content-Encoding",
        ),
        (
            "bad gzip",
            vec![("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
            b"not gzip".to_vec(),
            "invalid gzip body",
        ),
    ];
    for (what, headers, body, reason) in cases {
        let r = post(&push, &headers, &body);
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        assert!(
            r.body.contains(reason),
            "{what}: body {:?} lacks {reason:?}",
            r.body
        );
    }
    let r = post(&push, &[("X-Scope-OrgID", "../etc")], b"x");
    assert_eq!(r.status, 400, "path-like tenant: {}", r.body);

    let qr = server.url("/loki/api/v1/query_range");
    let r = get(&qr, &[("query", r#"{app="good""#)], &[]);
    assert_eq!(r.status, 400);
    assert!(r.body.starts_with("parse error at line 1, col"), "{}", r.body);
    let r = get(&qr, &[("query", "{}")], &[]);
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("at least one regexp or equality matcher"),
        "{}",
        r.body
    );
    let r = get(
        &qr,
        &[
            ("query", r#"{app="good"}"#),
            ("start", "2000000000"),
            ("end", "1000000000"),
        ],
        &[],
    );
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("end timestamp must not be before start time"),
        "{}",
        r.body
    );
    let r = get(&qr, &[("query", r#"{app="good"}"#), ("limit", "100000")], &[]);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("max entries limit"), "{}", r.body);
    let r = get(
        &qr,
        &[("query", r#"{app="good"}"#), ("direction", "sideways")],
        &[],
    );
    assert_eq!(r.status, 400);
    let r = get(&qr, &[], &[]);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("query"), "{}", r.body);

    // Everything accepted before the bad requests is still there, once.
    let got = read_all(&server, None, r#"{app="good"}"#, base, now_ns(), "forward");
    assert_same(
        &got,
        &expected(&good, "forward"),
        "accepted lines after bad input",
    );
}

#[test]
fn tenants_never_see_each_others_data() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), FAST_FLAGS);
    let base = now_ns() - 2 * 3_600_000_000_000;
    let a = vec![stream(
        &[("app", "shared"), ("team", "a")],
        lines(100, base, "tenant-a"),
    )];
    let b = vec![stream(
        &[("app", "shared"), ("team", "b")],
        lines(70, base, "tenant-b"),
    )];
    push_streams(&server, Some("team-a"), &a, false, 100);
    push_streams(&server, Some("team-b"), &b, true, 100);
    push_streams(
        &server,
        None,
        &[stream(&[("app", "shared")], lines(5, base, "default"))],
        false,
        100,
    );
    let check = |what: &str| {
        let end = now_ns();
        let got_a = read_all(&server, Some("team-a"), r#"{app="shared"}"#, base, end, "forward");
        assert_same(&got_a, &expected(&a, "forward"), &format!("tenant a {what}"));
        let got_b = read_all(&server, Some("team-b"), r#"{app="shared"}"#, base, end, "forward");
        assert_same(&got_b, &expected(&b, "forward"), &format!("tenant b {what}"));
        let got_fake = read_all(&server, None, r#"{app="shared"}"#, base, end, "forward");
        assert_eq!(got_fake.len(), 5, "default tenant {what}");
        let since = [("since", "3h")];
        let r = get(
            &server.url("/loki/api/v1/label/team/values"),
            &since,
            &[("X-Scope-OrgID", "team-a")],
        );
        assert_eq!(r.json()["data"], serde_json::json!(["a"]), "label values {what}");
        let r = get(
            &server.url("/loki/api/v1/labels"),
            &since,
            &[("X-Scope-OrgID", "team-b")],
        );
        assert_eq!(
            r.json()["data"],
            serde_json::json!(["app", "team"]),
            "labels {what}"
        );
        let r = get(
            &server.url("/loki/api/v1/series"),
            &[("match[]", r#"{app="shared"}"#), ("since", "3h")],
            &[("X-Scope-OrgID", "team-b")],
        );
        assert_eq!(
            r.json()["data"],
            serde_json::json!([{"app": "shared", "team": "b"}]),
            "series {what}"
        );
    };
    check("in memory");
    // After flush and compaction the data lives in per-tenant objects.
    wait_for(30, "blocks for both tenants", || {
        let store = dir.path().join("store");
        !files_with_suffix(&store.join("team-a"), ".parquet").is_empty()
            && !files_with_suffix(&store.join("team-b"), ".parquet").is_empty()
    });
    check("in storage");
}

#[test]
fn line_filters_select_the_right_lines() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let base = now_ns() - 60_000_000_000;
    let entries: Vec<(i64, String)> = ["GET /a 200", "POST /b 500", "GET /c 404", "get /d 200"]
        .iter()
        .enumerate()
        .map(|(i, l)| (base + i as i64, l.to_string()))
        .collect();
    push_streams(&server, None, &[stream(&[("app", "web")], entries)], true, 10);
    let lines_of = |q: &str| -> Vec<String> {
        read_all(&server, None, q, base, now_ns(), "forward")
            .into_iter()
            .map(|g| g.2)
            .collect()
    };
    assert_eq!(lines_of(r#"{app="web"} |= "GET""#), ["GET /a 200", "GET /c 404"]);
    assert_eq!(lines_of(r#"{app="web"} != "GET""#), ["POST /b 500", "get /d 200"]);
    assert_eq!(
        lines_of(r#"{app="web"} |~ "(?i)get" != "404""#),
        ["GET /a 200", "get /d 200"]
    );
    assert_eq!(
        lines_of(r#"{app="web"} !~ "[45]0[04]""#),
        ["GET /a 200", "get /d 200"]
    );
    assert_eq!(
        lines_of(r#"{app=~"w.b", app!="x"} |= "POST" or "404""#),
        ["POST /b 500", "GET /c 404"]
    );
    assert!(lines_of(r#"{app="other"}"#).is_empty());
    // Stats count what was examined, not what was returned.
    let r = get(
        &server.url("/loki/api/v1/query_range"),
        &[
            ("query", r#"{app="web"} |= "GET""#),
            ("start", &base.to_string()),
            ("end", &now_ns().to_string()),
        ],
        &[],
    );
    let summary = &r.json()["data"]["stats"]["summary"];
    assert_eq!(summary["totalLinesProcessed"], 4);
    assert_eq!(summary["totalBytesProcessed"], 10 + 11 + 10 + 10);
    assert_eq!(summary["totalEntriesReturned"], 2);
}

#[test]
fn cli_query_prints_logcli_formats() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let base = now_ns() - 120_000_000_000;
    push_streams(
        &server,
        None,
        &[stream(
            &[("app", "cli"), ("env", "test")],
            lines(2500, base, "cli"),
        )],
        false,
        1000,
    );
    let run = |args: &[&str]| -> String {
        let out = Command::new(logq_bin())
            .arg("query")
            .args(args)
            .env("LOGQ_ADDR", &server.addr)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "logq query {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let raw = run(&[
        r#"{app="cli"}"#,
        "--since",
        "1h",
        "--limit",
        "0",
        "--batch",
        "700",
        "-o",
        "raw",
        "--forward",
    ]);
    let want: Vec<String> = (0..2500).map(|i| format!("cli line {i} status=200")).collect();
    assert_eq!(raw.lines().collect::<Vec<_>>(), want, "paged raw output");
    let default = run(&[r#"{app="cli"} |= "line 7 ""#, "--since", "1h"]);
    assert_eq!(default.lines().count(), 1);
    assert!(
        default.contains(r#"{app="cli", env="test"} cli line 7 status=200"#),
        "{default}"
    );
    let jsonl = run(&[r#"{app="cli"}"#, "--since", "1h", "--limit", "3", "-o", "jsonl"]);
    let rows: Vec<serde_json::Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0]["line"], "cli line 2499 status=200",
        "newest first by default"
    );
    assert_eq!(rows[0]["labels"]["env"], "test");
    assert!(rows[0]["timestamp"].as_str().unwrap().ends_with('Z'));

    let out = Command::new(logq_bin())
        .args(["query", "{app=", "--addr", &server.addr])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("parse error"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(logq_bin())
        .args(["query", "{a=\"b\"}", "--from", "yesterday"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid --from"));
}

#[test]
fn ui_ready_metrics_and_buildinfo() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let r = get(&server.url("/"), &[], &[]);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("<title>logq</title>"));
    let r = get(&server.url("/metrics"), &[], &[]);
    assert!(
        r.body.contains("logq_ingester_chunks_flushed_total"),
        "{}",
        r.body
    );
    let r = get(&server.url("/loki/api/v1/status/buildinfo"), &[], &[]);
    assert!(r.json()["version"].is_string());
    assert_eq!(get(&server.url("/nope"), &[], &[]).status, 404);
}

#[test]
fn slow_queries_time_out_with_504() {
    let dir = tempfile::tempdir().unwrap();
    let mut flags = FAST_FLAGS.to_vec();
    flags.extend(["--query-timeout", "1ns"]);
    let server = Server::start(dir.path(), &flags);
    // Data in storage, so every query has to wait for reads.
    let base = now_ns() - 3_600_000_000_000;
    push_streams(
        &server,
        None,
        &[stream(&[("app", "x")], lines(1000, base, "slow"))],
        false,
        500,
    );
    wait_for(30, "flushed chunks", || {
        !files_with_suffix(&dir.path().join("store"), ".chunk").is_empty()
            || !files_with_suffix(&dir.path().join("store"), ".parquet").is_empty()
    });
    let r = get(
        &server.url("/loki/api/v1/query_range"),
        &[("query", r#"{app="x"}"#), ("since", "2h")],
        &[],
    );
    assert_eq!(r.status, 504, "{}", r.body);
    assert!(r.body.contains("query timed out"), "{}", r.body);
    let time = (base + 60_000_000_000).to_string();
    let r = get(
        &server.url("/loki/api/v1/query"),
        &[("query", r#"count_over_time({app="x"}[5m])"#), ("time", &time)],
        &[],
    );
    assert_eq!(r.status, 504, "{}", r.body);
}

#[test]
fn index_stats_and_volume_come_from_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), FAST_FLAGS);
    let base = now_ns() - 2 * 3_600_000_000_000;
    let web_a = stream(&[("app", "web"), ("host", "a")], lines(30, base, "a"));
    let web_b = stream(&[("app", "web"), ("host", "b")], lines(10, base, "b"));
    let db = stream(&[("app", "db")], lines(5, base, "db"));
    push_streams(&server, None, &[web_a.clone(), web_b.clone(), db], true, 100);
    let bytes = |s: &TestStream| s.entries.iter().map(|e| e.1.len() as u64).sum::<u64>();
    let range = [("start", base.to_string()), ("end", now_ns().to_string())];
    let check = |what: &str| {
        let mut params: Vec<(&str, &str)> = range.iter().map(|(k, v)| (*k, v.as_str())).collect();
        params.push(("query", r#"{app="web"}"#));
        let r = get(&server.url("/loki/api/v1/index/stats"), &params, &[]);
        let v = r.json();
        assert_eq!(v["streams"], 2, "{what}: {}", r.body);
        assert_eq!(v["entries"], 40, "{what}: {}", r.body);
        assert_eq!(v["bytes"], bytes(&web_a) + bytes(&web_b), "{what}");
        assert!(v["chunks"].as_u64().unwrap() >= 2, "{what}");
        let v = get(&server.url("/loki/api/v1/index/volume"), &params, &[]).json();
        assert_eq!(
            v["data"]["result"].as_array().unwrap().len(),
            1,
            "{what}: grouped by app"
        );
        assert_eq!(
            v["data"]["result"][0]["metric"],
            serde_json::json!({"app": "web"})
        );
        assert_eq!(
            v["data"]["result"][0]["value"][1],
            (bytes(&web_a) + bytes(&web_b)).to_string()
        );
        params.push(("targetLabels", "host"));
        let v = get(&server.url("/loki/api/v1/index/volume"), &params, &[]).json();
        let hosts: Vec<&str> = v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["metric"]["host"].as_str().unwrap())
            .collect();
        assert_eq!(hosts, ["a", "b"], "{what}: largest first");
    };
    check("in memory");
    wait_for(30, "blocks", || {
        !files_with_suffix(&dir.path().join("store"), ".parquet").is_empty()
    });
    wait_for(30, "no chunks left", || {
        files_with_suffix(&dir.path().join("store"), ".chunk").is_empty()
    });
    check("in blocks");
    let r = get(&server.url("/loki/api/v1/index/stats"), &[], &[]);
    assert_eq!(r.status, 400);
}

#[test]
fn delete_requests_hide_at_once_and_are_applied_by_the_compactor() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_process(dir.path(), FAST_FLAGS);
    let base = now_ns() - 2 * 3_600_000_000_000;
    let entries: Vec<(i64, String)> = (0..100)
        .map(|i| {
            (
                base + i * 1_000_000_000,
                if i % 4 == 0 {
                    format!("secret token {i}")
                } else {
                    format!("public line {i}")
                },
            )
        })
        .collect();
    let other = stream(
        &[("app", "other")],
        vec![(base, "secret but another app".to_string())],
    );
    push_streams(
        &server,
        None,
        &[stream(&[("app", "del")], entries.clone()), other],
        false,
        100,
    );
    let store = dir.path().join("store");
    wait_for(30, "blocks", || {
        !files_with_suffix(&store, ".parquet").is_empty() && files_with_suffix(&store, ".chunk").is_empty()
    });

    let (start, end) = (base.to_string(), (base + 50_000_000_000).to_string());
    let del = server.url("/loki/api/v1/delete");
    let r = post(
        &format!("{del}?query=%7Bapp%3D%22del%22%7D%20%7C%3D%20%22secret%22&start={start}&end={end}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 204, "{}", r.body);
    // Hidden at once: secrets in the first 50 s are gone, the later ones and other apps remain.
    let lines = |server: &Server, q: &str| -> Vec<String> {
        read_all(server, None, q, base, now_ns(), "forward")
            .into_iter()
            .map(|g| g.2)
            .collect()
    };
    let want: Vec<String> = entries
        .iter()
        .filter(|(ts, l)| !(l.starts_with("secret") && *ts <= base + 50_000_000_000))
        .map(|(_, l)| l.clone())
        .collect();
    assert_eq!(lines(&server, r#"{app="del"}"#), want);
    assert_eq!(lines(&server, r#"{app="other"}"#).len(), 1);
    let count = get(
        &server.url("/loki/api/v1/query"),
        &[("query", r#"sum(count_over_time({app="del"} |= "secret" [3h]))"#)],
        &[],
    )
    .json();
    assert_eq!(
        count["data"]["result"][0]["value"][1], "12",
        "metric queries see the deletion too"
    );

    // The compactor rewrites the block: the index no longer counts the deleted entries.
    let stats = |server: &Server| -> u64 {
        get(
            &server.url("/loki/api/v1/index/stats"),
            &[("query", r#"{app="del"}"#), ("since", "3h")],
            &[],
        )
        .json()["entries"]
            .as_u64()
            .unwrap()
    };
    wait_for(30, "processed request", || {
        get(&del, &[], &[])
            .json()
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["status"] == "processed")
    });
    assert_eq!(stats(&server), want.len() as u64);
    let listed = get(&del, &[], &[]).json();
    assert_eq!(listed[0]["query"], r#"{app="del"} |= "secret""#);
    let id = listed[0]["request_id"].as_str().unwrap().to_string();
    let r = ureq::delete(format!("{del}?request_id={id}"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400, "processed requests cannot be cancelled");

    server.kill9();
    server.restart();
    assert_eq!(lines(&server, r#"{app="del"}"#), want, "after restart");

    // Bad requests.
    let del = server.url("/loki/api/v1/delete");
    let r = post(
        &format!("{del}?query=%7Bapp%3D%22del%22%7D%20%7C%20json&start=1"),
        &[],
        b"",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = post(&format!("{del}?query=%7Bapp%3D%22del%22%7D"), &[], b"");
    assert_eq!(r.status, 400, "start is required: {}", r.body);
}

#[test]
fn a_corrupt_block_is_an_error_naming_it_and_other_data_still_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), FAST_FLAGS);
    let hour = 3_600_000_000_000;
    let base = (now_ns() / hour) * hour - 3 * hour;
    // Two streams in two different hours, so they land in different blocks.
    let early = stream(&[("app", "early")], lines(50, base, "early"));
    let late = stream(&[("app", "late")], lines(50, base + hour, "late"));
    push_streams(&server, None, &[early, late.clone()], false, 100);
    let store = dir.path().join("store");
    wait_for(30, "two blocks", || {
        files_with_suffix(&store, ".parquet").len() == 2 && files_with_suffix(&store, ".chunk").is_empty()
    });
    let mut blocks = files_with_suffix(&store, ".parquet");
    blocks.sort();
    // Corrupt the early hour's block: keep its size, scramble its middle.
    let mut bytes = std::fs::read(&blocks[0]).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid / 2..mid] {
        *b ^= 0x5a;
    }
    std::fs::write(&blocks[0], bytes).unwrap();
    let name = blocks[0].file_name().unwrap().to_string_lossy().into_owned();

    let r = get(
        &server.url("/loki/api/v1/query_range"),
        &[
            ("query", r#"{app="early"}"#),
            ("start", &base.to_string()),
            ("end", &(base + hour).to_string()),
        ],
        &[],
    );
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body.contains(&name), "the error names the object: {}", r.body);
    let got = read_all(
        &server,
        None,
        r#"{app="late"}"#,
        base + hour,
        base + 2 * hour,
        "forward",
    );
    assert_same(&got, &expected(&[late], "forward"), "other blocks still answer");
    assert_eq!(
        get(&server.url("/ready"), &[], &[]).status,
        200,
        "the server is still up"
    );
}

#[test]
fn ingestion_rate_limit_answers_429_and_keeps_accepted_data() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &["--ingestion-rate-mb", "0.001", "--ingestion-burst-mb", "0.01"],
    );
    let base = now_ns() - 60_000_000_000;
    // 10 KB burst: a 6 KB push passes, a second one is refused with Loki's message.
    let line = "x".repeat(600);
    let batch = |from: i64| {
        stream(
            &[("app", "rl")],
            (0..10).map(|i| (base + from + i, line.clone())).collect(),
        )
    };
    push_streams(&server, None, &[batch(0)], false, 100);
    let r = post(
        &server.url("/loki/api/v1/push"),
        &[("Content-Type", "application/json")],
        &json_body(&[batch(100)]),
    );
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(
        r.body.contains("Ingestion rate limit exceeded for user fake"),
        "{}",
        r.body
    );
    // Another tenant has its own budget; the first push's lines are all there.
    push_streams(&server, Some("other"), &[batch(200)], false, 100);
    assert_eq!(
        read_all(&server, None, r#"{app="rl"}"#, base, now_ns(), "forward").len(),
        10
    );
}
