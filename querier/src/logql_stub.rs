//! Temporary minimal LogQL parser (replaced by the full `logql` module).
#![allow(missing_docs)]
use logq_storage::{LabelMatcher, MatchOp};
use std::fmt;

#[derive(Debug, Clone)]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}
impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return f.write_str(&self.message);
        }
        write!(
            f,
            "parse error at line {}, col {}: {}",
            self.line, self.col, self.message
        )
    }
}
impl std::error::Error for ParseError {}

#[derive(Debug, Clone)]
pub struct LineFilter {
    neg: bool,
    alts: Vec<(String, Option<regex::Regex>)>,
}
impl LineFilter {
    pub fn matches(&self, line: &str) -> bool {
        let any = self.alts.iter().any(|(s, r)| match r {
            Some(r) => r.is_match(line),
            None => line.contains(s.as_str()),
        });
        any != self.neg
    }
}
#[derive(Debug, Clone)]
pub struct LogExpr {
    pub matchers: Vec<LabelMatcher>,
    pub filters: Vec<LineFilter>,
}
impl LogExpr {
    pub fn matches_line(&self, line: &str) -> bool {
        self.filters.iter().all(|f| f.matches(line))
    }
}

fn err(col: usize, m: &str) -> ParseError {
    ParseError {
        line: 1,
        col: col + 1,
        message: m.into(),
    }
}

struct P<'a> {
    s: &'a str,
    i: usize,
}
impl<'a> P<'a> {
    fn ws(&mut self) {
        while self.s[self.i..].starts_with(char::is_whitespace) {
            self.i += self.s[self.i..].chars().next().map_or(1, |c| c.len_utf8());
        }
    }
    fn eat(&mut self, t: &str) -> bool {
        self.ws();
        if self.s[self.i..].starts_with(t) {
            self.i += t.len();
            true
        } else {
            false
        }
    }
    fn ident(&mut self) -> Result<String, ParseError> {
        self.ws();
        let r = &self.s[self.i..];
        let n = r
            .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
            .unwrap_or(r.len());
        if n == 0 {
            return Err(err(
                self.i,
                "syntax error: unexpected token, expecting IDENTIFIER",
            ));
        }
        self.i += n;
        Ok(r[..n].to_string())
    }
    fn string(&mut self) -> Result<String, ParseError> {
        self.ws();
        let start = self.i;
        let r = &self.s[self.i..];
        if let Some(rest) = r.strip_prefix('`') {
            let end = rest
                .find('`')
                .ok_or_else(|| err(start, "literal not terminated"))?;
            self.i += end + 2;
            return Ok(rest[..end].to_string());
        }
        if !r.starts_with('"') {
            return Err(err(start, "syntax error: unexpected token, expecting STRING"));
        }
        let mut out = String::new();
        let mut it = r.char_indices().skip(1);
        while let Some((j, c)) = it.next() {
            match c {
                '"' => {
                    self.i += j + 1;
                    return Ok(out);
                }
                '\\' => match it.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, c)) => out.push(c),
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(err(start, "literal not terminated"))
    }
}

pub fn parse_log_selector(input: &str) -> Result<LogExpr, ParseError> {
    let mut p = P { s: input, i: 0 };
    if !p.eat("{") {
        return Err(err(p.i, "syntax error: unexpected token, expecting {"));
    }
    let mut matchers = Vec::new();
    if !p.eat("}") {
        loop {
            let name = p.ident()?;
            let op = if p.eat("=~") {
                MatchOp::Regex
            } else if p.eat("!~") {
                MatchOp::NotRegex
            } else if p.eat("!=") {
                MatchOp::NotEqual
            } else if p.eat("=") {
                MatchOp::Equal
            } else {
                return Err(err(
                    p.i,
                    "syntax error: unexpected token, expecting = or != or =~ or !~",
                ));
            };
            let at = p.i;
            let v = p.string()?;
            matchers.push(LabelMatcher::new(name, op, v).map_err(|e| err(at, &e.to_string()))?);
            if p.eat(",") {
                continue;
            }
            if p.eat("}") {
                break;
            }
            return Err(err(p.i, "syntax error: unexpected token, expecting , or }"));
        }
    }
    let mut filters = Vec::new();
    loop {
        p.ws();
        if p.i >= input.len() {
            break;
        }
        let (neg, re) = if p.eat("|=") {
            (false, false)
        } else if p.eat("!=") {
            (true, false)
        } else if p.eat("|~") {
            (false, true)
        } else if p.eat("!~") {
            (true, true)
        } else {
            return Err(err(p.i, "syntax error: unexpected token"));
        };
        let mut alts = Vec::new();
        loop {
            let at = p.i;
            let s = p.string()?;
            let r = if re {
                Some(regex::Regex::new(&s).map_err(|e| err(at, &format!("error parsing regexp: {e}")))?)
            } else {
                None
            };
            alts.push((s, r));
            if !p.eat("or") {
                break;
            }
        }
        filters.push(LineFilter { neg, alts });
    }
    if matchers.iter().all(|m| m.matches_empty()) {
        return Err(ParseError { line: 0, col: 0, message: "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will".into() });
    }
    Ok(LogExpr { matchers, filters })
}
