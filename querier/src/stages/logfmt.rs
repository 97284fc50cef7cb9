//! `| logfmt` (with `--strict`, `--keep-empty`, or `label="key", ...`): `key=value` pairs
//! become labels, as Loki's logfmt parsers read them.

use super::{LabelUse, LineStage, Step};
use crate::line_labels::{sanitize, LineLabels};
use crate::logql::ParserStage;

/// The `logfmt` stage.
pub(crate) struct Logfmt {
    stage: ParserStage,
}

impl Logfmt {
    pub(crate) fn new(stage: &ParserStage) -> Self {
        Logfmt { stage: stage.clone() }
    }
}

impl LineStage for Logfmt {
    fn process(&mut self, _ts: i64, line: &str, labels: &mut LineLabels<'_>) -> Step {
        parse_logfmt(&self.stage, line, labels);
        Step::Keep
    }

    fn label_use(&self) -> LabelUse {
        LabelUse::Extracts
    }
}

fn parse_logfmt(stage: &ParserStage, line: &str, labels: &mut LineLabels<'_>) {
    let wanted = |key: &str| -> Option<String> {
        if stage.params.is_empty() {
            return Some(sanitize(key));
        }
        stage
            .params
            .iter()
            .find(|(_, k)| k == key)
            .map(|(label, _)| label.clone())
    };
    // Loki's `LogfmtExpressionParser` first sets every requested label (not a stream label)
    // to "", then sets the values found, empty ones included.
    for (label, _) in &stage.params {
        if labels.stream().get(label).is_none() {
            labels.set(label.clone(), String::new());
        }
    }
    let keep_empty = stage.keep_empty || !stage.params.is_empty();
    for pair in logq_storage::logfmt::pairs(line) {
        match pair {
            Ok((key, value)) => {
                if !value.is_empty() || keep_empty {
                    if let Some(name) = wanted(key) {
                        labels.add_extracted(name, value.into_owned());
                    }
                }
            }
            // Malformed: strict mode reports it; otherwise a pair without a key is skipped and
            // an unterminated quote ends the scan (the scanner stops there).
            Err(e) if stage.strict => {
                labels.set_error("LogfmtParserErr", e.to_string());
                return;
            }
            Err(_) => {}
        }
    }
}
