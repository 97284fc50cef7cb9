//! Loki 3's ingest-time label discovery, off unless configured: `service_name` on streams
//! (Loki's `discover_service_name` limit) and `detected_level` structured metadata on entries
//! (`discover_log_levels`), applied to accepted pushes before they are stored, as Loki's
//! distributor does (`parseStreamLabels`, `FieldDetector.extractLogLevel`).
//!
//! Loki enables both by default; logq does not, because they change the labels of every
//! stream and every metric series (see `serve --discover-service-name`).

use logq_storage::{LabelSet, PushBatch};

/// The `service_name` label.
pub const SERVICE_NAME: &str = "service_name";
/// The value when no discovery label is present (Loki's `ServiceUnknown`).
pub const UNKNOWN_SERVICE: &str = "unknown_service";
/// The structured metadata name of detected levels (Loki's `constants.LevelLabel`).
pub const DETECTED_LEVEL: &str = "detected_level";
/// Loki 3's default `discover_service_name` list.
pub const LOKI_SERVICE_NAME_LABELS: &[&str] = &[
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
];

/// Fields that carry a level (Loki's `defaultAllowedLevelFields`), in order of preference.
pub(crate) const LEVEL_FIELDS: &[&str] = &[
    "level",
    "LEVEL",
    "Level",
    "log.level",
    "severity",
    "SEVERITY",
    "Severity",
    "SeverityText",
    "lvl",
    "LVL",
    "Lvl",
];

/// How deep JSON lines are searched for a level field (Loki's default
/// `log_level_from_json_max_depth`).
const JSON_LEVEL_DEPTH: usize = 2;

/// What to discover at ingest.
#[derive(Debug, Clone, Default)]
pub struct IngestDefaults {
    /// Labels looked up, in order, for `service_name` (empty: no discovery).
    pub service_name_labels: Vec<String>,
    /// Whether entries get `detected_level` structured metadata.
    pub discover_log_levels: bool,
}

impl IngestDefaults {
    /// Adds `service_name` to streams without it and `detected_level` to entries without it.
    pub fn apply(&self, batch: &mut PushBatch) {
        if self.service_name_labels.is_empty() && !self.discover_log_levels {
            return;
        }
        for stream in &mut batch.streams {
            if !self.service_name_labels.is_empty() && stream.labels.get(SERVICE_NAME).is_none() {
                let service = self
                    .service_name_labels
                    .iter()
                    .find_map(|l| stream.labels.get(l))
                    .unwrap_or(UNKNOWN_SERVICE)
                    .to_string();
                let mut pairs = stream.labels.pairs().to_vec();
                pairs.push((SERVICE_NAME.to_string(), service));
                stream.labels = LabelSet::from_pairs(pairs);
            }
            if !self.discover_log_levels {
                continue;
            }
            for e in &mut stream.entries {
                if e.metadata.iter().any(|(k, _)| k == DETECTED_LEVEL) {
                    continue;
                }
                let level = level_of(&stream.labels, &e.metadata, &e.line);
                e.metadata.push((DETECTED_LEVEL.to_string(), level));
            }
        }
    }
}

/// Loki's `extractLogLevel`: a level field among the stream labels, else among the structured
/// metadata (both verbatim), else detected from the line.
pub(crate) fn level_of(labels: &LabelSet, metadata: &[(String, String)], line: &str) -> String {
    if let Some(v) = LEVEL_FIELDS.iter().find_map(|f| labels.get(f)) {
        return v.to_string();
    }
    if let Some(v) = LEVEL_FIELDS
        .iter()
        .find_map(|f| metadata.iter().find(|(k, _)| k == f).map(|(_, v)| v))
    {
        return v.clone();
    }
    if let Some(n) = metadata.iter().find(|(k, _)| k == "severity_number") {
        return otlp_level(&n.1).to_string();
    }
    level_from_line(line).to_string()
}

/// Loki's mapping of OTLP severity numbers.
fn otlp_level(n: &str) -> &'static str {
    match n.parse::<i64>() {
        Err(_) => "info",
        Ok(0) => "unknown",
        Ok(1..=4) => "trace",
        Ok(5..=8) => "debug",
        Ok(9..=12) => "info",
        Ok(13..=16) => "warn",
        Ok(17..=20) => "error",
        Ok(21..=24) => "fatal",
        Ok(_) => "unknown",
    }
}

/// Loki's `extractLogLevelFromLogLine`: the level field of a JSON object or logfmt line,
/// normalised; otherwise words in the line.
fn level_from_line(line: &str) -> &'static str {
    let trimmed = line.trim();
    let value = if trimmed.starts_with('{') && trimmed.ends_with('}') {
        serde_json::from_str::<serde_json::Value>(trimmed)
            .ok()
            .and_then(|v| json_level(&v, 0).map(str::to_string))
    } else if line.contains('=') {
        logfmt_level(line)
    } else {
        return words_level(line);
    };
    let v = value.unwrap_or_default().to_ascii_lowercase();
    match v.as_str() {
        "trace" | "trc" => "trace",
        "debug" | "dbg" => "debug",
        "info" | "inf" => "info",
        "warn" | "wrn" | "warning" => "warn",
        "error" | "err" => "error",
        "critical" => "critical",
        "fatal" => "fatal",
        _ => words_level(line),
    }
}

