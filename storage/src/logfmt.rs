//! The logfmt scanner, one for every reader of logfmt lines (the LogQL `logfmt` parser, Loki 3's
//! ingest-time level detection): `key=value key="quoted \"value\"" flag`.
//!
//! Rules (Loki's `logfmt` decoder): pairs are separated by whitespace; a key runs to `=` or
//! whitespace; a value runs to whitespace, or is a double-quoted string where `\n`, `\t` and `\x`
//! (any other character) are escapes; a key without `=` has the empty value. Errors: an
//! an unterminated quoted value (the scan stops there), and `=` with no key before it (the
//! pair is skipped; strict readers stop).

use std::borrow::Cow;

/// A logfmt line that cannot be read past some point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogfmtError {
    /// A quoted value has no closing quote.
    #[error("unterminated quoted value for key {0:?}")]
    Unterminated(String),
    /// `=` appears where a key should start.
    #[error("unexpected '=' without a key")]
    MissingKey,
}

/// The pairs of a logfmt line, in order.
pub fn pairs(line: &str) -> Pairs<'_> {
    Pairs {
        rest: line.trim_start(),
        failed: false,
    }
}

/// Iterator over the (key, value) pairs of a line; see [`pairs`].
#[derive(Debug, Clone)]
pub struct Pairs<'a> {
    rest: &'a str,
    failed: bool,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = Result<(&'a str, Cow<'a, str>), LogfmtError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let rest = self.rest;
        let key_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = &rest[..key_end];
        let mut after = &rest[key_end..];
        let value = match after.strip_prefix('=') {
            Some(r) => match r.strip_prefix('"') {
                Some(q) => match unquote(q) {
                    Some((v, tail)) => {
                        after = tail;
                        v
                    }
                    None => {
                        self.failed = true;
                        return Some(Err(LogfmtError::Unterminated(key.to_string())));
                    }
                },
                None => {
                    let end = r.find(char::is_whitespace).unwrap_or(r.len());
                    after = &r[end..];
                    Cow::Borrowed(&r[..end])
                }
            },
            None => Cow::Borrowed(""),
        };
        self.rest = after.trim_start();
        if key.is_empty() {
            return Some(Err(LogfmtError::MissingKey));
        }
        Some(Ok((key, value)))
    }
}

/// A quoted value after its opening quote: the value and what follows the closing quote.
fn unquote(s: &str) -> Option<(Cow<'_, str>, &str)> {
    let close = s.find(['"', '\\'])?;
    if s.as_bytes()[close] == b'"' {
        return Some((Cow::Borrowed(&s[..close]), &s[close + 1..]));
    }
    let mut out = String::from(&s[..close]);
    let mut chars = s[close..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((Cow::Owned(out), &s[close + i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(line: &str) -> Vec<Result<(String, String), LogfmtError>> {
        pairs(line)
            .map(|r| r.map(|(k, v)| (k.to_string(), v.into_owned())))
            .collect()
    }

    fn ok(k: &str, v: &str) -> Result<(String, String), LogfmtError> {
        Ok((k.to_string(), v.to_string()))
    }

    #[test]
    fn pairs_quotes_escapes_and_flags() {
        assert_eq!(
            all(r#"  level=info msg="disk \"sda\" full\n" retry flag= x=1"#),
            vec![
                ok("level", "info"),
                ok("msg", "disk \"sda\" full\n"),
                ok("retry", ""),
                ok("flag", ""),
                ok("x", "1")
            ]
        );
        assert_eq!(all(""), vec![]);
    }

    #[test]
    fn errors_stop_the_scan() {
        assert_eq!(
            all(r#"a=1 b="open x=2"#),
            vec![ok("a", "1"), Err(LogfmtError::Unterminated("b".into()))]
        );
        assert_eq!(all("=3 a=1"), vec![Err(LogfmtError::MissingKey), ok("a", "1")]);
    }
}
