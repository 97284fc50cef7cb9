//! `| distinct a, b`: Loki's `distinctFilter`. A line missing one of the labels passes; a line
//! with a value already seen for one of them is dropped; otherwise its values are recorded and
//! it passes. What was seen belongs to this stage object, i.e. to one execution of the query:
//! two executions (two polls of a tail, a query run twice) never share it.

use std::collections::{HashMap, HashSet};

use super::{LabelUse, LineStage, Step};
use crate::line_labels::LineLabels;

/// The `distinct` stage and the values it has seen in this execution.
pub(crate) struct Distinct {
    labels: Vec<String>,
    seen: HashMap<String, HashSet<String>>,
}

impl Distinct {
    pub(crate) fn new(labels: &[String]) -> Self {
        Distinct {
            labels: labels.to_vec(),
            seen: HashMap::new(),
        }
    }

    fn keep(&mut self, labels: &LineLabels<'_>) -> bool {
        let mut keep = false;
        for label in &self.labels {
            let Some(value) = labels.get(label) else {
                return true;
            };
            let values = self.seen.entry(label.clone()).or_default();
            if values.contains(value) {
                return false;
            }
            values.insert(value.to_string());
            keep = true;
        }
        keep
    }
}

impl LineStage for Distinct {
    fn process(&mut self, _ts: i64, _line: &str, labels: &mut LineLabels<'_>) -> Step {
        if self.keep(labels) {
            Step::Keep
        } else {
            Step::Drop
        }
    }

    fn label_use(&self) -> LabelUse {
        LabelUse::Reads
    }
}

#[cfg(test)]
mod tests {
    use logq_storage::LabelSet;

    use super::*;

    #[test]
    fn values_are_remembered_per_stage_object() {
        let stream = LabelSet::parse(r#"{level="info"}"#).unwrap();
        let mut first = Distinct::new(&["level".to_string()]);
        let mut labels = LineLabels::with_metadata(&stream, &[]);
        assert!(matches!(first.process(0, "a", &mut labels), Step::Keep));
        assert!(matches!(first.process(1, "b", &mut labels), Step::Drop));
        // A new execution starts with nothing seen.
        let mut second = Distinct::new(&["level".to_string()]);
        assert!(matches!(second.process(2, "c", &mut labels), Step::Keep));
        // A line without the label passes.
        let bare = LabelSet::default();
        let mut without = LineLabels::with_metadata(&bare, &[]);
        assert!(matches!(second.process(3, "d", &mut without), Step::Keep));
    }
}
