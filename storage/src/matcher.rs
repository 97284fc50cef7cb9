//! Label matchers (`name="v"`, `!=`, `=~`, `!~`): the one predicate every index and scan
//! evaluates against a stream's labels.
//!
//! Regular expressions are fully anchored, as in Loki and Prometheus: `app=~"web"` matches only
//! the value `web`, not `webserver`.

use std::fmt;

use regex::Regex;

use crate::labels::LabelSet;

/// How a matcher compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

impl MatchOp {
    /// The operator as written in LogQL.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// A compiled label matcher.
#[derive(Debug, Clone)]
pub struct LabelMatcher {
    /// The label name.
    pub name: String,
    /// The comparison.
    pub op: MatchOp,
    /// The value or pattern as written.
    pub value: String,
    regex: Option<Regex>,
}

/// Matchers are equal when they are written the same (the regex is compiled from them).
impl PartialEq for LabelMatcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for LabelMatcher {}

/// A matcher whose regular expression does not compile.
#[derive(Debug, thiserror::Error)]
#[error("invalid regex {pattern:?} in matcher for label {name:?}: {reason}")]
pub struct MatcherError {
    /// Label name of the bad matcher.
    pub name: String,
    /// The pattern that failed.
    pub pattern: String,
    /// The regex engine's message.
    pub reason: String,
}

impl LabelMatcher {
    /// Builds a matcher, compiling (anchored) regular expressions.
    pub fn new(name: impl Into<String>, op: MatchOp, value: impl Into<String>) -> Result<Self, MatcherError> {
        let name = name.into();
        let value = value.into();
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                // Validate the pattern as written, so errors speak of it and not of the anchors.
                let bad = |e: regex::Error| MatcherError {
                    name: name.clone(),
                    pattern: value.clone(),
                    reason: regex_error_line(&e),
                };
                Regex::new(&value).map_err(bad)?;
                Some(Regex::new(&format!("^(?s:{value})$")).map_err(bad)?)
            }
            _ => None,
        };
        Ok(LabelMatcher {
            name,
            op,
            value,
            regex,
        })
    }

    /// Whether a label value (empty when the label is absent) satisfies this matcher.
    pub fn matches_value(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// Whether a stream's labels satisfy this matcher.
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matches_value(labels.get(&self.name).unwrap_or(""))
    }

    /// Whether the empty string satisfies this matcher (such a matcher alone selects everything).
    pub fn matches_empty(&self) -> bool {
        self.matches_value("")
    }
}

impl fmt::Display for LabelMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

/// The regex engine's error on one line (its syntax errors draw a multi-line caret diagram).
pub fn regex_error_line(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find(|l| l.trim_start().starts_with("error:"))
        .map(|l| l.trim_start().trim_start_matches("error:").trim().to_string())
        .unwrap_or_else(|| text.lines().next().unwrap_or_default().to_string())
}

/// Whether `labels` satisfies every matcher.
pub fn matches_all(matchers: &[LabelMatcher], labels: &LabelSet) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::from_pairs(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())))
    }

    #[test]
    fn regex_is_anchored() {
        let m = LabelMatcher::new("app", MatchOp::Regex, "web").unwrap();
        assert!(m.matches(&set(&[("app", "web")])));
        assert!(!m.matches(&set(&[("app", "webserver")])));
        let m = LabelMatcher::new("app", MatchOp::NotRegex, "web|db").unwrap();
        assert!(!m.matches(&set(&[("app", "db")])));
        assert!(m.matches(&set(&[("app", "dbx")])));
    }

    #[test]
    fn absent_label_is_empty() {
        let m = LabelMatcher::new("env", MatchOp::NotEqual, "prod").unwrap();
        assert!(m.matches(&set(&[("app", "x")])));
        assert!(m.matches_empty());
        let m = LabelMatcher::new("env", MatchOp::Regex, ".+").unwrap();
        assert!(!m.matches_empty());
    }

    #[test]
    fn bad_regex_names_the_pattern() {
        let err = LabelMatcher::new("app", MatchOp::Regex, "(").unwrap_err();
        assert!(err.to_string().contains("\"(\""), "{err}");
        assert_eq!(err.reason, "unclosed group");
        assert!(!err.to_string().contains('\n'), "one line: {err}");
    }
}
