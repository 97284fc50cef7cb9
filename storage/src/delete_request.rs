//! Delete requests (Loki's `/loki/api/v1/delete`): which entries of a tenant must disappear.
//! Kept in the tenant's manifest; queries hide matching entries at once, and the compactor
//! later rewrites the blocks that hold them.

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::labels::LabelSet;
use crate::matcher::{LabelMatcher, MatchOp};

/// How a delete request tests a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LineTest {
    /// Contains the text.
    Contains,
    /// Does not contain the text.
    NotContains,
    /// Matches the (unanchored) regex.
    Regex,
    /// Does not match the regex.
    NotRegex,
}

/// A delete request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRequest {
    /// Request id.
    pub id: String,
    /// The query as the user wrote it.
    pub query: String,
    /// Stream matchers: (name, operator as written, value).
    pub matchers: Vec<(String, String, String)>,
    /// Line tests, all of which must hold: (test, text or pattern).
    pub line_tests: Vec<(LineTest, String)>,
    /// Inclusive start, ns.
    pub start: i64,
    /// Inclusive end, ns.
    pub end: i64,
    /// When it was received, ns.
    pub created: i64,
    /// Whether the compactor has removed the entries from storage.
    pub processed: bool,
}

/// A delete request compiled for evaluation.
#[derive(Debug, Clone)]
pub struct CompiledDelete {
    matchers: Vec<LabelMatcher>,
    tests: Vec<(LineTest, String, Option<Regex>)>,
    start: i64,
    end: i64,
}

impl DeleteRequest {
    /// Compiles the request; `None` when a stored pattern no longer compiles.
    pub fn compile(&self) -> Option<CompiledDelete> {
        let matchers = self
            .matchers
            .iter()
            .map(|(n, op, v)| {
                let op = match op.as_str() {
                    "=" => MatchOp::Equal,
                    "!=" => MatchOp::NotEqual,
                    "=~" => MatchOp::Regex,
                    _ => MatchOp::NotRegex,
                };
                LabelMatcher::new(n.clone(), op, v.clone()).ok()
            })
            .collect::<Option<Vec<_>>>()?;
        let tests = self
            .line_tests
            .iter()
            .map(|(t, p)| match t {
                LineTest::Regex | LineTest::NotRegex => Regex::new(p).ok().map(|r| (*t, p.clone(), Some(r))),
                _ => Some((*t, p.clone(), None)),
            })
            .collect::<Option<Vec<_>>>()?;
        Some(CompiledDelete {
            matchers,
            tests,
            start: self.start,
            end: self.end,
        })
    }
}

impl CompiledDelete {
    /// Whether the request could touch a stream with `labels` holding entries in `[min, max]`.
    pub fn may_touch(&self, labels: &LabelSet, min_ts: i64, max_ts: i64) -> bool {
        max_ts >= self.start && min_ts <= self.end && self.matchers.iter().all(|m| m.matches(labels))
    }

    /// Whether the request deletes the entry `line` at `ts` of a stream with `labels`.
    pub fn deletes(&self, labels: &LabelSet, ts: i64, line: &str) -> bool {
        ts >= self.start
            && ts <= self.end
            && self.matchers.iter().all(|m| m.matches(labels))
            && self.tests.iter().all(|(t, p, r)| match t {
                LineTest::Contains => line.contains(p.as_str()),
                LineTest::NotContains => !line.contains(p.as_str()),
                LineTest::Regex => r.as_ref().is_some_and(|r| r.is_match(line)),
                LineTest::NotRegex => !r.as_ref().is_some_and(|r| r.is_match(line)),
            })
    }

    /// Whether the request tests line text.
    pub fn tests_lines(&self) -> bool {
        !self.tests.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletes_only_matching_entries_in_range() {
        let r = DeleteRequest {
            id: "1".into(),
            query: String::new(),
            matchers: vec![("app".into(), "=".into(), "web".into())],
            line_tests: vec![
                (LineTest::Contains, "secret".into()),
                (LineTest::NotRegex, "keep".into()),
            ],
            start: 10,
            end: 20,
            created: 0,
            processed: false,
        };
        let d = r.compile().unwrap();
        let web = LabelSet::parse(r#"{app="web"}"#).unwrap();
        let db = LabelSet::parse(r#"{app="db"}"#).unwrap();
        assert!(d.deletes(&web, 15, "a secret"));
        assert!(d.deletes(&web, 20, "a secret"));
        assert!(!d.deletes(&web, 21, "a secret"));
        assert!(!d.deletes(&web, 15, "a secret to keep"));
        assert!(!d.deletes(&db, 15, "a secret"));
        assert!(d.may_touch(&web, 0, 10));
        assert!(!d.may_touch(&web, 21, 30));
    }
}
