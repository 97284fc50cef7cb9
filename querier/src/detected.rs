//! Detected fields and labels for Grafana Logs Drilldown: fields found by running the `json` or
//! `logfmt` parser over a sample of the query's newest lines, with their type and cardinality;
//! labels with the number of distinct values, from the indexes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use logq_storage::{LabelSet, ScanStats, TenantId};

use crate::engine::{Direction, LogQuery, Querier};
use crate::error::QueryError;
use crate::line_labels::{sanitize, ERROR_LABEL};
use crate::logql::{parse_bytes, parse_duration_ns, parse_log_selector, LogExpr};
use crate::pipeline::Pipeline;

/// A field found in log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectedField {
    /// The field (label) name.
    pub label: String,
    /// `int`, `float`, `boolean`, `duration`, `bytes` or `string`.
    pub kind: &'static str,
    /// Distinct values seen.
    pub cardinality: usize,
    /// Parsers that produced it (`json`, `logfmt`); `None` for structured metadata (Loki's
    /// `parsers: null`).
    pub parsers: Option<Vec<&'static str>>,
    /// For a field of JSON lines: the keys leading to it (Loki 3.5's `jsonPath`).
    pub json_path: Option<Vec<String>>,
    /// The distinct values seen.
    pub values: BTreeSet<String>,
}

fn kind_of(v: &str) -> &'static str {
    if v.parse::<i64>().is_ok() {
        "int"
    } else if v.parse::<f64>().is_ok() {
        "float"
    } else if v == "true" || v == "false" {
        "boolean"
    } else if v.ends_with(|c: char| c.is_ascii_alphabetic()) && parse_duration_ns(v).is_some() {
        "duration"
    } else if v.ends_with(|c: char| c.is_ascii_alphabetic()) && parse_bytes(v).is_some() {
        "bytes"
    } else {
        "string"
    }
}

/// Fields extracted by `parser` (a `{...} | json` style expression) from `line`, if it parsed.
fn extract(parser: &mut Pipeline, stream: &LabelSet, line: &str) -> Option<Vec<(String, String)>> {
    let p = parser.process(stream, &[], 0, line)?;
    let labels = p.labels.into_labels();
    if labels.get(ERROR_LABEL).is_some() {
        return None;
    }
    let fields: Vec<(String, String)> = labels
        .pairs()
        .iter()
        .filter(|(k, _)| stream.get(k).is_none())
        .cloned()
        .collect();
    (!fields.is_empty()).then_some(fields)
}

/// The key path of every leaf field of a JSON object line, by the label name `json` gives it.
fn json_paths(line: &str) -> BTreeMap<String, Vec<String>> {
    fn walk(
        v: &serde_json::Value,
        names: &mut Vec<String>,
        keys: &mut Vec<String>,
        out: &mut BTreeMap<String, Vec<String>>,
    ) {
        let Some(obj) = v.as_object() else { return };
        for (k, child) in obj {
            names.push(sanitize(k));
            keys.push(k.clone());
            match child {
                serde_json::Value::Object(_) => walk(child, names, keys, out),
                serde_json::Value::Array(_) => {}
                _ => {
                    out.insert(names.join("_"), keys.clone());
                }
            }
            names.pop();
            keys.pop();
        }
    }
    let mut out = BTreeMap::new();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
        walk(&v, &mut Vec::new(), &mut Vec::new(), &mut out);
    }
    out
}

/// What was seen of one field.
#[derive(Default)]
struct Seen {
    /// `None` while only seen in structured metadata.
    parsers: Option<BTreeSet<&'static str>>,
    kinds: BTreeSet<&'static str>,
    values: BTreeSet<String>,
    json_path: Option<Vec<String>>,
}

/// Labels of a query's own parsers that are not fields (errors).
const NOT_FIELDS: [&str; 3] = ["__error__", "__error_details__", "__preserve_error__"];

