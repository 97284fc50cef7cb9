//! JSON lines: one JSON object per line, mapped to an entry. The timestamp comes from the first
//! of `ts`, `time`, `timestamp`, `@timestamp` (epoch seconds, millis, micros or nanos by
//! magnitude, or any text [`crate::parse_timestamp`] knows), the line from the first of `msg`,
//! `message`, `log`, `line` (else the whole object), chosen keys become labels, and the other
//! fields structured metadata (nested values as JSON text). A key that appears twice keeps its
//! first value (duplicate fields are dropped). A line that is not a JSON object stays as it is.

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use crate::timestamp::parse_timestamp;

const TS_KEYS: [&str; 4] = ["ts", "time", "timestamp", "@timestamp"];
const LINE_KEYS: [&str; 4] = ["msg", "message", "log", "line"];

/// What a JSON line maps to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JsonMapped {
    /// Unix ns, when the object had a recognisable timestamp.
    pub ts: Option<i64>,
    /// The entry text.
    pub line: String,
    /// Fields promoted to stream labels.
    pub labels: Vec<(String, String)>,
    /// The remaining fields.
    pub metadata: Vec<(String, String)>,
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn epoch_ns(n: f64) -> Option<i64> {
    let ns = if n < 1e11 {
        n * 1e9
    } else if n < 1e14 {
        n * 1e6
    } else if n < 1e17 {
        n * 1e3
    } else {
        n
    };
    (ns.is_finite() && ns > 0.0 && ns < 9.2e18).then_some(ns as i64)
}

/// Maps one line; `None` when it is not a JSON object. `label_keys` name the fields that
/// become labels; `now` (local wall clock) helps year-less textual timestamps.
pub fn map_json_line(text: &str, label_keys: &[String], now: NaiveDateTime) -> Option<JsonMapped> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        return None;
    }
    let obj: Map<String, Value> = serde_json::from_str(trimmed).ok()?;
    let mut out = JsonMapped::default();
    let mut used: Vec<&str> = Vec::new();
    for k in TS_KEYS {
        let Some(v) = obj.get(k) else { continue };
        out.ts = match v {
            Value::Number(n) => match n.as_i64() {
                // Integers exactly (floats lose nanoseconds at this magnitude).
                Some(i) if i > 0 => Some(if i < 100_000_000_000 {
                    i.saturating_mul(1_000_000_000)
                } else if i < 100_000_000_000_000 {
                    i.saturating_mul(1_000_000)
                } else if i < 100_000_000_000_000_000 {
                    i.saturating_mul(1_000)
                } else {
                    i
                }),
                _ => n.as_f64().and_then(epoch_ns),
            },
            Value::String(s) => parse_timestamp(s.as_bytes(), now).and_then(|p| p.unix_nanos()),
            _ => None,
        };
        if out.ts.is_some() {
            used.push(k);
            break;
        }
    }
    match LINE_KEYS.iter().find(|k| obj.get(**k).is_some()) {
        Some(k) => {
            out.line = obj.get(*k).map(text_of).unwrap_or_default();
            used.push(k);
        }
        None => out.line = trimmed.trim_end().to_string(),
    }
    let whole_object_is_line = !LINE_KEYS.iter().any(|k| obj.contains_key(*k));
    for (k, v) in &obj {
        if used.contains(&k.as_str()) {
            continue;
        }
        if label_keys.iter().any(|l| l == k) {
            if !out.labels.iter().any(|(n, _)| n == k) {
                out.labels.push((k.clone(), text_of(v)));
            }
        } else if !whole_object_is_line && !out.metadata.iter().any(|(n, _)| n == k) {
            out.metadata.push((k.clone(), text_of(v)));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 25)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
    }

    #[test]
    fn maps_fields() {
        let m = map_json_line(
            r#"{"ts": 1700000000.5, "level": "warn", "msg": "disk full", "req": {"id": 7}, "app": "api"}"#,
            &["app".to_string()],
            now(),
        )
        .unwrap();
        assert_eq!(m.ts, Some(1_700_000_000_500_000_000));
        assert_eq!(m.line, "disk full");
        assert_eq!(m.labels, vec![("app".to_string(), "api".to_string())]);
        assert_eq!(
            m.metadata,
            vec![
                ("level".to_string(), "warn".to_string()),
                ("req".to_string(), r#"{"id":7}"#.to_string())
            ]
        );
        let m = map_json_line(r#"{"time": "2024-01-02T03:04:05Z", "x": 1}"#, &[], now()).unwrap();
        assert_eq!(m.ts, Some(1_704_164_645_000_000_000));
        assert_eq!(m.line, r#"{"time": "2024-01-02T03:04:05Z", "x": 1}"#);
        assert!(m.metadata.is_empty());
        let m = map_json_line(r#"{"ts": 1700000000123, "message": 5}"#, &[], now()).unwrap();
        assert_eq!((m.ts, m.line.as_str()), (Some(1_700_000_000_123_000_000), "5"));
        assert_eq!(map_json_line("plain text", &[], now()), None);
        assert_eq!(map_json_line("{broken", &[], now()), None);
    }
}
