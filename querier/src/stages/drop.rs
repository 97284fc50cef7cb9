//! `| drop a, b="x"`: removes labels (a matcher: only when the value matches).

use super::{LineStage, Step};
use crate::line_labels::LineLabels;
use crate::logql::LabelSelect;

/// The `drop` stage.
pub(crate) struct Drop {
    items: Vec<LabelSelect>,
}

impl Drop {
    pub(crate) fn new(items: &[LabelSelect]) -> Self {
        Drop {
            items: items.to_vec(),
        }
    }
}

impl LineStage for Drop {
    fn process(&mut self, _ts: i64, _line: &str, labels: &mut LineLabels<'_>) -> Step {
        for item in &self.items {
            if item.selects(labels.get(&item.name)) {
                labels.remove(&item.name);
            }
        }
        Step::Keep
    }
}
