//! `| line_format "{{.a}}"`: the rendered template becomes the line; a template that fails to
//! render keeps the line and marks it with `TemplateFormatErr`, as Loki does.

use super::{LabelUse, LineStage, Step};
use crate::line_labels::LineLabels;
use crate::logql::Template;

/// The `line_format` stage.
pub(crate) struct LineFormat {
    template: Template,
}

impl LineFormat {
    pub(crate) fn new(template: &Template) -> Self {
        LineFormat {
            template: template.clone(),
        }
    }
}

impl LineStage for LineFormat {
    fn process(&mut self, ts: i64, line: &str, labels: &mut LineLabels<'_>) -> Step {
        let rendered = {
            let all = || labels.pairs_now();
            self.template.render(|k| labels.get(k), all, line, ts)
        };
        match rendered {
            Ok(out) => Step::Rewrite(out),
            Err(details) => {
                labels.set_error("TemplateFormatErr", details);
                Step::Keep
            }
        }
    }

    fn label_use(&self) -> LabelUse {
        LabelUse::Reads
    }
}
