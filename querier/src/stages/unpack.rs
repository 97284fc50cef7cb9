//! `| unpack`: every string field of a JSON object becomes a label, and `_entry` the line (the
//! inverse of Promtail's `pack`); a line that is not a JSON object is marked `JSONParserErr`.

use super::json::JSON_NOT_OBJECT;
use super::{LabelUse, LineStage, Step};
use crate::line_labels::{sanitize, LineLabels};

/// The `unpack` stage.
pub(crate) struct Unpack;

impl LineStage for Unpack {
    fn process(&mut self, _ts: i64, line: &str, labels: &mut LineLabels<'_>) -> Step {
        match unpack(line, labels) {
            Some(entry) => Step::Rewrite(entry),
            None => Step::Keep,
        }
    }

    fn label_use(&self) -> LabelUse {
        LabelUse::Extracts
    }
}

/// `unpack`: every string field of a JSON object becomes a label, and `_entry` the line.
fn unpack(line: &str, labels: &mut LineLabels<'_>) -> Option<String> {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line) {
        Ok(map) => {
            let mut entry = None;
            for (k, v) in map {
                if let serde_json::Value::String(s) = v {
                    if k == "_entry" {
                        entry = Some(s);
                    } else {
                        labels.add_extracted(sanitize(&k), s);
                    }
                }
            }
            entry
        }
        Err(_) => {
            // Loki's unpack: `errUnexpectedJSONObject` when the line is not an object.
            let details = if line.starts_with('{') {
                JSON_NOT_OBJECT
            } else {
                "expecting json object(6), but it is not"
            };
            labels.set_error("JSONParserErr", details.into());
            None
        }
    }
}