/// Fields of the newest `line_limit` lines of `expr` in `[start, end)`, as Loki's
/// `parseDetectedFields`: structured metadata (no parser), the labels the query's own parsers
/// produced, and what `json` (else `logfmt`) finds in the line, each under its own name (the
/// query's parsed labels are not stream labels, so no `_extracted` copies appear).
pub async fn detected_fields(
    querier: &Querier,
    tenant: &TenantId,
    expr: &LogExpr,
    start: i64,
    end: i64,
    line_limit: usize,
) -> Result<Vec<DetectedField>, QueryError> {
    let q = LogQuery {
        tenant: tenant.clone(),
        expr: expr.clone(),
        start,
        end,
        limit: line_limit,
        direction: Direction::Backward,
        stats: Arc::new(ScanStats::default()),
    };
    // Categorized: stream labels apart from structured metadata and parsed labels.
    let streams = querier.select_logs_encoded(&q, true).await?;
    // Any selector works for running a parser stage over a line.
    let mut json = Pipeline::compile(&parse_log_selector(r#"{detected="x"} | json"#)?)?;
    let mut logfmt = Pipeline::compile(&parse_log_selector(r#"{detected="x"} | logfmt"#)?)?;
    let mut fields: BTreeMap<String, Seen> = BTreeMap::new();
    for s in &streams {
        for (i, e) in s.entries.iter().enumerate() {
            for (k, v) in &e.metadata {
                let slot = fields.entry(k.clone()).or_default();
                slot.kinds.insert(kind_of(v));
                slot.values.insert(v.clone());
            }
            let found = extract(&mut json, &s.labels, &e.line)
                .map(|f| ("json", f))
                .or_else(|| extract(&mut logfmt, &s.labels, &e.line).map(|f| ("logfmt", f)));
            let (parser, from_line) = match found {
                Some((p, f)) => (Some(p), f),
                None => (None, Vec::new()),
            };
            let mut parsed: BTreeMap<String, String> = s
                .parsed
                .get(i)
                .into_iter()
                .flatten()
                .filter(|(k, _)| !NOT_FIELDS.contains(&k.as_str()))
                .cloned()
                .collect();
            for (k, v) in from_line {
                parsed.entry(k).or_insert(v);
            }
            let paths = if parser == Some("json") {
                json_paths(&e.line)
            } else {
                BTreeMap::new()
            };
            for (k, v) in parsed {
                let slot = fields.entry(k.clone()).or_default();
                let set = slot.parsers.get_or_insert_with(BTreeSet::new);
                if let Some(p) = parser {
                    set.insert(p);
                }
                if slot.json_path.is_none() {
                    slot.json_path = paths.get(&k).cloned();
                }
                slot.kinds.insert(kind_of(&v));
                slot.values.insert(v);
            }
        }
    }
    Ok(fields
        .into_iter()
        .map(|(label, seen)| DetectedField {
            label,
            kind: if seen.kinds.len() == 1 {
                seen.kinds.into_iter().next().unwrap_or("string")
            } else {
                "string"
            },
            cardinality: seen.values.len(),
            parsers: seen.parsers.map(|p| p.into_iter().collect()),
            json_path: seen.json_path,
            values: seen.values,
        })
        .collect())
}

/// Stream labels of `expr`'s streams in `[start, end)` with their number of distinct values.
pub async fn detected_labels(
    querier: &Querier,
    tenant: &TenantId,
    expr: Option<&LogExpr>,
    start: i64,
    end: i64,
) -> Result<Vec<(String, usize)>, QueryError> {
    let matchers = expr.map(|e| e.matchers.as_slice()).unwrap_or(&[]);
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in querier.series(tenant, matchers, start, end).await? {
        for (k, v) in s.pairs() {
            values.entry(k.clone()).or_default().insert(v.clone());
        }
    }
    Ok(values.into_iter().map(|(k, v)| (k, v.len())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(kind_of("42"), "int");
        assert_eq!(kind_of("4.2"), "float");
        assert_eq!(kind_of("true"), "boolean");
        assert_eq!(kind_of("150ms"), "duration");
        assert_eq!(kind_of("10KB"), "bytes");
        assert_eq!(kind_of("GET"), "string");
    }

    #[test]
    fn json_paths_name_nested_fields_as_the_json_parser_does() {
        let p = json_paths(r#"{"user":{"id":"u1","first-name":"a"},"tags":[1],"n":2}"#);
        assert_eq!(p["user_id"], vec!["user".to_string(), "id".to_string()]);
        assert_eq!(
            p["user_first_name"],
            vec!["user".to_string(), "first-name".to_string()]
        );
        assert_eq!(p["n"], vec!["n".to_string()]);
        assert!(!p.contains_key("tags"));
        assert!(json_paths("not json").is_empty());
    }
}
