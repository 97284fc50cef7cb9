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
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = &rest[..key_end];
        rest = &rest[key_end..];
        let value = if let Some(r) = rest.strip_prefix('=') {
            if let Some(q) = r.strip_prefix('"') {
                match unquote_logfmt(q) {
                    Some((v, after)) => {
                        rest = after;
                        v
                    }
                    None => {
                        // Malformed: strict mode reports it, otherwise keep what was parsed.
                        if stage.strict {
                            labels.set_error(
                                "LogfmtParserErr",
                                format!("unterminated quoted value for key {key:?}"),
                            );
                        }
                        return;
                    }
                }
            } else {
                let end = r.find(char::is_whitespace).unwrap_or(r.len());
                rest = &r[end..];
                r[..end].to_string()
            }
        } else {
            String::new()
        };
        if key.is_empty() && stage.strict {
            labels.set_error("LogfmtParserErr", "unexpected '=' without a key".into());
            return;
        }
        if !key.is_empty() && (!value.is_empty() || keep_empty) {
            if let Some(name) = wanted(key) {
                labels.add_extracted(name, value);
            }
        }
        rest = rest.trim_start();
    }
}

/// Reads a quoted logfmt value (after the opening quote); returns it and the rest.
fn unquote_logfmt(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}
