//! Running a log pipeline over one line: line filters, the `json` and `logfmt` parsers and label
//! filters, producing the labels the line ends up with (stream labels plus extracted ones), or
//! nothing when a filter drops it.
//!
//! Loki's semantics: an extracted name that clashes with a stream label gets the suffix
//! `_extracted`; a parse failure sets `__error__` (`JSONParserErr`, `LogfmtParserErr`) and keeps
//! the line; a numeric, duration or bytes filter on a missing label drops the line and on an
//! unparsable one keeps it with `__error__=LabelFilterErr`.

use logq_storage::LabelSet;

use crate::logql::{
    go_duration_ns, humanize_bytes, json_path, CmpOp, CmpValue, LabelComparison, LabelFilterExpr,
    LabelFormat, LogExpr, ParserKind, ParserStage, Stage,
};

/// Label name/value pairs.
pub type Pairs = Vec<(String, String)>;

/// The label naming a pipeline error.
pub const ERROR_LABEL: &str = "__error__";
/// `__error_details__` of a line the JSON parser cannot read (buger/jsonparser's
/// `MalformedObjectError`, which Loki reports).
const JSON_NOT_OBJECT: &str = "Value looks like object, but can't find closing '}' symbol";

/// The label carrying the error's details.
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";

/// Labels of a line while it moves through the pipeline.
///
/// Three layers, as Loki's labels builder: stream labels, structured metadata (a name that
/// clashes with a stream label gets the suffix `_extracted`), and parsed labels (set by parsers
/// and formatting stages). Parsed labels shadow structured metadata, which shadows stream labels.
#[derive(Debug, Clone)]
pub struct LineLabels<'a> {
    stream: &'a LabelSet,
    metadata: Vec<(String, String)>,
    extracted: Vec<(String, String)>,
    removed: Vec<String>,
}

impl<'a> LineLabels<'a> {
    fn new(stream: &'a LabelSet) -> Self {
        LineLabels {
            stream,
            metadata: Vec::new(),
            extracted: Vec::new(),
            removed: Vec::new(),
        }
    }

