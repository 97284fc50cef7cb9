//! `| label_format a=b, c="{{.d}}"`: renames and templated labels. Loki's `LabelsFormatter`:
//! templates see the labels as they were at the first template of the stage; a rename sets the
//! new name, then deletes the old one.

use super::{LabelUse, LineStage, Step};
use crate::line_labels::LineLabels;
use crate::logql::LabelFormat as Item;

/// The `label_format` stage.
pub(crate) struct LabelFormat {
    items: Vec<Item>,
}

impl LabelFormat {
    pub(crate) fn new(items: &[Item]) -> Self {
        LabelFormat {
            items: items.to_vec(),
        }
    }
}

impl LineStage for LabelFormat {
    fn process(&mut self, ts: i64, line: &str, labels: &mut LineLabels<'_>) -> Step {
        let mut snapshot: Option<Vec<(String, String)>> = None;
        for item in &self.items {
            match item {
                Item::Rename { to, from } => {
                    if let Some(v) = labels.get(from).map(str::to_string) {
                        labels.set(to.clone(), v);
                        labels.remove(from);
                    }
                }
                Item::Template { to, template } => {
                    let seen = snapshot.get_or_insert_with(|| labels.pairs_now());
                    let get = |k: &str| seen.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
                    let all = || seen.clone();
                    match template.render(get, all, line, ts) {
                        Ok(v) => labels.set(to.clone(), v),
                        Err(details) => labels.set_error("TemplateFormatErr", details),
                    }
                }
            }
        }
        Step::Keep
    }

    fn label_use(&self) -> LabelUse {
        LabelUse::Reads
    }
}