/// The first string field named like a level, depth first, at most [`JSON_LEVEL_DEPTH`]
/// objects deep (Loki's `getLevelUsingJSONParser`).
fn json_level(v: &serde_json::Value, depth: usize) -> Option<&str> {
    if depth >= JSON_LEVEL_DEPTH {
        return None;
    }
    let serde_json::Value::Object(map) = v else {
        return None;
    };
    for (k, v) in map {
        match v {
            serde_json::Value::String(s) if LEVEL_FIELDS.contains(&k.as_str()) => return Some(s),
            serde_json::Value::Object(_) => {
                if let Some(found) = json_level(v, depth + 1) {
                    return Some(found);
                }
            }
            _ => {}
        }
    }
    None
}

/// The value of the most preferred level key of a logfmt line (keys compared ignoring case).
fn logfmt_level(line: &str) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for (key, value) in logq_storage::logfmt::pairs(line).filter_map(Result::ok) {
        if let Some(pos) = LEVEL_FIELDS.iter().position(|f| f.eq_ignore_ascii_case(key)) {
            if best.as_ref().is_none_or(|(p, _)| pos < *p) {
                best = Some((pos, value.into_owned()));
            }
        }
    }
    best.map(|(_, v)| v)
}

/// Loki's `detectLevelFromLogLine`: words anywhere in the line, in this order.
fn words_level(line: &str) -> &'static str {
    let any = |words: &[&str]| words.iter().any(|w| line.contains(w));
    if any(&["info", "INFO"]) {
        "info"
    } else if any(&["err", "ERR", "error", "ERROR"]) {
        "error"
    } else if any(&["warn", "WARN", "warning", "WARNING"]) {
        "warn"
    } else if any(&["CRITICAL", "critical"]) {
        "critical"
    } else if any(&["debug", "DEBUG"]) {
        "debug"
    } else {
        "unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logq_storage::{Entry, StreamEntries, TenantId};

    fn batch(labels: &str, lines: &[&str]) -> PushBatch {
        PushBatch {
            tenant: TenantId::new("t").unwrap(),
            streams: vec![StreamEntries {
                labels: LabelSet::parse(labels).unwrap(),
                entries: lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| Entry {
                        ts: i as i64,
                        id: i as u64,
                        line: l.to_string(),
                        metadata: Vec::new(),
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn off_by_default() {
        let mut b = batch("{app=\"a\"}", &["level=info"]);
        let before = b.clone();
        IngestDefaults::default().apply(&mut b);
        assert_eq!(b, before);
    }

    #[test]
    fn service_name_from_the_first_discovery_label() {
        let loki = IngestDefaults {
            service_name_labels: LOKI_SERVICE_NAME_LABELS.iter().map(|s| s.to_string()).collect(),
            discover_log_levels: false,
        };
        let mut b = batch("{job=\"j\", app=\"a\"}", &["x"]);
        loki.apply(&mut b);
        assert_eq!(b.streams[0].labels.get(SERVICE_NAME), Some("a"));
        let mut b = batch("{host=\"h\"}", &["x"]);
        loki.apply(&mut b);
        assert_eq!(b.streams[0].labels.get(SERVICE_NAME), Some(UNKNOWN_SERVICE));
        let mut b = batch("{service_name=\"s\", app=\"a\"}", &["x"]);
        loki.apply(&mut b);
        assert_eq!(b.streams[0].labels.get(SERVICE_NAME), Some("s"));
    }

    #[test]
    fn detected_level_as_lokis_field_detection() {
        let levels = IngestDefaults {
            service_name_labels: Vec::new(),
            discover_log_levels: true,
        };
        let mut b = batch(
            "{app=\"a\"}",
            &[
                r#"{"msg":"x","level":"WARNING"}"#,
                r#"{"log":{"severity":"dbg"}}"#,
                "ts=1 lvl=ERR msg=\"boom\"",
                "GET / 200 took 3ms",
                "something failed: error",
                "level=verbose but INFO inside",
                "nothing here",
            ],
        );
        levels.apply(&mut b);
        let got: Vec<&str> = b.streams[0]
            .entries
            .iter()
            .map(|e| {
                e.metadata
                    .iter()
                    .find(|(k, _)| k == DETECTED_LEVEL)
                    .unwrap()
                    .1
                    .as_str()
            })
            .collect();
        assert_eq!(
            got,
            ["warn", "debug", "error", "unknown", "error", "info", "unknown"]
        );
        // A level stream label is taken verbatim.
        let mut b = batch("{app=\"a\", level=\"INFO\"}", &["error"]);
        levels.apply(&mut b);
        assert_eq!(
            b.streams[0].entries[0].metadata,
            [(DETECTED_LEVEL.to_string(), "INFO".to_string())]
        );
    }
}