    /// The labels of an entry of `stream` with structured metadata `metadata`, before any stage.
    pub fn with_metadata(stream: &'a LabelSet, metadata: &[(String, String)]) -> Self {
        let mut labels = LineLabels::new(stream);
        for (k, v) in metadata {
            let mut name = normalize_label(k);
            if stream.get(&name).is_some() {
                name.push_str("_extracted");
            }
            if name == ERROR_LABEL || name == ERROR_DETAILS_LABEL {
                continue;
            }
            match labels.metadata.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = v.clone(),
                None => labels.metadata.push((name, v.clone())),
            }
        }
        labels
    }

    /// The value of `name` (parsed labels shadow structured metadata, which shadows stream
    /// labels).
    pub fn get(&self, name: &str) -> Option<&str> {
        if let Some((_, v)) = self.extracted.iter().rev().find(|(k, _)| k == name) {
            return Some(v.as_str());
        }
        if let Some((_, v)) = self.metadata.iter().find(|(k, _)| k == name) {
            return Some(v.as_str());
        }
        if self.removed.iter().any(|r| r == name) {
            return None;
        }
        self.stream.get(name)
    }

    /// Sets a parsed label (it replaces structured metadata of the same name, as in Loki).
    fn set(&mut self, name: String, value: String) {
        self.metadata.retain(|(k, _)| *k != name);
        if let Some(slot) = self.extracted.iter_mut().find(|(k, _)| *k == name) {
            slot.1 = value;
        } else {
            self.extracted.push((name, value));
        }
    }

    fn remove(&mut self, name: &str) {
        self.extracted.retain(|(k, _)| k != name);
        self.metadata.retain(|(k, _)| k != name);
        if self.stream.get(name).is_some() && !self.removed.iter().any(|r| r == name) {
            self.removed.push(name.to_string());
        }
    }

    /// Every label name currently set.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .stream
            .pairs()
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !self.removed.contains(k))
            .collect();
        names.extend(self.metadata.iter().map(|(k, _)| k.clone()));
        names.extend(self.extracted.iter().map(|(k, _)| k.clone()));
        names.sort();
        names.dedup();
        names
    }

    /// Every label with its current value (Loki's `LabelsBuilder.Map`, the data of templates).
    fn pairs_now(&self) -> Vec<(String, String)> {
        self.names()
            .into_iter()
            .filter_map(|n| self.get(&n).map(|v| (n.clone(), v.to_string())))
            .collect()
    }

    /// The labels by category, as Loki's `categorize-labels` encoding returns them: stream
    /// labels (as modified by the pipeline), structured metadata, and parsed labels (with
    /// `__error__` and `__error_details__`).
    pub fn categorized(&self) -> (LabelSet, Pairs, Pairs) {
        let shadowed = |k: &str| {
            self.removed.iter().any(|r| r == k)
                || self.metadata.iter().any(|(n, _)| n == k)
                || self.extracted.iter().any(|(n, _)| n == k)
        };
        let stream = LabelSet::from_pairs(self.stream.pairs().iter().filter(|(k, _)| !shadowed(k)).cloned());
        let mut metadata: Vec<(String, String)> = self
            .metadata
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .cloned()
            .collect();
        metadata.sort();
        let mut parsed: Vec<(String, String)> = self
            .extracted
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .cloned()
            .collect();
        parsed.sort();
        (stream, metadata, parsed)
    }

    fn add_extracted(&mut self, name: String, value: String) {
        let name = if self.stream.get(&name).is_some() {
            format!("{name}_extracted")
        } else {
            name
        };
        self.set(name, value);
    }

    /// Marks the line with a pipeline error without details (Loki's `addErrLabel` with no
    /// error value).
    fn set_error_kind(&mut self, kind: &str) {
        self.set(ERROR_LABEL.into(), kind.into());
    }

    /// Marks the line with a pipeline error (the latest error wins, as in Loki).
    pub fn set_error(&mut self, kind: &str, details: String) {
        // Loki's `SetErr` / `SetErrorDetails`: a later error replaces an earlier one.
        self.set(ERROR_LABEL.into(), kind.into());
        self.set(ERROR_DETAILS_LABEL.into(), details);
    }

    /// The final label set.
    pub fn into_labels(self) -> LabelSet {
        if self.extracted.is_empty() && self.removed.is_empty() && self.metadata.is_empty() {
            return self.stream.clone();
        }
        let mut pairs: Vec<(String, String)> = self
            .stream
            .pairs()
            .iter()
            .filter(|(k, _)| !self.removed.contains(k))
            .cloned()
            .collect();
        pairs.extend(self.metadata);
        pairs.extend(self.extracted);
        // Loki's labels builder keeps labels set to "" (a `json` field "", a missing
        // `json a="path"`, a `regexp` group that did not take part): they name the series.
        LabelSet::from_pairs_keeping_empty(pairs)
    }
}

/// A line that passed the pipeline: its labels, and its new text if a stage rewrote it.
#[derive(Debug, Clone)]
pub struct Processed<'a> {
    /// The line's labels.
    pub labels: LineLabels<'a>,
    /// The rewritten line (`line_format`, `unpack`, `decolorize`), if any.
    pub line: Option<String>,
}

/// Runs `expr`'s pipeline over `line` (at `ts`) of `stream`; `None` when a filter drops it.
pub fn process<'a>(expr: &LogExpr, stream: &'a LabelSet, ts: i64, line: &str) -> Option<Processed<'a>> {
    process_with_metadata(expr, stream, &[], ts, line)
}

