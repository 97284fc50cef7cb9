//! JSON bodies in Loki's shapes (field order matters to some clients: `status`, then `data`
//! with `resultType` before `result`).

use logq_querier::{Direction, Series, StreamResult};
use logq_storage::ScanStats;
use serde_json::{json, Map, Value};

/// `{"status":"success","data":[...]}` for labels, label values and series.
pub fn success_data(data: Value) -> Value {
    json!({"status": "success", "data": data})
}

/// Adds Loki's top-level `warnings` (what the answer may lack) to a success body; the field is
/// left out when there is none, as Loki does.
pub fn with_warnings(mut body: Value, warnings: Vec<String>) -> Value {
    if let (false, Some(obj)) = (warnings.is_empty(), body.as_object_mut()) {
        obj.insert("warnings".into(), json!(warnings));
    }
    body
}

fn labels_object(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<_, _>>(),
    )
}

/// A `streams` result. With `categorize` every value has a third element holding structured
/// metadata (Loki's `categorize-labels` encoding flag).
pub fn streams_body(streams: &[StreamResult], categorize: bool, stats: Value) -> Value {
    let result: Vec<Value> = streams
        .iter()
        .map(|s| {
            let values: Vec<Value> = s
                .entries
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    if categorize {
                        let mut third = Map::new();
                        if !e.metadata.is_empty() {
                            third.insert("structuredMetadata".into(), labels_object(&e.metadata));
                        }
                        if let Some(parsed) = s.parsed.get(i).filter(|p| !p.is_empty()) {
                            third.insert("parsed".into(), labels_object(parsed));
                        }
                        json!([e.ts.to_string(), e.line, Value::Object(third)])
                    } else {
                        json!([e.ts.to_string(), e.line])
                    }
                })
                .collect();
            json!({"stream": labels_object(s.labels.pairs()), "values": values})
        })
        .collect();
    let mut data = Map::new();
    data.insert("resultType".into(), "streams".into());
    if categorize {
        data.insert("encodingFlags".into(), json!(["categorize-labels"]));
    }
    data.insert("result".into(), Value::Array(result));
    data.insert("stats".into(), stats);
    json!({"status": "success", "data": Value::Object(data)})
}

/// Query statistics in the shape Grafana reads (`summary`): what the query examined.
pub fn stats(scanned: &ScanStats, returned: usize, exec_secs: f64) -> Value {
    let (lines, bytes) = scanned.snapshot();
    let per_sec = |n: u64| {
        if exec_secs > 0.0 {
            (n as f64 / exec_secs) as u64
        } else {
            0
        }
    };
    json!({"summary": {
        "bytesProcessedPerSecond": per_sec(bytes),
        "linesProcessedPerSecond": per_sec(lines),
        "totalBytesProcessed": bytes,
        "totalLinesProcessed": lines,
        "execTime": exec_secs,
        "totalEntriesReturned": returned,
        "historyIndexesUsed": scanned.history_indexes_used(),
    }})
}

/// A sample value as Prometheus and Loki print it.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// A sample timestamp as Loki writes it: Unix milliseconds (Loki's metric results carry
/// millisecond precision) as a JSON number of seconds, integral when it is.
pub fn seconds(ts: i64) -> Value {
    let ms = ts.div_euclid(1_000_000);
    if ms % 1000 == 0 {
        json!(ms / 1000)
    } else {
        json!(ms as f64 / 1000.0)
    }
}

fn envelope(result_type: &str, result: Value, stats: Value) -> Value {
    json!({"status": "success", "data": {"resultType": result_type, "result": result, "stats": stats}})
}

/// A `matrix` result.
pub fn matrix_body(series: &[Series], stats: Value) -> Value {
    let result: Vec<Value> = series
        .iter()
        .map(|s| {
            let values: Vec<Value> = s
                .points
                .iter()
                .map(|(t, v)| json!([seconds(*t), format_value(*v)]))
                .collect();
            json!({"metric": labels_object(s.labels.pairs()), "values": values})
        })
        .collect();
    envelope("matrix", Value::Array(result), stats)
}

/// A `vector` result at `time` (each series' single point).
pub fn vector_body(series: &[Series], time: i64, stats: Value) -> Value {
    let result: Vec<Value> = series
        .iter()
        .filter_map(|s| s.points.last().map(|(_, v)| (s, *v)))
        .map(|(s, v)| json!({"metric": labels_object(s.labels.pairs()), "value": [seconds(time), format_value(v)]}))
        .collect();
    envelope("vector", Value::Array(result), stats)
}

/// A `scalar` result.
pub fn scalar_body(v: f64, time: i64, stats: Value) -> Value {
    envelope("scalar", json!([seconds(time), format_value(v)]), stats)
}

/// Parses `direction` (case-insensitive; default backward).
pub fn parse_direction(v: Option<&str>) -> Result<Direction, String> {
    match v.map(str::to_ascii_lowercase).as_deref() {
        None | Some("backward") => Ok(Direction::Backward),
        Some("forward") => Ok(Direction::Forward),
        Some(other) => Err(format!(
            "invalid direction {other:?}: must be forward or backward"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logq_storage::{Entry, LabelSet};

    #[test]
    fn field_order_is_lokis() {
        let s = StreamResult {
            labels: LabelSet::parse("{app=\"x\"}").unwrap(),
            entries: vec![Entry {
                ts: 5,
                id: 1,
                line: "l".into(),
                metadata: vec![("trace_id".into(), "t".into())],
            }],
            parsed: vec![vec![("level".into(), "info".into())]],
        };
        let text = streams_body(std::slice::from_ref(&s), true, json!({})).to_string();
        let pos = |k: &str| text.find(k).unwrap_or_else(|| panic!("{k} missing in {text}"));
        assert!(pos("\"status\"") < pos("\"data\""), "{text}");
        assert!(pos("\"resultType\"") < pos("\"encodingFlags\""), "{text}");
        assert!(pos("\"encodingFlags\"") < pos("\"result\":"), "{text}");
        assert!(
            text.contains(r#"["5","l",{"structuredMetadata":{"trace_id":"t"},"parsed":{"level":"info"}}]"#),
            "{text}"
        );
        let plain = streams_body(&[s], false, json!({})).to_string();
        assert!(plain.contains(r#""values":[["5","l"]]"#), "{plain}");
    }

    #[test]
    fn metric_shapes() {
        let s = Series {
            labels: LabelSet::parse("{level=\"info\"}").unwrap(),
            points: vec![
                (1_588_889_221_000_000_000, 137.95),
                (1_588_889_221_500_000_000, 1.0),
            ],
        };
        let m = matrix_body(std::slice::from_ref(&s), json!({})).to_string();
        assert!(m.contains(r#""resultType":"matrix","result":[{"metric":{"level":"info"},"values":[[1588889221,"137.95"],[1588889221.5,"1"]]}]"#), "{m}");
        let v = vector_body(&[s], 4_000_000_000_000_000_000, json!({})).to_string();
        assert!(v.contains(r#""value":[4000000000,"1"]"#), "{v}");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(0.1 + 0.2), "0.30000000000000004");
    }
}
