//! `| json` and `| json a="path", ...`: JSON fields become labels, as Loki's JSON parsers
//! extract them (every scalar field, nested keys joined with `_`, numbers as written; or only
//! the given paths, a missing one ""). A line that is not a JSON object is marked
//! `JSONParserErr`; fields read before a syntax error are kept.

use super::{LabelUse, LineStage, Step};
use crate::line_labels::{map_label_chars, sanitize, LineLabels};
use crate::logql::{json_path, ParserStage};

/// `__error_details__` of a line the JSON parser cannot read (buger/jsonparser's
/// `MalformedObjectError`, which Loki reports).
pub(crate) const JSON_NOT_OBJECT: &str = "Value looks like object, but can't find closing '}' symbol";

/// The `json` stage.
pub(crate) struct Json {
    stage: ParserStage,
}

impl Json {
    pub(crate) fn new(stage: &ParserStage) -> Self {
        Json { stage: stage.clone() }
    }
}

impl LineStage for Json {
    fn process(&mut self, _ts: i64, line: &str, labels: &mut LineLabels<'_>) -> Step {
        parse_json(&self.stage, line, labels);
        Step::Keep
    }

    fn label_use(&self) -> LabelUse {
        LabelUse::Extracts
    }
}

fn parse_json(stage: &ParserStage, line: &str, labels: &mut LineLabels<'_>) {
    if stage.params.is_empty() {
        // Loki's parser (buger/jsonparser `ObjectEach`) walks the object field by field:
        // numbers keep their text, fields before a syntax error are kept, and text after the
        // closing brace is not looked at.
        let mut scan = JsonScan {
            b: line.as_bytes(),
            line,
            i: 0,
        };
        if scan.object("", labels).is_none() {
            labels.set_error("JSONParserErr", JSON_NOT_OBJECT.into());
        }
        return;
    }
    // Loki's JSONExpressionParser: an empty line passes; a line that cannot start JSON is an
    // error without details.
    match line.as_bytes().first() {
        None => return,
        Some(b'"' | b'{' | b'[') => {}
        Some(_) => {
            labels.set_error_kind("JSONParserErr");
            return;
        }
    }
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(_)) => {
            for (label, expr) in &stage.params {
                let Ok(path) = json_path(expr) else { continue };
                // Values as written in the line (`1.50` stays `1.50`); null is "".
                match crate::json_path::value_at(line, &path) {
                    Some(text) => labels.add_extracted(label.clone(), text),
                    // Loki sets every label not found to "" after the walk.
                    None if labels.get(label).is_some() => {}
                    None => labels.set(label.clone(), String::new()),
                }
            }
        }
        _ => labels.set_error("JSONParserErr", JSON_NOT_OBJECT.into()),
    }
}

/// A field-by-field walk over a JSON object, as Loki's `json` parser does it.
struct JsonScan<'l> {
    b: &'l [u8],
    line: &'l str,
    i: usize,
}

impl JsonScan<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    /// A string literal (at `"`), unescaped.
    fn string(&mut self) -> Option<String> {
        let start = self.i;
        self.i += 1;
        while self.i < self.b.len() && self.b[self.i] != b'"' {
            if self.b[self.i] == b'\\' {
                self.i += 1;
            }
            self.i += 1;
        }
        if self.i >= self.b.len() {
            return None;
        }
        self.i += 1;
        serde_json::from_str::<String>(&self.line[start..self.i]).ok()
    }

    /// Skips a value of any kind (arrays and objects balanced, strings respected).
    fn skip(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            let c = *self.b.get(self.i)?;
            match c {
                b'"' => {
                    self.string()?;
                    if depth == 0 {
                        return Some(());
                    }
                    continue;
                }
                b'[' | b'{' => depth += 1,
                b']' | b'}' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        self.i += 1;
                        return Some(());
                    }
                }
                b',' if depth == 0 => return Some(()),
                _ => {}
            }
            self.i += 1;
        }
    }

    /// An object (at its `{`): its scalar fields become labels, nested objects add prefixes.
    fn object(&mut self, prefix: &str, labels: &mut LineLabels<'_>) -> Option<()> {
        self.ws();
        if self.b.get(self.i) != Some(&b'{') {
            return None;
        }
        self.i += 1;
        loop {
            self.ws();
            match self.b.get(self.i)? {
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                b'"' => {}
                _ => return None,
            }
            let key = self.string()?;
            self.ws();
            if self.b.get(self.i) != Some(&b':') {
                return None;
            }
            self.i += 1;
            self.ws();
            let c = *self.b.get(self.i)?;
            let is_object = c == b'{';
            let name = json_label_name(prefix, &key, is_object);
            match c {
                b'{' => self.object(&name, labels)?,
                b'"' => {
                    let v = self.string()?;
                    if !name.is_empty() {
                        labels.add_extracted(name, v);
                    }
                }
                b'[' => self.skip()?,
                b't' | b'f' | b'n' => {
                    let word: &[u8] = match c {
                        b't' => b"true",
                        b'f' => b"false",
                        _ => b"null",
                    };
                    if !self.b[self.i..].starts_with(word) {
                        return None;
                    }
                    self.i += word.len();
                    if c != b'n' && !name.is_empty() {
                        labels.add_extracted(name, String::from_utf8_lossy(word).into_owned());
                    }
                }
                b'-' | b'0'..=b'9' => {
                    let start = self.i;
                    while self.i < self.b.len()
                        && matches!(self.b[self.i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                    {
                        self.i += 1;
                    }
                    if !name.is_empty() {
                        labels.add_extracted(name, self.line[start..self.i].to_string());
                    }
                }
                _ => return None,
            }
            self.ws();
            match self.b.get(self.i)? {
                b',' => self.i += 1,
                b'}' => {}
                _ => return None,
            }
        }
    }
}

/// The label a JSON field becomes (Loki: a top-level field is `sanitizeLabelKey(key, true)`,
/// trimmed with `_` before a leading digit; an object's prefix gets `_` before any leading
/// non-letter; nested keys only have invalid characters replaced).
fn json_label_name(prefix: &str, key: &str, is_object: bool) -> String {
    if !prefix.is_empty() {
        return format!("{prefix}_{}", map_label_chars(key));
    }
    if is_object {
        let mapped = map_label_chars(key);
        if mapped.is_empty() || mapped.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            mapped
        } else {
            format!("_{mapped}")
        }
    } else {
        sanitize(key.trim())
    }
}
