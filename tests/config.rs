//! End-to-end tests of configuration (issue 12): `logq config check`, `--print-config`, one
//! file for `serve` and `agent`, unknown keys, the older flat file form, and per-tenant query
//! limits applied by a server started from a `ServerConfig`.

mod util;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use logq_server::ServerConfig;
use util::*;

fn logq(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(logq_bin());
    c.args(args);
    for var in [
        "LOGQ_CONFIG",
        "LOGQ_LISTEN",
        "LOGQ_DATA_DIR",
        "LOGQ_STORE",
        "LOGQ_KAFKA",
        "LOGQ_ENVIRONMENT",
        "LOGQ_RETENTION",
    ] {
        c.env_remove(var);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run logq")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p.to_string_lossy().into_owned()
}

const BOTH: &str = r#"
[server]
listen = "127.0.0.1:3999"
data_dir = "/srv/logq"

[server.limits]
max_entries_limit_per_query = 100

[server.overrides.big]
max_entries_limit_per_query = 9000

[server.compactor]
retention_stream = [{ selector = '{level="debug"}', period = "1d" }]

[server.kafka]
key_label = "app"

[agent]
paths = ["/var/log/*.log"]
push_url = "http://logq:3100"
kafka_key_label = "app"
"#;

#[test]
fn config_check_prints_the_effective_configuration_of_both_tables() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "logq.toml", BOTH);
    let out = logq(&["config", "check", &file], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: toml::Table = toml::from_str(&text(&out.stdout)).expect("the output is TOML");
    let server = printed["server"].as_table().unwrap();
    assert_eq!(server["data_dir"].as_str(), Some("/srv/logq"));
    // Defaults are filled in, aliases come out in the one spelling.
    assert_eq!(server["ingester"]["flush_check_interval"].as_str(), Some("10s"));
    assert_eq!(server["kafka"]["partition_label"].as_str(), Some("app"));
    assert_eq!(
        server["overrides"]["big"]["max_entries_limit_per_query"].as_integer(),
        Some(9000)
    );
    let agent = printed["agent"].as_table().unwrap();
    assert_eq!(agent["kafka_partition_label"].as_str(), Some("app"));
    assert_eq!(agent["max_age"].as_str(), Some("1d"));
    // The printed form is itself a valid file with the same meaning.
    let again = write(dir.path(), "again.toml", &text(&out.stdout));
    let out2 = logq(&["config", "check", &again], &[]);
    assert_eq!(text(&out2.stdout), text(&out.stdout));
}

#[test]
fn unknown_keys_and_bad_values_name_key_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[server]\ndata_dir = \"/d\"\n\n[server.limits]\nmax_query_serie = 5\n",
            "max_query_serie",
            Some("line 5"),
        ),
        ("[agent]\npaths = []\npathz = []\n", "pathz", Some("line 3")),
        ("[servr]\nlisten = \"x\"\n", "servr", None),
        (
            "[server.limits]\nquery_timeout = \"soon\"\n",
            "soon",
            Some("line 2"),
        ),
        (
            "[server.overrides.t]\nmax_query_series = 0\n",
            "overrides.t.max_query_series",
            None,
        ),
        ("[agent]\npaths = [\"/x\"]\n", "--push-url", None),
    ];
    for (content, want, line) in cases {
        let file = write(dir.path(), "bad.toml", content);
        let out = logq(&["config", "check", &file], &[]);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{content:?} passed");
        assert!(err.contains(want), "{content:?}: {err}");
        assert!(err.contains(&file), "{content:?} does not name the file: {err}");
        if let Some(line) = line {
            assert!(err.contains(line), "{content:?} does not name the line: {err}");
        }
    }
    // serve refuses the same file before starting anything.
    let file = write(dir.path(), "bad.toml", cases[0].0);
    let out = logq(&["serve", "--config", &file], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("max_query_serie"));
}

