//! The subset of Go templates that `line_format` and `label_format` accept: literal text,
//! `{{.label}}`, `{{__line__}}`, `{{__timestamp__}}` and the one-argument functions `ToUpper`,
//! `ToLower`, `upper`, `lower`, `title`, `trim`, `trimSpace`. Anything else is rejected when the
//! query is parsed, never silently misrendered.

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Value { func: Option<Func>, source: Source },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Label(String),
    Line,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Upper,
    Lower,
    Title,
    Trim,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The source text.
    pub text: String,
    segments: Vec<Segment>,
}

impl Template {
    /// Parses a template; the error names the unsupported part.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut segments = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                segments.push(Segment::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("unclosed action in template {text:?}"))?;
            let action = after[..close]
                .trim()
                .trim_start_matches('-')
                .trim_end_matches('-')
                .trim();
            segments.push(parse_action(action)?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Text(rest.to_string()));
        }
        Ok(Template {
            text: text.to_string(),
            segments,
        })
    }

    /// Renders with `get` looking labels up.
    pub fn render<'a>(&self, get: impl Fn(&str) -> Option<&'a str>, line: &str, ts: i64) -> String {
        let mut out = String::new();
        for s in &self.segments {
            match s {
                Segment::Text(t) => out.push_str(t),
                Segment::Value { func, source } => {
                    let ts_text;
                    let v = match source {
                        Source::Label(name) => get(name).unwrap_or(""),
                        Source::Line => line,
                        Source::Timestamp => {
                            ts_text = ts.to_string();
                            &ts_text
                        }
                    };
                    match func {
                        None => out.push_str(v),
                        Some(Func::Upper) => out.push_str(&v.to_uppercase()),
                        Some(Func::Lower) => out.push_str(&v.to_lowercase()),
                        Some(Func::Trim) => out.push_str(v.trim()),
                        Some(Func::Title) => {
                            let mut up = true;
                            for c in v.chars() {
                                if up {
                                    out.extend(c.to_uppercase());
                                } else {
                                    out.push(c);
                                }
                                up = c.is_whitespace();
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

fn parse_source(s: &str) -> Result<Source, String> {
    match s {
        "__line__" => Ok(Source::Line),
        "__timestamp__" => Ok(Source::Timestamp),
        _ => match s.strip_prefix('.') {
            Some(name) if !name.is_empty() && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()) => {
                Ok(Source::Label(name.to_string()))
            }
            _ => Err(format!("unsupported template expression {s:?}")),
        },
    }
}

fn parse_action(action: &str) -> Result<Segment, String> {
    let parts: Vec<&str> = action.split_whitespace().collect();
    match parts.as_slice() {
        [one] => Ok(Segment::Value {
            func: None,
            source: parse_source(one)?,
        }),
        [f, arg] => {
            let func = match *f {
                "ToUpper" | "upper" => Func::Upper,
                "ToLower" | "lower" => Func::Lower,
                "title" | "Title" => Func::Title,
                "trim" | "trimSpace" | "TrimSpace" => Func::Trim,
                other => return Err(format!("unsupported template function {other:?}")),
            };
            Ok(Segment::Value {
                func: Some(func),
                source: parse_source(arg)?,
            })
        }
        _ => Err(format!("unsupported template action {{{{{action}}}}}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labels_line_and_functions() {
        let t = Template::parse("{{.method}} {{ ToLower .path }} [{{__line__}}] {{.missing}}!").unwrap();
        let get = |k: &str| match k {
            "method" => Some("GET"),
            "path" => Some("/A"),
            _ => None,
        };
        assert_eq!(t.render(get, "raw", 0), "GET /a [raw] !");
        assert!(Template::parse("{{ printf \"%d\" .x }}")
            .unwrap_err()
            .contains("unsupported"));
        assert!(Template::parse("{{ if .x }}y{{ end }}").is_err());
        assert!(Template::parse("{{.x").is_err());
    }
}
