//! Detected fields and labels for Grafana Logs Drilldown: fields found by running the `json` or
//! `logfmt` parser over a sample of the query's newest lines, with their type and cardinality;
//! labels with the number of distinct values, from the indexes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use logq_storage::{LabelSet, ScanStats, TenantId};

use crate::engine::{Direction, LogQuery, Querier};
use crate::error::QueryError;
use crate::line_labels::ERROR_LABEL;
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
    /// Parsers that produced it (`json`, `logfmt`).
    pub parsers: Vec<&'static str>,
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

/// What was seen of one field: parsers, value kinds, values.
type Seen = (BTreeSet<&'static str>, BTreeSet<&'static str>, BTreeSet<String>);

/// Fields of the newest `line_limit` lines of `expr` in `[start, end)`.
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
    let streams = querier.select_logs(&q).await?;
    // Any selector works for running a parser stage over a line.
    let mut json = Pipeline::compile(&parse_log_selector(r#"{detected="x"} | json"#)?)?;
    let mut logfmt = Pipeline::compile(&parse_log_selector(r#"{detected="x"} | logfmt"#)?)?;
    let mut fields: BTreeMap<String, Seen> = BTreeMap::new();
    for s in &streams {
        for e in &s.entries {
            let found = extract(&mut json, &s.labels, &e.line)
                .map(|f| ("json", f))
                .or_else(|| extract(&mut logfmt, &s.labels, &e.line).map(|f| ("logfmt", f)));
            let Some((parser, pairs)) = found else { continue };
            for (k, v) in pairs {
                let slot = fields.entry(k).or_default();
                slot.0.insert(parser);
                slot.1.insert(kind_of(&v));
                slot.2.insert(v);
            }
        }
    }
    Ok(fields
        .into_iter()
        .map(|(label, (parsers, kinds, values))| DetectedField {
            label,
            kind: if kinds.len() == 1 {
                kinds.into_iter().next().unwrap_or("string")
            } else {
                "string"
            },
            cardinality: values.len(),
            parsers: parsers.into_iter().collect(),
            values,
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
}