#[test]
fn serve_print_config_overlays_environment_and_flags_on_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "logq.toml", BOTH);
    let out = logq(
        &[
            "serve",
            "--print-config",
            "--max-line-bytes",
            "1234",
            "--listen",
            "127.0.0.1:4000",
        ],
        &[
            ("LOGQ_CONFIG", &file),
            ("LOGQ_DATA_DIR", "/from/env"),
            ("LOGQ_LISTEN", "127.0.0.1:5000"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: toml::Table = toml::from_str(&text(&out.stdout)).unwrap();
    let server = printed["server"].as_table().unwrap();
    assert_eq!(server["data_dir"].as_str(), Some("/from/env"));
    assert_eq!(server["listen"].as_str(), Some("127.0.0.1:4000"));
    assert_eq!(server["limits"]["max_line_size"].as_integer(), Some(1234));
    assert_eq!(
        server["limits"]["max_entries_limit_per_query"].as_integer(),
        Some(100)
    );
    assert!(!printed.contains_key("agent"), "serve prints its own table only");

    // The same file drives the agent.
    let out = logq(
        &["agent", "--config", &file, "--print-config", "--batch-lines", "7"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: toml::Table = toml::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(printed["agent"]["paths"][0].as_str(), Some("/var/log/*.log"));
    assert_eq!(printed["agent"]["batch_lines"].as_integer(), Some(7));
}

#[test]
fn older_flat_files_keep_working_and_check_converts_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "old.toml",
        "data_dir = \"/old\"\nmax_line_bytes = 99\nretention_tenant = [\"a=7d\"]\nkafka_partition_label = \"app\"\n",
    );
    let out = logq(&["config", "check", &file], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: toml::Table = toml::from_str(&text(&out.stdout)).unwrap();
    let server = printed["server"].as_table().unwrap();
    assert_eq!(server["data_dir"].as_str(), Some("/old"));
    assert_eq!(server["limits"]["max_line_size"].as_integer(), Some(99));
    assert_eq!(server["overrides"]["a"]["retention_period"].as_str(), Some("7d"));
    assert_eq!(server["kafka"]["partition_label"].as_str(), Some("app"));
    // serve reads it the same way, the command line winning.
    let out = logq(
        &[
            "serve",
            "--config",
            &file,
            "--print-config",
            "--max-line-bytes",
            "5",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("max_line_size = 5"));
    // An older agent file.
    let agent = write(
        dir.path(),
        "agent.toml",
        "paths = [\"/x\"]\npush_url = \"http://a:3100\"\n",
    );
    let out = logq(&["config", "check", &agent], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("[agent]"));
}

#[test]
fn per_tenant_query_limits_come_from_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let mut config: ServerConfig = toml::from_str::<toml::Table>(BOTH).unwrap()["server"]
        .clone()
        .try_into()
        .unwrap();
    config.data_dir = dir.path().to_path_buf();
    config.listen = ([127, 0, 0, 1], 0).into();
    config.kafka = Default::default();
    config.limits.max_query_length = Duration::from_secs(3600);
    let server = Server::start_with_config(config);
    let query = |tenant: &str, limit: &str, since: &str| {
        get(
            &server.url("/loki/api/v1/query_range"),
            &[("query", r#"{app="x"}"#), ("limit", limit), ("since", since)],
            &[("X-Scope-OrgID", tenant)],
        )
    };
    let r = query("small", "200", "5m");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("max entries limit per query exceeded"),
        "{}",
        r.body
    );
    assert!(r.body.contains("(200 > 100)"), "{}", r.body);
    let r = query("big", "200", "5m");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = query("big", "9001", "5m");
    assert_eq!(r.status, 400, "{}", r.body);
    // max_query_length: one hour for everyone here.
    let r = query("big", "10", "2h");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("the query time range exceeds the limit"),
        "{}",
        r.body
    );
}

#[test]
fn max_query_series_is_a_per_tenant_limit_beyond_loki_s_default() {
    let dir = tempfile::tempdir().unwrap();
    let mut config: ServerConfig = toml::from_str(
        "[overrides.narrow]\nmax_query_series = 2\n[overrides.wide]\nmax_query_series = 1000\n",
    )
    .unwrap();
    config.data_dir = dir.path().to_path_buf();
    config.listen = ([127, 0, 0, 1], 0).into();
    let server = Server::start_with_config(config);
    let base = now_ns() - 120_000_000_000;
    let values: Vec<serde_json::Value> = (0..600)
        .map(|i| serde_json::json!([(base + i * 1_000_000).to_string(), "x", {"trace_id": format!("t{i}")}]))
        .collect();
    let body = serde_json::json!({"streams": [{"stream": {"app": "many"}, "values": values}]}).to_string();
    for tenant in ["narrow", "wide", "default"] {
        let r = post(
            &server.url("/loki/api/v1/push"),
            &[("Content-Type", "application/json"), ("X-Scope-OrgID", tenant)],
            body.as_bytes(),
        );
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let time = (base + 30_000_000_000).to_string();
    let ask = |tenant: &str| {
        get(
            &server.url("/loki/api/v1/query"),
            &[("query", r#"count_over_time({app="many"}[1m])"#), ("time", &time)],
            &[("X-Scope-OrgID", tenant)],
        )
    };
    let r = ask("narrow");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("maximum of series (2) reached"), "{}", r.body);
    let r = ask("default");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("maximum of series (500) reached"), "{}", r.body);
    let r = ask("wide");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["data"]["result"].as_array().unwrap().len(), 600);
}
