//! Required literals: text that every line a filter keeps contains, so readers can search whole
//! batches of lines for it (one `memmem` pass) before running the filter on the few lines that
//! hold it. A required literal only narrows; the filter still decides, so results never change.

use regex_syntax::hir::{Hir, HirKind};

/// The longest literal that every match of `pattern` (Rust regex syntax, as the regex filters
/// compile it) contains, when there is a non-empty one.
pub fn regex_required_literal(pattern: &str) -> Option<String> {
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let bytes = required(&hir)?;
    String::from_utf8(bytes).ok().filter(|s| !s.is_empty())
}

/// The longest literal every match of `hir` contains.
fn required(hir: &Hir) -> Option<Vec<u8>> {
    match hir.kind() {
        HirKind::Literal(lit) => Some(lit.0.to_vec()),
        HirKind::Capture(c) => required(&c.sub),
        // At least one repetition: the sub-expression's literal is in every match.
        HirKind::Repetition(r) if r.min >= 1 => required(&r.sub),
        HirKind::Concat(subs) => {
            // Consecutive literal parts are contiguous in every match.
            let mut best: Option<Vec<u8>> = None;
            let mut run: Vec<u8> = Vec::new();
            for sub in subs {
                match sub.kind() {
                    HirKind::Literal(lit) => run.extend_from_slice(&lit.0),
                    // Look-arounds (`^`, `$`, `\b`) match no text: the run goes on.
                    HirKind::Look(_) => {}
                    _ => {
                        best = longer(best, std::mem::take(&mut run));
                        best = longer(best, required(sub).unwrap_or_default());
                    }
                }
            }
            longer(best, run)
        }
        _ => None,
    }
}

fn longer(best: Option<Vec<u8>>, candidate: Vec<u8>) -> Option<Vec<u8>> {
    match best {
        Some(b) if b.len() >= candidate.len() => Some(b),
        _ if candidate.is_empty() => None,
        _ => Some(candidate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_every_match_contains() {
        let r = regex_required_literal;
        assert_eq!(
            r(r"Rows_examined: 19999\d\d").as_deref(),
            Some("Rows_examined: 19999")
        );
        assert_eq!(r(r"\d+ ab(cdef)+ x").as_deref(), Some("cdef"));
        assert_eq!(r(r"^GET /api\b").as_deref(), Some("GET /api"));
        assert_eq!(r("needle").as_deref(), Some("needle"));
        // No literal is required by these.
        assert_eq!(r("a|b"), None);
        assert_eq!(r("(?i)error"), None);
        assert_eq!(r(r"(abc)?\d"), None);
        assert_eq!(r("x*"), None);
        assert_eq!(r("("), None);
        assert_eq!(r(""), None);
    }

    #[test]
    fn required_literals_agree_with_the_regex() {
        let patterns = [r"a\.b+c", r"(foo|bar)baz", r"x(yz){2,}w", r"^ab\bcd", r"é+ü"];
        let lines = [
            "a.bbc", "foobaz", "barbaz", "xyzyzw", "xyzw", "ab cd", "abcd", "éü", "ü",
        ];
        for p in patterns {
            let re = regex::Regex::new(p).unwrap();
            let Some(lit) = regex_required_literal(p) else {
                continue;
            };
            for l in lines {
                if re.is_match(l) {
                    assert!(l.contains(&lit), "{p} matches {l} without {lit}");
                }
            }
        }
    }
}
