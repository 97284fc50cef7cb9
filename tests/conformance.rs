//! LogQL conformance with Loki, table-driven: one scenario pushed through `/loki/api/v1/push`
//! (Loki JSON, with structured metadata) into a fresh tenant, then instant (`/query`) and range
//! (`/query_range`) metric queries whose expected answers are worked out by hand from the data
//! and Loki's source (cited per case). Values are compared as the exact strings Loki prints
//! unless a case says the value is computed by floating-point steps (then within 1e-12).

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
    /// `NaN`.
    NaN,
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

fn edge(extra: &[(&str, &str)]) -> Value {
    let mut pairs = vec![("app", "edge"), ("env", "qa")];
    pairs.extend_from_slice(extra);
    labels(&pairs)
}

fn prod(extra: &[(&str, &str)]) -> Value {
    let mut pairs = vec![("app", "shop"), ("env", "prod")];
    pairs.extend_from_slice(extra);
    labels(&pairs)
}

fn cases() -> Vec<Case> {
    use Val::*;
    vec![
        // Empty label values (pkg/logql/log/labels.go `Set` keeps "", parser.go sets it): a
        // label set to "" names its own series, apart from series without the label.
        // `json` keeps a field "" and skips null (only strings, numbers and bools are read).
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
        // JSONExpressionParser: null and missing paths are "".
        Case {
            name: "json path expressions set missing fields to empty",
            query: r#"count_over_time({app="edge", env="qa"} | json st="status" [1m])"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (edge(&[("st", "")]), Exact(2.0)),
                (edge(&[("st", "200")]), Exact(1.0)),
            ]),
        },
        // JSONExpressionParser takes a number as written (jsonparser's raw bytes).
        Case {
            name: "json path expressions keep numbers as written",
            query: r#"sum by (t) (count_over_time({app="edge", env="qa"} | json t="took" [1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[("t", "")]), Exact(2.0)),
                (labels(&[("t", "1.50")]), Exact(1.0)),
            ]),
        },
        // RegexpParser: `FindSubmatch` gives "" for a group that took no part.
        Case {
            name: "regexp optional group is empty",
            query: r#"sum by (code) (count_over_time({app="edge", env="re"} | regexp `(?P<method>\w+) (?P<path>\S+)(?: (?P<code>\d+))?` [1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[("code", "")]), Exact(1.0)),
                (labels(&[("code", "200")]), Exact(1.0)),
            ]),
        },
        // fmt.go LabelsFormatter: the rendered "" is set.
        Case {
            name: "label_format rendering nothing",
            query: r#"sum by (x) (count_over_time({app="edge", env="qa"} | label_format x="{{.nope}}" [1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[("x", "")]), Exact(3.0))]),
        },
        // LogfmtExpressionParser: requested labels start as "".
        Case {
            name: "logfmt expressions set missing keys to empty",
            query: r#"sum by (m) (count_over_time({app="edge", env="qa"} | logfmt m="missing" [1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[("m", "")]), Exact(3.0))]),
        },
        // evaluator.go matchingSignature / resultMetric go through Prometheus' labels builder,
        // which drops empty values: `{st=""}` matches and yields `{}`.
        Case {
            name: "binary operations drop empty labels",
            query: r#"sum by (st) (count_over_time({app="edge", env="qa"} | json st="status" [1m])) / sum by (st) (count_over_time({app="edge", env="qa"} | json st="status" [1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[]), Exact(1.0)),
                (labels(&[("st", "200")]), Exact(1.0)),
            ]),
        },
        // VectorAggEvaluator: `without` resets a labels builder (empty values dropped).
        Case {
            name: "without drops empty labels",
            query: r#"sum without (app, env) (count_over_time({app="edge", env="qa"} | json st="status" [1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[]), Exact(2.0)),
                (labels(&[("st", "200")]), Exact(1.0)),
            ]),
        },
        // Structured metadata becomes series labels of metric queries unless aggregated away
        // (pkg/logql/log/metrics_extraction.go: the builder `Add`s StructuredMetadataLabel
        // before grouping). Window (t-1m, t]: entries at 10, 20, 30, 40 s.
        Case {
            name: "structured metadata splits series",
            query: r#"count_over_time({app="shop", env="prod"}[1m])"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (prod(&[("pod", "p1"), ("trace_id", "t1")]), Exact(1.0)),
                (prod(&[("pod", "p1"), ("trace_id", "t2")]), Exact(1.0)),
                (prod(&[("pod", "p2")]), Exact(2.0)),
            ]),
        },
        Case {
            name: "grouping by a structured metadata label",
            query: r#"sum by (pod) (count_over_time({app="shop"}[1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[]), Exact(4.0)),
                (labels(&[("pod", "p1")]), Exact(2.0)),
                (labels(&[("pod", "p2")]), Exact(2.0)),
            ]),
        },
        // labels.go `Add`: metadata named like a stream label gets `_extracted`.
        Case {
            name: "metadata clashing with a stream label",
            query: r#"count_over_time({app="db"}[2m])"#,
            at: At::Instant(120),
            want: Want::Vector(vec![
                (labels(&[("app", "db"), ("env", "prod")]), Exact(1.0)),
                (
                    labels(&[("app", "db"), ("env", "prod"), ("env_extracted", "staging")]),
                    Exact(1.0),
                ),
            ]),
        },
        Case {
            name: "label filter on structured metadata",
            query: r#"sum(count_over_time({app="shop", env="prod"} | pod="p2" [1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[]), Exact(2.0))]),
        },
        Case {
            name: "drop removes structured metadata",
            query: r#"count_over_time({app="shop", env="prod"} | drop pod, trace_id [1m])"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(prod(&[]), Exact(4.0))]),
        },
        Case {
            name: "logfmt labels and label_format rename",
            query: r#"sum by (lvl) (count_over_time({app="shop", env="prod"} | logfmt | label_format lvl=level [1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[("lvl", "error")]), Exact(1.0)),
                (labels(&[("lvl", "info")]), Exact(2.0)),
                (labels(&[("lvl", "warn")]), Exact(1.0)),
            ]),
        },
        // evaluator.go: a series with __error__ at a step fails the query.
        Case {
            name: "unwrap conversion error fails the query",
            query: r#"sum_over_time({app="shop", env="prod"} | logfmt | unwrap size [1m])"#,
            at: At::Instant(60),
            want: Want::Error(400, "SampleExtractionErr"),
        },
        // Label filters after unwrap see the conversion error (unwrapExpr PIPE labelFilter).
        Case {
            name: "unwrap with __error__ filtered after it",
            query: r#"sum by (pod) (sum_over_time({app="shop", env="prod"} | logfmt | unwrap size | __error__="" [1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[("pod", "p1")]), Exact(30.0)),
                (labels(&[("pod", "p2")]), Exact(40.0)),
            ]),
        },
        Case {
            name: "avg_over_time of durations by a metadata label",
            query: r#"avg_over_time({app="shop", env="prod"} | logfmt | unwrap duration(latency) [1m]) by (pod)"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[("pod", "p1")]), Near((0.1 + 0.25) / 2.0)),
                (labels(&[("pod", "p2")]), Near((0.05 + 1.0) / 2.0)),
            ]),
        },
        // Quantile: sorted 200 200 404 500, rank 1.5 -> (200 + 404) / 2.
        Case {
            name: "quantile_over_time interpolates",
            query: r#"quantile_over_time(0.5, {app="shop", env="prod"} | logfmt | unwrap status [1m]) by (app)"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[("app", "shop")]), Exact(302.0))]),
        },
        // Welford over 200 500 200 404: mean 326, squared deviations 68112 / 4.
        Case {
            name: "stdvar_over_time",
            query: r#"stdvar_over_time({app="shop", env="prod"} | logfmt | unwrap status [1m]) by (app)"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[("app", "shop")]), Exact(17028.0))]),
        },
        Case {
            name: "last_over_time by a metadata label",
            query: r#"last_over_time({app="shop", env="prod"} | logfmt | unwrap status [1m]) by (pod)"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[("pod", "p1")]), Exact(500.0)),
                (labels(&[("pod", "p2")]), Exact(404.0)),
            ]),
        },
        Case {
            name: "first_over_time without a label",
            query: r#"first_over_time({app="shop", env="prod"} | logfmt | unwrap status [2m]) without (pod, trace_id, level, latency, size, msg)"#,
            at: At::Instant(120),
            want: Want::Vector(vec![(prod(&[]), Exact(200.0))]),
        },
        // range_vector.go rateLogs: count / range seconds.
        Case {
            name: "rate is count per range second",
            query: r#"rate({app="shop", env="dev"}[1m])"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(
                labels(&[("app", "shop"), ("env", "dev")]),
                Exact(4.0 / 60.0),
            )]),
        },
        Case {
            name: "bytes_rate",
            query: r#"bytes_rate({app="db"} | drop env_extracted [2m])"#,
            at: At::Instant(120),
            want: Want::Vector(vec![(
                labels(&[("app", "db"), ("env", "prod")]),
                Exact(26.0 / 120.0),
            )]),
        },
        // range_vector.go extrapolatedRate for rate_counter since grafana/loki#23684 (the
        // Prometheus extrapolation over the window (0, 60 s]). Samples 3, 7, 2 at 15, 25, 45 s:
        // increase 6 (the reset adds 7) over 30 s; average gap 15 s, so both edges (15 s
        // away, under 1.1 gaps) are extrapolated to; the zero point (15 s back) does not cut
        // the start: 6 * 60 / 30 / 60.
        Case {
            name: "rate_counter",
            query: r#"rate_counter({app="shop", env="dev"} | json counter="counter" | __error__="" | unwrap counter [1m])"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[("app", "shop"), ("env", "dev")]), Near(0.2))]),
        },
        Case {
            name: "json on a non-JSON line fails the metric query",
            query: r#"count_over_time({app="shop", env="dev"} | json [1m])"#,
            at: At::Instant(60),
            want: Want::Error(400, "JSONParserErr"),
        },
        // label_filter.go: numeric filters let a line with an error through (only string
        // matchers filter errors), so the JSON error still fails the query.
        Case {
            name: "numeric filter keeps lines with errors",
            query: r#"count_over_time({app="shop", env="dev"} | json | counter > 2 [1m])"#,
            at: At::Instant(60),
            want: Want::Error(400, "JSONParserErr"),
        },
        Case {
            name: "numeric filter then error filter",
            query: r#"sum(count_over_time({app="shop", env="dev"} | json | counter > 2 | __error__="" [1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[]), Exact(2.0))]),
        },
        // parser_hints.go: `sum` with no grouping labels over count_over_time needs no label,
        // so the json parser does not run and the non-JSON line is no error.
        Case {
            name: "no labels needed: parsers skipped",
            query: r#"sum(count_over_time({app="shop", env="dev"} | json [1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[]), Exact(4.0))]),
        },
        Case {
            name: "sum without () pushes no labels",
            query: r#"sum without () (count_over_time({app="shop"}[1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[]), Exact(8.0))]),
        },
        Case {
            name: "absent_over_time needs no labels",
            query: r#"absent_over_time({app="shop", env="dev"} | json [1m])"#,
            at: At::Instant(60),
            want: Want::Vector(vec![]),
        },
        Case {
            name: "grouping labels needed: parser errors count",
            query: r#"sum by (level) (count_over_time({app="shop", env="dev"} | json [1m]))"#,
            at: At::Instant(60),
            want: Want::Error(400, "JSONParserErr"),
        },
        // parser_hints.go PreserveError: grouping by __error__ counts errors.
        Case {
            name: "sum by __error__ preserves errors",
            query: r#"sum by (__error__) (count_over_time({app="shop", env="dev"} | json [1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[]), Exact(3.0)),
                (labels(&[("__error__", "JSONParserErr")]), Exact(1.0)),
            ]),
        },
        Case {
            name: "keep never drops the error",
            query: r#"count_over_time({app="shop", env="dev"} | json | keep app [1m])"#,
            at: At::Instant(60),
            want: Want::Error(400, "JSONParserErr"),
        },
        Case {
            name: "json errors filtered",
            query: r#"sum(count_over_time({app="shop", env="dev"} | json | __error__="" [1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[]), Exact(3.0))]),
        },
        Case {
            name: "offset moves the window",
            query: r#"count_over_time({app="shop", env="dev"}[1m] offset 1m)"#,
            at: At::Instant(120),
            want: Want::Vector(vec![(labels(&[("app", "shop"), ("env", "dev")]), Exact(4.0))]),
        },
        // evaluator.go absentLabels: equality matchers, minus names another matcher uses.
        Case {
            name: "absent_over_time labels",
            query: r#"absent_over_time({app="nope", env="prod", host=~"x.*"}[1m])"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[("app", "nope"), ("env", "prod")]), Exact(1.0))]),
        },
        Case {
            name: "absent_over_time with data",
            query: r#"absent_over_time({app="db"}[1m])"#,
            at: At::Instant(60),
            want: Want::Vector(vec![]),
        },
        Case {
            name: "empty result is an empty array",
            query: r#"count_over_time({app="nope"}[1m])"#,
            at: At::Instant(60),
            want: Want::Vector(vec![]),
        },
        // syntax MergeBinOp: division and modulo by zero are NaN.
        Case {
            name: "division by zero is NaN",
            query: r#"sum(count_over_time({app="db"}[1m])) / 0"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[]), NaN)]),
        },
        Case {
            name: "modulo by zero is NaN",
            query: r#"sum(count_over_time({app="db"}[1m])) % 0"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[]), NaN)]),
        },
        Case {
            name: "bool comparison",
            query: r#"sum(count_over_time({app="shop"}[1m])) > bool 5"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[]), Exact(1.0))]),
        },
        Case {
            name: "filtering comparison keeps the vector value",
            query: r#"5 < sum(count_over_time({app="shop"}[1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[]), Exact(8.0))]),
        },
        Case {
            name: "filtering comparison drops",
            query: r#"sum(count_over_time({app="shop"}[1m])) > 8"#,
            at: At::Instant(60),
            want: Want::Vector(vec![]),
        },
        Case {
            name: "label_replace",
            query: r#"label_replace(sum by (env) (count_over_time({app="shop"}[1m])), "e", "$1-x", "env", "(.*)")"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[("e", "dev-x"), ("env", "dev")]), Exact(4.0)),
                (labels(&[("e", "prod-x"), ("env", "prod")]), Exact(4.0)),
            ]),
        },
        Case {
            name: "and on",
            query: r#"sum by (env) (count_over_time({app="shop"}[1m])) and on (env) sum by (env) (count_over_time({app="shop", env="dev"}[1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[("env", "dev")]), Exact(4.0))]),
        },
        Case {
            name: "unless",
            query: r#"sum by (env) (count_over_time({app="shop"}[1m])) unless sum by (env) (count_over_time({app="shop", env="dev"}[1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[("env", "prod")]), Exact(4.0))]),
        },
        Case {
            name: "or",
            query: r#"sum by (env) (count_over_time({app="shop", env="dev"}[1m])) or sum by (env) (count_over_time({app="shop"}[1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[("env", "dev")]), Exact(4.0)),
                (labels(&[("env", "prod")]), Exact(4.0)),
            ]),
        },
        Case {
            name: "group_left",
            query: r#"sum by (env, pod) (count_over_time({app="shop"}[1m])) / on (env) group_left sum by (env) (count_over_time({app="shop"}[1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[("env", "dev")]), Exact(1.0)),
                (labels(&[("env", "prod"), ("pod", "p1")]), Exact(0.5)),
                (labels(&[("env", "prod"), ("pod", "p2")]), Exact(0.5)),
            ]),
        },
        // evaluator.go vectorBinop: group_left(pod) copies pod from the "one" side, which has
        // none, so both prod series would become {env="prod"}: an error.
        Case {
            name: "group_left results must be unique",
            query: r#"sum by (env, pod) (count_over_time({app="shop"}[1m])) / on (env) group_left (pod) sum by (env) (count_over_time({app="shop"}[1m]))"#,
            at: At::Instant(60),
            want: Want::Error(
                400,
                "multiple matches for labels: grouping labels must ensure unique matches",
            ),
        },
        Case {
            name: "one-to-one needs unique matches",
            query: r#"sum by (env, pod) (count_over_time({app="shop"}[1m])) / on (env) sum by (env) (count_over_time({app="shop"}[1m]))"#,
            at: At::Instant(60),
            want: Want::Error(400, "many-to-one matching must be explicit"),
        },
        // engine.go JoinSampleVector: instant vectors are sorted by labels unless sorted by value.
        Case {
            name: "sort_desc orders an instant vector by value",
            query: r#"sort_desc(sum by (env) (count_over_time({app="shop"}[30s])))"#,
            at: At::Instant(30),
            want: Want::Vector(vec![
                (labels(&[("env", "prod")]), Exact(3.0)),
                (labels(&[("env", "dev")]), Exact(2.0)),
            ]),
        },
        // evaluator.go Sortable walks the whole expression; the literal step evaluator keeps
        // the sorted order, so negating keeps prod (3) before dev (2).
        Case {
            name: "operations keep the order of a sort",
            query: r#"sort_desc(sum by (env) (count_over_time({app="shop"}[30s]))) * -1"#,
            at: At::Instant(30),
            want: Want::Vector(vec![
                (labels(&[("env", "prod")]), Exact(-3.0)),
                (labels(&[("env", "dev")]), Exact(-2.0)),
            ]),
        },
        Case {
            name: "sort ascending",
            query: r#"sort(sum by (env) (count_over_time({app="shop"}[30s])))"#,
            at: At::Instant(30),
            want: Want::Vector(vec![
                (labels(&[("env", "dev")]), Exact(2.0)),
                (labels(&[("env", "prod")]), Exact(3.0)),
            ]),
        },
        Case {
            name: "vector literal arithmetic",
            query: "vector(2) * 3",
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[]), Exact(6.0))]),
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
        // topk at each step; the matrix is sorted by labels (engine.go sort.Sort(Matrix)).
        Case {
            name: "topk per step",
            query: r#"topk(1, sum by (env) (count_over_time({app="shop"}[30s])))"#,
            at: At::Range(30, 60, "30"),
            want: Want::Matrix(vec![
                (labels(&[("env", "dev")]), vec![(60, Exact(2.0))]),
                (labels(&[("env", "prod")]), vec![(30, Exact(3.0))]),
            ]),
        },
        Case {
            name: "sort in a range query keeps label order",
            query: r#"sort_desc(sum by (env) (count_over_time({app="shop"}[30s])))"#,
            at: At::Range(30, 30, "30s"),
            want: Want::Matrix(vec![
                (labels(&[("env", "dev")]), vec![(30, Exact(2.0))]),
                (labels(&[("env", "prod")]), vec![(30, Exact(3.0))]),
            ]),
        },
        Case {
            name: "scalar over a range",
            query: "1 + 1",
            at: At::Range(0, 120, "60s"),
            want: Want::Matrix(vec![(
                labels(&[]),
                vec![(0, Exact(2.0)), (60, Exact(2.0)), (120, Exact(2.0))],
            )]),
        },
        Case {
            name: "distinct keeps the first line of each value",
            query: r#"count_over_time({app="shop", env="prod"} | distinct pod [2m])"#,
            at: At::Instant(120),
            want: Want::Vector(vec![
                (prod(&[("pod", "p1"), ("trace_id", "t1")]), Exact(1.0)),
                (prod(&[("pod", "p2")]), Exact(1.0)),
            ]),
        },
        // evaluator.go VectorAggEvaluator: running mean, Welford for stddev.
        Case {
            name: "avg by",
            query: r#"avg by (env) (count_over_time({app="shop"}[1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[("env", "dev")]), Exact(4.0)),
                (labels(&[("env", "prod")]), Exact(4.0 / 3.0)),
            ]),
        },
        Case {
            name: "max by",
            query: r#"max by (env) (count_over_time({app="shop"}[1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[("env", "dev")]), Exact(4.0)),
                (labels(&[("env", "prod")]), Exact(2.0)),
            ]),
        },
        Case {
            name: "min by",
            query: r#"min by (env) (count_over_time({app="shop"}[1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[("env", "dev")]), Exact(4.0)),
                (labels(&[("env", "prod")]), Exact(1.0)),
            ]),
        },
        Case {
            name: "count by",
            query: r#"count by (env) (count_over_time({app="shop"}[1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[("env", "dev")]), Exact(1.0)),
                (labels(&[("env", "prod")]), Exact(3.0)),
            ]),
        },
        Case {
            name: "stddev by",
            query: r#"stddev by (env) (count_over_time({app="shop"}[1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[("env", "dev")]), Exact(0.0)),
                (labels(&[("env", "prod")]), Near((2.0f64 / 9.0).sqrt())),
            ]),
        },
        Case {
            name: "bottomk",
            query: r#"bottomk(1, sum by (env, pod) (count_over_time({app="shop"}[30s])))"#,
            at: At::Instant(30),
            want: Want::Vector(vec![(labels(&[("env", "prod"), ("pod", "p2")]), Exact(1.0))]),
        },
        Case {
            name: "sum without",
            query: r#"sum without (pod, trace_id) (count_over_time({app="shop"}[1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[("app", "shop"), ("env", "dev")]), Exact(4.0)),
                (labels(&[("app", "shop"), ("env", "prod")]), Exact(4.0)),
            ]),
        },
        Case {
            name: "pattern parser",
            query: r#"sum by (took) (count_over_time({app="db"} | pattern "query took <took>" [2m]))"#,
            at: At::Instant(120),
            want: Want::Vector(vec![
                (labels(&[("took", "1s")]), Exact(1.0)),
                (labels(&[("took", "3s")]), Exact(1.0)),
            ]),
        },
        Case {
            name: "regexp parser",
            query: r#"sum by (d) (count_over_time({app="db"} | regexp `took (?P<d>\d+)s` [2m]))"#,
            at: At::Instant(120),
            want: Want::Vector(vec![
                (labels(&[("d", "1")]), Exact(1.0)),
                (labels(&[("d", "3")]), Exact(1.0)),
            ]),
        },
        Case {
            name: "bytes of the formatted line",
            query: r#"sum(bytes_over_time({app="db"} | line_format "{{.app}}" [2m]))"#,
            at: At::Instant(120),
            want: Want::Vector(vec![(labels(&[]), Exact(4.0))]),
        },
        // Go templates in label_format: if/else, eq, pipes into printf.
        Case {
            name: "label_format template",
            query: r#"sum by (x) (count_over_time({app="shop", env="prod"} | logfmt | label_format x="{{ if eq .status \"200\" }}ok{{ else }}{{ .status | printf \"e%s\" }}{{ end }}" [1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[("x", "e404")]), Exact(1.0)),
                (labels(&[("x", "e500")]), Exact(1.0)),
                (labels(&[("x", "ok")]), Exact(2.0)),
            ]),
        },
        Case {
            name: "drop with a regex matcher",
            query: r#"count_over_time({app="shop", env="prod"} | drop pod=~"p1|p3", trace_id [1m])"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (prod(&[]), Exact(2.0)),
                (prod(&[("pod", "p2")]), Exact(2.0)),
            ]),
        },
        Case {
            name: "keep",
            query: r#"count_over_time({app="shop", env="prod"} | keep app, pod [1m])"#,
            at: At::Instant(60),
            want: Want::Vector(vec![
                (labels(&[("app", "shop"), ("pod", "p1")]), Exact(2.0)),
                (labels(&[("app", "shop"), ("pod", "p2")]), Exact(2.0)),
            ]),
        },
        Case {
            name: "unwrap bytes",
            query: r#"max_over_time({app="shop", env="prod"} | logfmt | unwrap bytes(size) | __error__="" [1m]) by (app)"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[("app", "shop")]), Exact(40.0))]),
        },
        Case {
            name: "line filter",
            query: r#"sum(count_over_time({app="shop"} |= "level=info" [1m]))"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[]), Exact(2.0))]),
        },
        Case {
            name: "vector arithmetic on rates",
            query: r#"sum(rate({app="shop"}[1m])) * 60"#,
            at: At::Instant(60),
            want: Want::Vector(vec![(labels(&[]), Exact(8.0 / 60.0 * 60.0))]),
        },
        Case {
            name: "or vector(0) fills empty steps",
            query: r#"sum(count_over_time({app="shop", env="dev"}[30s])) or vector(0)"#,
            at: At::Range(0, 90, "30s"),
            want: Want::Matrix(vec![(
                labels(&[]),
                vec![
                    (0, Exact(0.0)),
                    (30, Exact(2.0)),
                    (60, Exact(2.0)),
                    (90, Exact(0.0)),
                ],
            )]),
        },
        Case {
            name: "absent_over_time over a range",
            query: r#"absent_over_time({app="shop", env="dev"}[30s])"#,
            at: At::Range(0, 120, "30s"),
            want: Want::Matrix(vec![(
                labels(&[("app", "shop"), ("env", "dev")]),
                vec![(0, Exact(1.0)), (90, Exact(1.0)), (120, Exact(1.0))],
            )]),
        },
        // rate_counter with one sample in the window answers 0 (extrapolatedRate's guard).
        Case {
            name: "rate_counter with one sample is 0",
            query: r#"rate_counter({app="shop", env="dev"} | json counter="counter" | __error__="" | unwrap counter [10s])"#,
            at: At::Instant(20),
            want: Want::Vector(vec![(labels(&[("app", "shop"), ("env", "dev")]), Exact(0.0))]),
        },
        Case {
            name: "step as a duration",
            query: r#"count_over_time({app="db"}[1m])"#,
            at: At::Range(60, 120, "1m"),
            want: Want::Matrix(vec![
                (labels(&[("app", "db"), ("env", "prod")]), vec![(120, Exact(1.0))]),
                (
                    labels(&[("app", "db"), ("env", "prod"), ("env_extracted", "staging")]),
                    vec![(60, Exact(1.0))],
                ),
            ]),
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
        Val::NaN => got == "NaN",
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

/// Every case, with the data in the ingester's memory, then in flushed chunks, then in
/// compacted blocks: the answers must not depend on where the data is.
#[test]
fn loki_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let hour = 3600 * S;
    // Two closed hours ago (so compaction takes everything); every step in the cases is aligned.
    let base = (now_ns() / hour) * hour - 2 * hour;
    let idle = [
        "--flush-check-interval",
        "1000h",
        "--window-grace",
        "0s",
        "--compact-interval",
        "1000h",
    ];
    let mut server = Server::start(dir.path(), &idle);
    load(&server, base);
    load_edge(&server, base);
    let cases = cases();
    check_all(&server, base, &cases, "memory");

    let store = server.data_dir.join("store");
    server.terminate(); // flushes everything to chunks
    server.restart();
    assert!(!files_with_suffix(&store, ".chunk").is_empty());
    check_all(&server, base, &cases, "chunks");
    server.terminate();

    let data_dir = server.data_dir.to_str().unwrap().to_string();
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
    assert!(files_with_suffix(&store, ".chunk").is_empty(), "all compacted");
    server.restart();
    check_all(&server, base, &cases, "blocks");
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
