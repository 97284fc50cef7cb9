//! `| keep a, b="x"`: removes every label but these (a matcher: kept only when the value
//! matches). Loki's `keep` never removes the error labels.

use super::{LineStage, Step};
use crate::line_labels::{LineLabels, ERROR_DETAILS_LABEL, ERROR_LABEL};
use crate::logql::LabelSelect;

/// The `keep` stage.
pub(crate) struct Keep {
    items: Vec<LabelSelect>,
}

impl Keep {
    pub(crate) fn new(items: &[LabelSelect]) -> Self {
        Keep {
            items: items.to_vec(),
        }
    }
}

impl LineStage for Keep {
    fn process(&mut self, _ts: i64, _line: &str, labels: &mut LineLabels<'_>) -> Step {
        for name in labels
            .names()
            .into_iter()
            .filter(|n| n != ERROR_LABEL && n != ERROR_DETAILS_LABEL)
        {
            let kept = self
                .items
                .iter()
                .any(|i| i.name == name && i.selects(labels.get(&name)));
            if !kept {
                labels.remove(&name);
            }
        }
        Step::Keep
    }
}
