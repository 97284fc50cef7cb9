//! The `pattern` parser: `<name>` captures and `<_>` placeholders between literal text, as in
//! Loki (`<ip> - - [<_>] "<method> <uri> <_>"`). A line that does not fit extracts nothing.

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The source text.
    pub text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Capture(Option<String>),
}

impl Pattern {
    /// Parses a pattern for the `pattern` parser: it needs at least one named capture.
    pub fn parse(text: &str) -> Result<Self, String> {
        let p = Self::parse_filter(text)?;
        if !p.parts.iter().any(|part| matches!(part, Part::Capture(Some(_)))) {
            return Err(format!(
                "invalid pattern {text:?}: at least one named capture is required"
            ));
        }
        Ok(p)
    }

    /// Parses a pattern for the `|>` / `!>` line filters (`<_>` placeholders suffice).
    pub fn parse_filter(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let capture = rest
                .strip_prefix('<')
                .and_then(|r| r.find('>').map(|end| &r[..end]))
                .filter(|name| {
                    name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()) && !name.is_empty()
                });
            if let Some(name) = capture {
                if matches!(parts.last(), Some(Part::Capture(_))) {
                    return Err(format!(
                        "invalid pattern {text:?}: consecutive captures must be separated by literal text"
                    ));
                }
                parts.push(Part::Capture((name != "_").then(|| name.to_string())));
                rest = &rest[name.len() + 2..];
            } else {
                let next = rest[1..].find('<').map_or(rest.len(), |i| i + 1);
                match parts.last_mut() {
                    Some(Part::Literal(l)) => l.push_str(&rest[..next]),
                    _ => parts.push(Part::Literal(rest[..next].to_string())),
                }
                rest = &rest[next..];
            }
        }
        Ok(Pattern {
            text: text.to_string(),
            parts,
        })
    }

    /// The literal text between placeholders: every line that fits holds each of them.
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Literal(l) => Some(l.as_str()),
            Part::Capture(_) => None,
        })
    }

    /// Matches `line`; returns the named captures, or nothing when the line does not fit.
    pub fn captures(&self, line: &str) -> Vec<(String, String)> {
        self.match_line(line).unwrap_or_default()
    }

    /// Whether `line` fits the pattern.
    pub fn matches(&self, line: &str) -> bool {
        self.match_line(line).is_some()
    }

    fn match_line(&self, line: &str) -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        let mut pos = 0;
        let mut pending: Option<&Option<String>> = None;
        for part in &self.parts {
            match part {
                Part::Literal(lit) => {
                    let found = if pending.is_some() {
                        line[pos..].find(lit.as_str())
                    } else {
                        line[pos..].starts_with(lit.as_str()).then_some(0)
                    };
                    let at = found?;
                    if let Some(Some(name)) = pending.take() {
                        out.push((name.clone(), line[pos..pos + at].to_string()));
                    }
                    pending = None;
                    pos += at + lit.len();
                }
                Part::Capture(name) => pending = Some(name),
            }
        }
        match pending {
            Some(Some(name)) => out.push((name.clone(), line[pos..].to_string())),
            Some(None) => {}
            // A pattern ending in literal text must end the line there.
            None if pos != line.len() => return None,
            None => {}
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_fields_of_an_access_log() {
        let p = Pattern::parse(r#"<ip> - - [<_>] "<method> <uri> <_>" <status> <size>"#).unwrap();
        let got = p.captures(r#"10.0.0.1 - - [24/Nov/2026:10:00:00 +0000] "GET /api?q=1 HTTP/1.1" 200 512"#);
        let want: Vec<(String, String)> = [
            ("ip", "10.0.0.1"),
            ("method", "GET"),
            ("uri", "/api?q=1"),
            ("status", "200"),
            ("size", "512"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(got, want);
        assert!(p.captures("something else entirely").is_empty());
        assert!(Pattern::parse("<a><b>").is_err());
        assert!(Pattern::parse("no captures").is_err());
        let f = Pattern::parse_filter("<_> error <_>").unwrap();
        assert!(f.matches("disk error on sda"));
        assert!(!f.matches("all good"));
        assert!(!Pattern::parse_filter("start <_> end")
            .unwrap()
            .matches("start x end and more"));
    }
}
