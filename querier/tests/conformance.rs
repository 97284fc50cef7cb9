//! LogQL conformance with Loki, data-driven: every case of `tests/conformance/*.cases` (format
//! described at the top of each file) is evaluated by the querier over the scenario of
//! `tests/conformance/scenario.json` with the data in memory (a head), in flushed chunks and in
//! compacted blocks of an in-memory object store: the answers must not depend on where the
//! data is. No server, no disk: the whole suite runs in milliseconds. The HTTP shapes of these
//! answers are checked once, end to end, by the workspace's `tests/conformance.rs`.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use logq_querier::logql::{parse, parse_duration_ns, Expr};
use logq_querier::{evaluate, MetricResult, Querier, QueryError, Series};
use logq_storage::{LabelSet, ScanStats, TenantId};
use serde_json::Value;

use common::{querier, Place, BASE, S};

/// Loki's limit of points per series of a range query.
const MAX_POINTS: i64 = 11_000;

fn data_dir() -> PathBuf {
    common::data_dir()
}

/// When a case is evaluated.
#[derive(Debug)]
enum At {
    Instant(i64),
    Range(i64, i64, String),
}

/// What a case must answer.
#[derive(Debug)]
enum Want {
    /// (labels, value) per series, in order.
    Vector(Vec<(Value, String)>),
    /// (labels, [(seconds, value)]) per series, in order.
    Matrix(Vec<(Value, Vec<(i64, String)>)>),
    Scalar(String),
    Error(String),
}

#[derive(Debug)]
struct Case {
    file: String,
    line: usize,
    name: String,
    query: String,
    at: At,
    want: Want,
}

fn parse_series(text: &str, file: &str, line: usize) -> (Value, String) {
    let (labels, value) = text
        .rsplit_once(" = ")
        .unwrap_or_else(|| panic!("{file}:{line}: want `{{labels}} = value`, got {text:?}"));
    let labels: Value =
        serde_json::from_str(labels).unwrap_or_else(|e| panic!("{file}:{line}: labels {labels:?}: {e}"));
    (labels, value.trim().to_string())
}

/// Reads every case of `tests/conformance/*.cases`.
fn cases() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("tests/conformance")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "cases"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .cases files in {}", data_dir().display());
    let mut out = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).expect("read cases");
        let mut lines = text.lines().enumerate().peekable();
        while let Some((n, raw)) = lines.next() {
            let line = raw.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let name = line
                .strip_prefix("case: ")
                .unwrap_or_else(|| panic!("{file}:{}: expected `case: NAME`, got {line:?}", n + 1));
            let field = |next: Option<(usize, &str)>, key: &str| -> (usize, String) {
                let (m, l) = next.unwrap_or_else(|| panic!("{file}: case {name:?} ends early"));
                let v = l
                    .strip_prefix(key)
                    .unwrap_or_else(|| panic!("{file}:{}: expected `{key}`, got {l:?}", m + 1));
                (m + 1, v.to_string())
            };
            let (_, query) = field(lines.next(), "query: ");
            let (m, when) = lines
                .next()
                .unwrap_or_else(|| panic!("{file}: case {name:?} ends early"));
            let at = if let Some(t) = when.strip_prefix("at: ") {
                At::Instant(
                    t.trim()
                        .parse()
                        .unwrap_or_else(|_| panic!("{file}:{}: bad time", m + 1)),
                )
            } else if let Some(r) = when.strip_prefix("range: ") {
                let parts: Vec<&str> = r.split_whitespace().collect();
                let [start, end, step] = parts[..] else {
                    panic!("{file}:{}: want `range: START END STEP`", m + 1)
                };
                At::Range(start.parse().unwrap(), end.parse().unwrap(), step.to_string())
            } else {
                panic!("{file}:{}: expected `at:` or `range:`, got {when:?}", m + 1)
            };
            let (m, want) = field(lines.next(), "want: ");
            let mut series = Vec::new();
            while let Some((k, l)) = lines.peek() {
                if !l.starts_with("  ") {
                    break;
                }
                series.push((k + 1, l.trim().to_string()));
                lines.next();
            }
            let want = match want.split_once(' ').unwrap_or((want.as_str(), "")) {
                ("vector", "") => {
                    Want::Vector(series.iter().map(|(k, s)| parse_series(s, &file, *k)).collect())
                }
                ("matrix", "") => Want::Matrix(
                    series
                        .iter()
                        .map(|(k, s)| {
                            let (labels, points) = parse_series(s, &file, *k);
                            let points = points
                                .split_whitespace()
                                .map(|p| {
                                    let (t, v) = p
                                        .split_once(':')
                                        .unwrap_or_else(|| panic!("{file}:{k}: point {p:?}"));
                                    (t.parse().unwrap(), v.to_string())
                                })
                                .collect();
                            (labels, points)
                        })
                        .collect(),
                ),
                ("scalar", v) => Want::Scalar(v.to_string()),
                ("error", text) => Want::Error(text.to_string()),
                _ => panic!("{file}:{m}: unknown want {want:?}"),
            };
            out.push(Case {
                file: file.clone(),
                line: n + 1,
                name: name.to_string(),
                query,
                at,
                want,
            });
        }
    }
    out
}

