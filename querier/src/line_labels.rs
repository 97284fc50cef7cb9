//! The labels of one line while it moves through a pipeline ([`LineLabels`]): stream labels,
//! structured metadata and parsed labels in three layers, as Loki's labels builder keeps them,
//! and the rules for label names extracted from lines.
//!
//! Invariants: parsed labels shadow structured metadata, which shadows stream labels; a name
//! extracted from a line that clashes with a stream label gets the suffix `_extracted`; labels
//! set to "" stay (they name series), as in Loki.

use logq_storage::LabelSet;

/// Label name/value pairs.
pub type Pairs = Vec<(String, String)>;

/// The label naming a pipeline error.
pub const ERROR_LABEL: &str = "__error__";
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
    /// The stream's own labels.
    pub(crate) fn stream(&self) -> &'a LabelSet {
        self.stream
    }

    pub(crate) fn new(stream: &'a LabelSet) -> Self {
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
    pub(crate) fn set(&mut self, name: String, value: String) {
        self.metadata.retain(|(k, _)| *k != name);
        if let Some(slot) = self.extracted.iter_mut().find(|(k, _)| *k == name) {
            slot.1 = value;
        } else {
            self.extracted.push((name, value));
        }
    }

    pub(crate) fn remove(&mut self, name: &str) {
        self.extracted.retain(|(k, _)| k != name);
        self.metadata.retain(|(k, _)| k != name);
        if self.stream.get(name).is_some() && !self.removed.iter().any(|r| r == name) {
            self.removed.push(name.to_string());
        }
    }

    /// Every label name currently set.
    pub(crate) fn names(&self) -> Vec<String> {
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
    pub(crate) fn pairs_now(&self) -> Vec<(String, String)> {
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

    pub(crate) fn add_extracted(&mut self, name: String, value: String) {
        let name = if self.stream.get(&name).is_some() {
            format!("{name}_extracted")
        } else {
            name
        };
        self.set(name, value);
    }

    /// Marks the line with a pipeline error without details (Loki's `addErrLabel` with no
    /// error value).
    pub(crate) fn set_error_kind(&mut self, kind: &str) {
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
pub(crate) fn map_label_chars(name: &str) -> String {
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
pub(crate) fn sanitize(name: &str) -> String {
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