/// [`process`] for an entry with structured metadata, which the pipeline sees as labels.
pub fn process_with_metadata<'a>(
    expr: &LogExpr,
    stream: &'a LabelSet,
    metadata: &[(String, String)],
    ts: i64,
    line: &str,
) -> Option<Processed<'a>> {
    let mut labels = LineLabels::with_metadata(stream, metadata);
    let mut rewritten: Option<String> = None;
    for stage in &expr.pipeline {
        let cur: &str = rewritten.as_deref().unwrap_or(line);
        match stage {
            Stage::LineFilter(f) => {
                if !f.matches(cur) {
                    return None;
                }
            }
            Stage::Parser(p) if p.kind == ParserKind::Json => parse_json(p, cur, &mut labels),
            Stage::Parser(p) => parse_logfmt(p, cur, &mut labels),
            Stage::Regexp(re) => {
                if let Some(caps) = re.captures(cur) {
                    // A group that took no part in the match is "" (Go's `FindSubmatch`).
                    for name in re.capture_names().flatten() {
                        let value = caps.name(name).map_or("", |m| m.as_str());
                        labels.add_extracted(sanitize(name), value.to_string());
                    }
                }
            }
            Stage::Pattern(p) => {
                for (k, v) in p.captures(cur) {
                    labels.add_extracted(k, v);
                }
            }
            Stage::Unpack => {
                if let Some(entry) = unpack(cur, &mut labels) {
                    rewritten = Some(entry);
                }
            }
            Stage::Distinct(d) => {
                if !d.keep(|k| labels.get(k).map(str::to_string)) {
                    return None;
                }
            }
            Stage::Decolorize => {
                let clean = decolorize(cur);
                if clean.len() != cur.len() {
                    rewritten = Some(clean);
                }
            }
            Stage::LineFormat(t) => {
                let all = || labels.pairs_now();
                match t.render(|k| labels.get(k), all, cur, ts) {
                    Ok(out) => rewritten = Some(out),
                    // Loki keeps the line and marks it.
                    Err(details) => labels.set_error("TemplateFormatErr", details),
                }
            }
            Stage::LabelFormat(items) => {
                // Loki's LabelsFormatter: templates see the labels as they were at the first
                // template of the stage; a rename sets the new name, then deletes the old one.
                let mut snapshot: Option<Vec<(String, String)>> = None;
                for item in items {
                    match item {
                        LabelFormat::Rename { to, from } => {
                            if let Some(v) = labels.get(from).map(str::to_string) {
                                labels.set(to.clone(), v);
                                labels.remove(from);
                            }
                        }
                        LabelFormat::Template { to, template } => {
                            let seen = snapshot.get_or_insert_with(|| labels.pairs_now());
                            let get = |k: &str| seen.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
                            let all = || seen.clone();
                            match template.render(get, all, cur, ts) {
                                Ok(v) => labels.set(to.clone(), v),
                                Err(details) => labels.set_error("TemplateFormatErr", details),
                            }
                        }
                    }
                }
            }
            Stage::Drop(items) => {
                for item in items {
                    if item.selects(labels.get(&item.name)) {
                        labels.remove(&item.name);
                    }
                }
            }
            Stage::Keep(items) => {
                // Loki's `keep` never removes the error labels.
                for name in labels
                    .names()
                    .into_iter()
                    .filter(|n| n != ERROR_LABEL && n != ERROR_DETAILS_LABEL)
                {
                    let kept = items
                        .iter()
                        .any(|i| i.name == name && i.selects(labels.get(&name)));
                    if !kept {
                        labels.remove(&name);
                    }
                }
            }
            Stage::LabelFilter(f) => {
                if !eval_filter(f, &mut labels) {
                    return None;
                }
            }
        }
    }
    Some(Processed {
        labels,
        line: rewritten,
    })
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

