//! Stream label sets: sorted, de-duplicated `name="value"` pairs with a stable 64-bit
//! fingerprint, and the Prometheus text form `{a="b", c="d"}` used by push requests.
//!
//! Invariants: names are sorted and unique, every name matches `[a-zA-Z_][a-zA-Z0-9_]*`, and the
//! fingerprint depends only on the pairs. Stream identities never hold empty values (Loki drops
//! empty-valued stream labels); only the querier's metric series may, built with
//! [`LabelSet::from_pairs_keeping_empty`], as Loki's series keep a parsed label set to `""`.

use std::fmt;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

/// A stream's identity: its sorted label pairs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct LabelSet(Vec<(String, String)>);

/// A label set that cannot name a stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelsError {
    /// Text that is not `{name="value", ...}`.
    #[error("error parsing labels {text:?}: {reason}")]
    Syntax {
        /// The offending text.
        text: String,
        /// What was wrong.
        reason: String,
    },
    /// A label name outside `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("invalid label name {0:?}")]
    InvalidName(String),
    /// No labels at all.
    #[error("stream has no labels: at least one label pair is required")]
    Empty,
    /// The same name twice.
    #[error("duplicate label name {0:?}")]
    Duplicate(String),
}

/// Whether `name` is a valid label name.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

impl LabelSet {
    /// Builds a set from pairs, sorting them, dropping empty values and keeping the last of
    /// duplicate names. Does not validate names: use [`LabelSet::validated`] for outside input.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        LabelSet::from_pairs_keeping_empty(pairs.into_iter().filter(|(_, v)| !v.is_empty()))
    }

    /// [`LabelSet::from_pairs`] keeping empty values: Loki's pipeline labels (a `json` field
    /// `""`, a `regexp` group that did not participate, a `label_format` rendering nothing) stay
    /// in series labels with an empty value, a different series from one without the label.
    pub fn from_pairs_keeping_empty(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut v: Vec<(String, String)> = pairs.into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        // Keep the last value of a repeated name (the sort is stable).
        let mut out: Vec<(String, String)> = Vec::with_capacity(v.len());
        for (k, val) in v {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = val,
                _ => out.push((k, val)),
            }
        }
        LabelSet(out)
    }

    /// The same set without its empty-valued labels (Prometheus' `labels.Builder` drops them).
    pub fn without_empty(&self) -> Self {
        if self.0.iter().all(|(_, v)| !v.is_empty()) {
            return self.clone();
        }
        LabelSet(self.0.iter().filter(|(_, v)| !v.is_empty()).cloned().collect())
    }

    /// Builds a set from outside input: names must be valid and unique, and the set non-empty.
    pub fn validated(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self, LabelsError> {
        let mut v: Vec<(String, String)> = Vec::new();
        for (k, val) in pairs {
            if !is_valid_label_name(&k) {
                return Err(LabelsError::InvalidName(k));
            }
            if !val.is_empty() {
                v.push((k, val));
            }
        }
        v.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = v.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(LabelsError::Duplicate(w[0].0.clone()));
        }
        if v.is_empty() {
            return Err(LabelsError::Empty);
        }
        Ok(LabelSet(v))
    }

    /// Parses the text form `{a="b", c="d"}` (Go-style escapes in values), validating it.
    pub fn parse(text: &str) -> Result<Self, LabelsError> {
        let syntax = |reason: &str| LabelsError::Syntax {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let s = text.trim();
        let inner = s
            .strip_prefix('{')
            .and_then(|r| r.strip_suffix('}'))
            .ok_or_else(|| syntax("expected labels enclosed in braces"))?;
        let mut pairs = Vec::new();
        let mut rest = inner.trim_start();
        while !rest.is_empty() {
            let name_end = rest
                .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
                .unwrap_or(rest.len());
            let name = &rest[..name_end];
            if name.is_empty() {
                return Err(syntax("expected a label name"));
            }
            rest = rest[name_end..].trim_start();
            rest = rest
                .strip_prefix('=')
                .ok_or_else(|| syntax("expected '=' after label name"))?
                .trim_start();
            let (value, after) = parse_quoted(rest).ok_or_else(|| syntax("expected a quoted label value"))?;
            pairs.push((name.to_string(), value));
            rest = after.trim_start();
            if let Some(r) = rest.strip_prefix(',') {
                rest = r.trim_start();
            } else if !rest.is_empty() {
                return Err(syntax("expected ',' or '}' after label value"));
            }
        }
        Self::validated(pairs)
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// The pairs, sorted by name.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Stable 64-bit fingerprint (xxh3 over the pairs with separators). Part of the storage
    /// format: never change it for an existing format version.
    pub fn fingerprint(&self) -> u64 {
        let mut h = Xxh3::new();
        for (k, v) in &self.0 {
            h.update(k.as_bytes());
            h.update(&[0xff]);
            h.update(v.as_bytes());
            h.update(&[0xff]);
        }
        h.digest()
    }
}

/// Parses a double-quoted string with Go escapes at the start of `s`; returns it and the rest.
fn parse_quoted(s: &str) -> Option<(String, &str)> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => {
                let (_, e) = chars.next()?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
            }
            c => out.push(c),
        }
    }
    None
}

impl fmt::Display for LabelSet {
    /// Loki's text form: `{a="b", c="d"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}=\"")?;
            for c in v.chars() {
                match c {
                    '"' => f.write_str("\\\"")?,
                    '\\' => f.write_str("\\\\")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_and_sorts() {
        let l = LabelSet::parse(r#"{service="nginx", host="web-1",env="a \"q\" b"}"#).unwrap();
        assert_eq!(l.get("host"), Some("web-1"));
        assert_eq!(l.get("env"), Some("a \"q\" b"));
        assert_eq!(
            l.to_string(),
            r#"{env="a \"q\" b", host="web-1", service="nginx"}"#
        );
        assert_eq!(LabelSet::parse(&l.to_string()).unwrap(), l);
    }

    #[test]
    fn fingerprint_ignores_input_order() {
        let a = LabelSet::parse(r#"{a="1", b="2"}"#).unwrap();
        let b = LabelSet::parse(r#"{b="2", a="1"}"#).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        let c = LabelSet::parse(r#"{a="12"}"#).unwrap();
        let d = LabelSet::parse(r#"{a="1", b="2"}"#).unwrap();
        assert_ne!(c.fingerprint(), d.fingerprint());
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(LabelSet::parse("{}"), Err(LabelsError::Empty));
        assert!(matches!(
            LabelSet::parse("a=\"b\""),
            Err(LabelsError::Syntax { .. })
        ));
        assert!(matches!(
            LabelSet::parse("{a=b}"),
            Err(LabelsError::Syntax { .. })
        ));
        assert!(matches!(
            LabelSet::parse("{a=\"b}"),
            Err(LabelsError::Syntax { .. })
        ));
        assert_eq!(
            LabelSet::parse("{a=\"1\",a=\"2\"}"),
            Err(LabelsError::Duplicate("a".into()))
        );
        assert_eq!(
            LabelSet::validated([("1a".to_string(), "x".to_string())]),
            Err(LabelsError::InvalidName("1a".into()))
        );
    }
}