/// A value as Loki prints it (Go's `strconv.FormatFloat(v, 'f', -1, 64)`).
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

fn value_ok(got: f64, want: &str) -> bool {
    match want.strip_prefix('~') {
        Some(near) => near.parse::<f64>().is_ok_and(|w| (got - w).abs() < 1e-12),
        None => format_value(got) == want,
    }
}

/// The evaluation steps of a range query, as Loki gives them: the step in whole milliseconds,
/// `start + k * step` up to and including `end`.
fn steps(start: i64, end: i64, step: &str) -> Vec<i64> {
    let step = match step.parse::<f64>() {
        Ok(secs) => (secs * 1e9) as i64,
        Err(_) => parse_duration_ns(step).expect("a step duration"),
    };
    assert!(step > 0 && (end - start) / step <= MAX_POINTS, "a valid step");
    let step = if step >= 1_000_000 {
        step / 1_000_000 * 1_000_000
    } else {
        step
    };
    (0..)
        .map(|i| start + i * step)
        .take_while(|t| *t <= end)
        .collect()
}

fn labels_json(labels: &LabelSet) -> Value {
    Value::Object(
        labels
            .pairs()
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// Evaluates one case; the error says how the answer differs.
async fn run(q: &Querier, c: &Case) -> Result<(), String> {
    let expr = match parse(&c.query) {
        Ok(Expr::Sample(e)) => Ok(e),
        Ok(Expr::Log(_)) => return Err("a log query: cases are metric queries".into()),
        Err(e) => Err(QueryError::from(e)),
    };
    let (steps, instant) = match &c.at {
        At::Instant(t) => (vec![BASE + t * S], true),
        At::Range(start, end, step) => (steps(BASE + start * S, BASE + end * S, step), false),
    };
    let stats = Arc::new(ScanStats::default());
    let result = match expr {
        Ok(e) => evaluate(q, &TenantId::default_tenant(), &e, &steps, instant, 500, &stats).await,
        Err(e) => Err(e),
    };
    let result = match (&c.want, result) {
        (Want::Error(text), Err(e)) => {
            let bad_request = matches!(e, QueryError::Parse(_) | QueryError::BadRequest(_));
            return if bad_request && e.to_string().contains(text.as_str()) {
                Ok(())
            } else {
                Err(format!("want a bad request with {text:?}, got {e:?}"))
            };
        }
        (Want::Error(text), Ok(r)) => return Err(format!("want an error with {text:?}, got {r:?}")),
        (_, Err(e)) => return Err(format!("failed: {e}")),
        (_, Ok(r)) => r,
    };
    // A scalar of a range query is a matrix of one series without labels (as the API answers).
    let result = match result {
        MetricResult::Scalar(v) if !instant => MetricResult::Matrix(vec![Series {
            labels: LabelSet::default(),
            points: steps.iter().map(|t| (*t, v)).collect(),
        }]),
        other => other,
    };
    let secs = |t: i64| BASE + t * S;
    match (&c.want, &result) {
        (Want::Scalar(want), MetricResult::Scalar(v)) if instant && value_ok(*v, want) => Ok(()),
        (Want::Vector(want), MetricResult::Matrix(got)) if instant => {
            let At::Instant(t) = c.at else { unreachable!() };
            let same = got.len() == want.len()
                && got.iter().zip(want).all(|(g, (labels, value))| {
                    labels_json(&g.labels) == *labels
                        && g.points.len() == 1
                        && g.points[0].0 == secs(t)
                        && value_ok(g.points[0].1, value)
                });
            if same {
                Ok(())
            } else {
                Err(format!("vector differs: got {got:?}"))
            }
        }
        (Want::Matrix(want), MetricResult::Matrix(got)) if !instant => {
            let same = got.len() == want.len()
                && got.iter().zip(want).all(|(g, (labels, points))| {
                    labels_json(&g.labels) == *labels
                        && g.points.len() == points.len()
                        && g.points
                            .iter()
                            .zip(points)
                            .all(|((ts, v), (t, want))| *ts == secs(*t) && value_ok(*v, want))
                });
            if same {
                Ok(())
            } else {
                Err(format!("matrix differs: got {got:?}"))
            }
        }
        _ => Err(format!("want {:?}, got {result:?}", c.want)),
    }
}

async fn check_all(place: Place) {
    let q = querier(place).await;
    let cases = cases();
    let mut failures = Vec::new();
    for c in &cases {
        if let Err(e) = run(&q, c).await {
            failures.push(format!("{}:{} {} ({}): {e}", c.file, c.line, c.name, c.query));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Loki with the data in {place:?}:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_conformance_with_data_in_memory() {
    check_all(Place::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_conformance_with_data_in_chunks() {
    check_all(Place::Chunks).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_conformance_with_data_in_blocks() {
    check_all(Place::Blocks).await;
}

#[test]
fn the_case_files_hold_the_whole_suite() {
    // The suite moved here from the end-to-end tests: none of its 81 cases may go missing.
    assert!(cases().len() >= 81, "{} cases", cases().len());
}
