//! `| regexp "(?P<name>...)"`: each named capture group becomes a label (a group that took no
//! part in the match is "", as Go's `FindSubmatch` gives it); a line that does not match is
//! kept without new labels.

use regex::Regex;

use super::{bad_regex, LineStage, Step};
use crate::error::QueryError;
use crate::line_labels::{sanitize, LineLabels};

/// The compiled `regexp` stage.
pub(crate) struct Regexp {
    regex: Regex,
    names: Vec<(String, String)>,
}

impl Regexp {
    pub(crate) fn new(text: &str) -> Result<Self, QueryError> {
        let regex = Regex::new(text).map_err(|e| bad_regex(&e))?;
        let names = regex
            .capture_names()
            .flatten()
            .map(|n| (n.to_string(), sanitize(n)))
            .collect();
        Ok(Regexp { regex, names })
    }
}

impl LineStage for Regexp {
    fn process(&mut self, _ts: i64, line: &str, labels: &mut LineLabels<'_>) -> Step {
        if let Some(caps) = self.regex.captures(line) {
            for (group, label) in &self.names {
                let value = caps.name(group).map_or("", |m| m.as_str());
                labels.add_extracted(label.clone(), value.to_string());
            }
        }
        Step::Keep
    }
}