/// Removes ANSI escape sequences (`ESC [ ... letter`).
fn decolorize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for n in chars.by_ref() {
                if n.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Prometheus' OTLP `NormalizeLabel`, which Loki applies to structured metadata names: every
/// rune that is not a letter or digit becomes `_`; a leading digit gets the prefix `key_`, a
/// single leading `_` the prefix `key`.
fn normalize_label(name: &str) -> String {
    if name.is_empty() {
        return String::new();
    }
    let out: String = name
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '_' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{out}")
    } else if out.starts_with('_') && !out.starts_with("__") {
        format!("key{out}")
    } else {
        out
    }
}

/// Replaces characters that are not valid in label names with `_` (no prefix).
fn map_label_chars(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '_' || c.is_ascii_alphanumeric() {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Replaces characters that are not valid in label names with `_`.
fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c == '_' || c.is_ascii_alphanumeric() {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
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
        if labels.stream.get(label).is_none() {
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

/// Whether a line with `labels` passes the label filter `f` (which may set `__error__`).
pub(crate) fn eval_filter(f: &LabelFilterExpr, labels: &mut LineLabels<'_>) -> bool {
    match f {
        LabelFilterExpr::And(a, b) => eval_filter(a, labels) && eval_filter(b, labels),
        LabelFilterExpr::Or(a, b) => eval_filter(a, labels) || eval_filter(b, labels),
        LabelFilterExpr::Cmp(c) => eval_cmp(c, labels),
    }
}

fn compare(op: CmpOp, a: f64, b: f64) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Re | CmpOp::NotRe => false,
    }
}

fn eval_cmp(c: &LabelComparison, labels: &mut LineLabels<'_>) -> bool {
    let value = labels.get(&c.name).map(str::to_string);
    match &c.value {
        CmpValue::Str(s, regex) => {
            let v = value.unwrap_or_default();
            match c.op {
                CmpOp::Eq => v == *s,
                CmpOp::Ne => v != *s,
                CmpOp::Re => regex.as_ref().is_some_and(|r| r.is_match(&v)),
                CmpOp::NotRe => !regex.as_ref().is_some_and(|r| r.is_match(&v)),
                _ => false,
            }
        }
        // Loki: with an error already set, only string matchers filter (the line passes).
        _ if labels.get(ERROR_LABEL).is_some() => true,
        CmpValue::Ip(ip) => {
            let hit = value.as_deref().is_some_and(|v| ip.matches_value(v));
            if c.op == CmpOp::Eq {
                hit
            } else {
                !hit
            }
        }
        numeric => {
            let Some(v) = value else { return false };
            // Loki converts with Go's ParseFloat, time.ParseDuration and humanize.ParseBytes;
            // their errors become `__error_details__`.
            let (parsed, want) = match numeric {
                CmpValue::Number(n) => (go_parse_float(&v), *n),
                CmpValue::Duration(secs) => (go_duration_ns(&v).map(|ns| ns as f64 / 1e9), *secs),
                CmpValue::Bytes(b) => (humanize_bytes(&v).map(|b| b as f64), b.trunc()),
                CmpValue::Str(..) | CmpValue::Ip(_) => (Err(String::new()), 0.0),
            };
            match parsed {
                Ok(x) => compare(c.op, x, want),
                Err(details) => {
                    labels.set_error("LabelFilterErr", details);
                    true
                }
            }
        }
    }
}

/// Go's `strconv.ParseFloat(v, 64)`, with its error message.
pub(crate) fn go_parse_float(v: &str) -> Result<f64, String> {
    v.parse::<f64>()
        .map_err(|_| format!("strconv.ParseFloat: parsing {v:?}: invalid syntax"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::parse_log_selector;

    fn run(q: &str, stream: &str, line: &str) -> Option<String> {
        let e = parse_log_selector(q).unwrap();
        let s = LabelSet::parse(stream).unwrap();
        process(&e, &s, 0, line).map(|p| p.labels.into_labels().to_string())
    }

    #[test]
    fn structured_metadata_is_labels() {
        let e = parse_log_selector(r#"{app="a"} | logfmt"#).unwrap();
        let s = LabelSet::parse(r#"{app="a"}"#).unwrap();
        let meta = vec![
            ("app".to_string(), "m".to_string()),
            ("k8s.pod".to_string(), "p".to_string()),
            ("1x".to_string(), "d".to_string()),
            ("_y".to_string(), "u".to_string()),
            ("level".to_string(), "meta".to_string()),
        ];
        let got = process_with_metadata(&e, &s, &meta, 0, "level=parsed").unwrap();
        // Parsed labels replace structured metadata of the same name.
        assert_eq!(
            got.labels.into_labels().to_string(),
            r#"{app="a", app_extracted="m", k8s_pod="p", key_1x="d", key_y="u", level="parsed"}"#
        );
    }

    #[test]
    fn json_flattens_and_renames_clashes() {
        let got = run(
            r#"{app="a"} | json"#,
            r#"{app="a"}"#,
            r#"{"app":"x","req":{"method":"GET","code":200},"ok":true,"tags":[1]}"#,
        );
        assert_eq!(
            got.unwrap(),
            r#"{app="a", app_extracted="x", ok="true", req_code="200", req_method="GET"}"#
        );
        let got = run(r#"{app="a"} | json"#, r#"{app="a"}"#, "not json").unwrap();
        assert!(got.contains(r#"__error__="JSONParserErr""#), "{got}");
    }

    #[test]
    fn json_fields_as_lokis_parser_reads_them() {
        let q = r#"{app="a"} | json"#;
        // Numbers keep their text; arrays and nulls are skipped; nested keys joined with `_`.
        let got = run(
            q,
            r#"{app="a"}"#,
            r#"{"n": 1.50, "e": 1e3, "s": "x\"y", "arr": [1, {"z": 2}], "nil": null, "o": {"1k": true}} tail"#,
        )
        .unwrap();
        assert_eq!(got, r#"{app="a", e="1e3", n="1.50", o_1k="true", s="x\"y"}"#);
        // Fields before a syntax error are kept, with the error.
        let got = run(q, r#"{app="a"}"#, r#"{"a": "1", "b": }"#).unwrap();
        assert!(got.contains(r#"a="1""#) && got.contains("JSONParserErr"), "{got}");
    }

    #[test]
    fn logfmt_and_filters() {
        let line = r#"level=error msg="disk full" duration=1.5s size=10KB status=503"#;
        let q = r#"{app="a"} | logfmt | status >= 500 and duration > 1s and size > 9KB"#;
        let got = run(q, r#"{app="a"}"#, line).unwrap();
        assert!(got.contains(r#"msg="disk full""#), "{got}");
        assert!(run(r#"{app="a"} | logfmt | status < 500"#, r#"{app="a"}"#, line).is_none());
        assert!(run(r#"{app="a"} | logfmt | missing > 1"#, r#"{app="a"}"#, line).is_none());
        let got = run(r#"{app="a"} | logfmt | msg > 1"#, r#"{app="a"}"#, line).unwrap();
        assert!(got.contains("LabelFilterErr"), "{got}");
        assert!(run(
            r#"{app="a"} | logfmt | level=~"err.*" or level="warn""#,
            r#"{app="a"}"#,
            line
        )
        .is_some());
        assert!(run(r#"{app="a"} | logfmt | level!="error""#, r#"{app="a"}"#, line).is_none());
        let with_ip = "level=info client=10.1.2.3";
        assert!(run(
            r#"{app="a"} | logfmt | client = ip("10.0.0.0/8")"#,
            r#"{app="a"}"#,
            with_ip
        )
        .is_some());
        assert!(run(
            r#"{app="a"} | logfmt | client != ip("10.0.0.0/8")"#,
            r#"{app="a"}"#,
            with_ip
        )
        .is_none());
        assert!(run(
            r#"{app="a"} |= "disk" | logfmt | __error__="""#,
            r#"{app="a"}"#,
            line
        )
        .is_some());
    }
}
