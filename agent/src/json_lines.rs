//! JSON lines: one JSON object per line, mapped to an entry by storage's one rule for JSON logs
//! (`logq_storage::json_line`: the line from `message`, `msg`, `log`, `line`; the time from
//! `timestamp`, `@timestamp`, `time`, `ts`, ...; epoch numbers by magnitude, text timestamps by
//! [`crate::parse_timestamp`]). Without a line field the whole object is the line. Chosen keys
//! become labels, the other fields structured metadata (nested values as JSON text). A line that
//! is not a JSON object stays as it is.

use chrono::NaiveDateTime;
use logq_storage::json_line::{split_json_line, value_text};
use serde_json::{Map, Value};

use crate::timestamp::parse_timestamp;

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

/// Maps one line; `None` when it is not a JSON object. `label_keys` name the fields that
/// become labels; `now` (local wall clock) helps year-less textual timestamps.
pub fn map_json_line(text: &str, label_keys: &[String], now: NaiveDateTime) -> Option<JsonMapped> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        return None;
    }
    let obj: Map<String, Value> = serde_json::from_str(trimmed).ok()?;
    let split = split_json_line(obj, |s| {
        parse_timestamp(s.as_bytes(), now).and_then(|p| p.unix_nanos())
    });
    let whole_object_is_line = split.line.is_none();
    let mut out = JsonMapped {
        ts: split.ts,
        line: split.line.unwrap_or_else(|| trimmed.trim_end().to_string()),
        ..JsonMapped::default()
    };
    for (k, v) in &split.fields {
        if label_keys.iter().any(|l| l == k) {
            out.labels.push((k.clone(), value_text(v)));
        } else if !whole_object_is_line {
            out.metadata.push((k.clone(), value_text(v)));
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
