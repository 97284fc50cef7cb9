//! `| pattern "<ip> - <_> <status>"`: the named captures of a line that fits become labels.

use super::{LineStage, Step};
use crate::line_labels::LineLabels;
use crate::logql::Pattern;

/// The `pattern` stage.
pub(crate) struct PatternParser {
    pattern: Pattern,
}

impl PatternParser {
    pub(crate) fn new(pattern: &Pattern) -> Self {
        PatternParser {
            pattern: pattern.clone(),
        }
    }
}

impl LineStage for PatternParser {
    fn process(&mut self, _ts: i64, line: &str, labels: &mut LineLabels<'_>) -> Step {
        for (k, v) in self.pattern.captures(line) {
            labels.add_extracted(k, v);
        }
        Step::Keep
    }
}
