//! `| decolorize`: removes ANSI colour escape sequences (`ESC [ ... letter`) from the line.

use super::{LineStage, Step};
use crate::line_labels::LineLabels;

/// The `decolorize` stage.
pub(crate) struct Decolorize;

impl LineStage for Decolorize {
    fn process(&mut self, _ts: i64, line: &str, _labels: &mut LineLabels<'_>) -> Step {
        let clean = decolorize(line);
        if clean.len() != line.len() {
            Step::Rewrite(clean)
        } else {
            Step::Keep
        }
    }
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
fn decolorize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for n in chars.by_ref() {
                if n.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
