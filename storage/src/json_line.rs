//! "A JSON object is a log line": which field holds the line, which the timestamp, and how a
//! JSON timestamp reads. One rule for every reader of JSON logs (the agent's `--json` lines and
//! third-party Kafka records), so the same object gives the same entry wherever it arrives.
//!
//! Precedence (first field present wins): line from [`LINE_FIELDS`] (`message`, `msg`, `log`,
//! `line`, `MESSAGE`), time from [`TIME_FIELDS`] (`timestamp`, `@timestamp`, `time`, `ts`,
//! `date`, `timereported`). Only the first time field present is read: when it cannot be read it
//! stays among the other fields. Numbers (and strings of digits) are epoch seconds, milliseconds,
//! microseconds or nanoseconds told apart by magnitude; other strings go to the caller's text
//! parser. Which of the remaining fields become labels or metadata is the caller's policy.

use serde_json::{Map, Value};

/// Fields that hold the line, in order of preference.
pub const LINE_FIELDS: [&str; 5] = ["message", "msg", "log", "line", "MESSAGE"];
/// Fields that hold the timestamp, in order of preference.
pub const TIME_FIELDS: [&str; 6] = ["timestamp", "@timestamp", "time", "ts", "date", "timereported"];

/// A JSON log object taken apart.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonLine {
    /// The line (string values as they are, others as JSON text); `None` without a line field.
    pub line: Option<String>,
    /// The timestamp in Unix ns, when the first time field present could be read.
    pub ts: Option<i64>,
    /// Every other field (an unreadable time field included), in the object's order.
    pub fields: Map<String, Value>,
}

/// Takes the line and time fields out of `obj`; `text_time` reads timestamps written as text
/// (RFC 3339 at least) into Unix ns.
pub fn split_json_line(mut obj: Map<String, Value>, text_time: impl Fn(&str) -> Option<i64>) -> JsonLine {
    let line = LINE_FIELDS
        .iter()
        .find_map(|f| obj.shift_remove(*f))
        .map(|v| value_text(&v));
    let mut ts = None;
    if let Some(field) = TIME_FIELDS.iter().find(|f| obj.contains_key(**f)) {
        ts = obj.get(*field).and_then(|v| json_time(v, &text_time));
        if ts.is_some() {
            obj.shift_remove(*field);
        }
    }
    JsonLine {
        line,
        ts,
        fields: obj,
    }
}

/// A value as text: strings as they are, anything else as JSON.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A JSON timestamp in Unix ns: a number (or a string of one) of seconds, milliseconds,
/// microseconds or nanoseconds by magnitude, or text `text_time` reads.
pub fn json_time(v: &Value, text_time: impl Fn(&str) -> Option<i64>) -> Option<i64> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) => epoch_ns(i as f64, i),
            None => n.as_f64().and_then(|f| epoch_ns(f, f as i64)),
        },
        Value::String(s) => {
            if let Ok(i) = s.parse::<i64>() {
                return epoch_ns(i as f64, i);
            }
            if let Ok(f) = s.parse::<f64>() {
                return epoch_ns(f, f as i64);
            }
            text_time(s)
        }
        _ => None,
    }
}

/// Epoch `f` (`i` when it is whole) in seconds, ms, µs or ns by magnitude, as ns; integers
/// exactly, float seconds to the microsecond (what a double holds at today's epoch).
fn epoch_ns(f: f64, i: i64) -> Option<i64> {
    if !f.is_finite() || f <= 0.0 {
        return None;
    }
    Some(if f < 1e11 {
        let secs = f.trunc();
        (secs as i64)
            .saturating_mul(1_000_000_000)
            .saturating_add(((f - secs) * 1e6).round() as i64 * 1_000)
    } else if f < 1e14 {
        i.saturating_mul(1_000_000)
    } else if f < 1e17 {
        i.saturating_mul(1_000)
    } else {
        i
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> JsonLine {
        split_json_line(serde_json::from_str(text).unwrap(), |s| {
            (s == "2024-01-02T03:04:05Z").then_some(1_704_164_645_000_000_000)
        })
    }

    #[test]
    fn the_one_precedence() {
        let j = split(r#"{"line":"l","msg":"m","message":"first","ts":1,"timestamp":1700000000.5,"x":1}"#);
        assert_eq!(j.line.as_deref(), Some("first"));
        assert_eq!(j.ts, Some(1_700_000_000_500_000_000));
        let rest: Vec<&str> = j.fields.keys().map(String::as_str).collect();
        assert_eq!(rest, ["line", "msg", "ts", "x"]);
        let j = split(r#"{"log":5,"time":"2024-01-02T03:04:05Z"}"#);
        assert_eq!(
            (j.line.as_deref(), j.ts),
            (Some("5"), Some(1_704_164_645_000_000_000))
        );
        // Only the first time field present counts; unreadable, it stays a field.
        let j = split(r#"{"timestamp":"May  1 10:00:00","ts":1700000000}"#);
        assert_eq!((j.line, j.ts), (None, None));
        assert!(j.fields.contains_key("timestamp"));
    }

    #[test]
    fn epochs_by_magnitude() {
        let t = |v: Value| json_time(&v, |_| None);
        assert_eq!(t(1_700_000_000.into()), Some(1_700_000_000_000_000_000));
        assert_eq!(t(1_700_000_000_123i64.into()), Some(1_700_000_000_123_000_000));
        assert_eq!(
            t(1_700_000_000_123_456i64.into()),
            Some(1_700_000_000_123_456_000)
        );
        assert_eq!(
            t(1_700_000_000_123_456_789i64.into()),
            Some(1_700_000_000_123_456_789)
        );
        assert_eq!(t("1700000000".into()), Some(1_700_000_000_000_000_000));
        assert_eq!(t(Value::from(-5)), None);
        assert_eq!(t(Value::Null), None);
    }
}
