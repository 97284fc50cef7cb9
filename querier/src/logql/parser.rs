//! Recursive-descent LogQL parser over the lexer's tokens. Errors name the unexpected token and
//! what was expected, at its line and column, in Loki's wording.

use logq_storage::{LabelMatcher, MatchOp};

use super::ast::{Expr, LineFilter, LineFilterOp, LogExpr, Stage};
use super::error::ParseError;
use super::lexer::{tokenize, Tok, Token};

/// Loki's message for selectors that would select every stream.
pub const EMPTY_SELECTOR: &str =
    "queries require at least one regexp or equality matcher that does not have an \
empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token {
        // tokenize always ends with Eof, and `advance` never moves past it.
        &self.tokens[self.i.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.i += 1;
        }
        t
    }

    fn unexpected(&self, expecting: &str) -> ParseError {
        let t = self.peek();
        ParseError::at(
            self.input,
            t.pos,
            format!(
                "syntax error: unexpected {}, expecting {expecting}",
                t.tok.describe()
            ),
        )
    }

    fn expect_op(&mut self, op: &'static str) -> Result<(), ParseError> {
        if self.peek().tok == Tok::Op(op) {
            self.advance();
            Ok(())
        } else {
            Err(self.unexpected(op))
        }
    }

    fn string(&mut self) -> Result<(String, usize), ParseError> {
        match self.peek().tok.clone() {
            Tok::Str(s) => {
                let pos = self.advance().pos;
                Ok((s, pos))
            }
            _ => Err(self.unexpected("STRING")),
        }
    }

    fn selector(&mut self) -> Result<Vec<LabelMatcher>, ParseError> {
        self.expect_op("{")?;
        let mut matchers = Vec::new();
        if self.peek().tok == Tok::Op("}") {
            self.advance();
            return Ok(matchers);
        }
        loop {
            let name = match self.peek().tok.clone() {
                Tok::Ident(n) => {
                    self.advance();
                    n
                }
                _ => return Err(self.unexpected("IDENTIFIER")),
            };
            let op = match self.peek().tok {
                Tok::Op("=") => MatchOp::Equal,
                Tok::Op("!=") => MatchOp::NotEqual,
                Tok::Op("=~") => MatchOp::Regex,
                Tok::Op("!~") => MatchOp::NotRegex,
                _ => return Err(self.unexpected("= or != or =~ or !~")),
            };
            self.advance();
            let (value, pos) = self.string()?;
            let m = LabelMatcher::new(name, op, value).map_err(|e| {
                ParseError::at(self.input, pos, format!("error parsing regexp: {}", e.reason))
            })?;
            matchers.push(m);
            match self.peek().tok {
                Tok::Op(",") => {
                    self.advance();
                }
                Tok::Op("}") => {
                    self.advance();
                    return Ok(matchers);
                }
                _ => return Err(self.unexpected(", or }")),
            }
        }
    }

    fn line_filter(&mut self, op: LineFilterOp) -> Result<Stage, ParseError> {
        let mut alternatives = Vec::new();
        let (first, pos) = self.string()?;
        alternatives.push(first);
        while self.peek().tok == Tok::Ident("or".into()) {
            self.advance();
            alternatives.push(self.string()?.0);
        }
        LineFilter::new(op, alternatives)
            .map(Stage::LineFilter)
            .map_err(|e| ParseError::at(self.input, pos, format!("error parsing regexp: {e}")))
    }

    fn log_expr(&mut self) -> Result<LogExpr, ParseError> {
        let matchers = self.selector()?;
        let mut pipeline = Vec::new();
        loop {
            let op = match self.peek().tok {
                Tok::Op("|=") => LineFilterOp::Contains,
                Tok::Op("!=") => LineFilterOp::NotContains,
                Tok::Op("|~") => LineFilterOp::Regex,
                Tok::Op("!~") => LineFilterOp::NotRegex,
                Tok::Eof => break,
                Tok::Op("|") => {
                    self.advance();
                    let t = self.peek();
                    return Err(ParseError::at(
                        self.input,
                        t.pos,
                        format!("syntax error: unsupported pipeline stage {}: only line filters are implemented yet", t.tok.describe()),
                    ));
                }
                _ => return Err(self.unexpected("|= or != or |~ or !~")),
            };
            self.advance();
            pipeline.push(self.line_filter(op)?);
        }
        Ok(LogExpr { matchers, pipeline })
    }
}

/// Parses a LogQL query.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let tokens = tokenize(input)?;
    let mut p = Parser { input, tokens, i: 0 };
    let expr = match p.peek().tok {
        Tok::Op("{") => Expr::Log(p.log_expr()?),
        _ => return Err(p.unexpected("{")),
    };
    if p.peek().tok != Tok::Eof {
        return Err(p.unexpected("$end"));
    }
    match &expr {
        Expr::Log(l) if l.matchers.iter().all(LabelMatcher::matches_empty) => {
            Err(ParseError::whole(EMPTY_SELECTOR))
        }
        _ => Ok(expr),
    }
}

/// Parses a query that must be a log query (a selector with an optional pipeline).
pub fn parse_log_selector(input: &str) -> Result<LogExpr, ParseError> {
    match parse(input)? {
        Expr::Log(l) => Ok(l),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines<'a>(q: &str, input: &[&'a str]) -> Vec<&'a str> {
        let e = parse_log_selector(q).unwrap();
        input.iter().copied().filter(|l| e.matches_line(l)).collect()
    }

    #[test]
    fn selectors_with_every_operator() {
        let e = parse_log_selector("{app=\"a\", env!=\"dev\", host=~\"web-.+\", dc!~`eu.*`}").unwrap();
        let ops: Vec<MatchOp> = e.matchers.iter().map(|m| m.op).collect();
        assert_eq!(
            ops,
            [
                MatchOp::Equal,
                MatchOp::NotEqual,
                MatchOp::Regex,
                MatchOp::NotRegex
            ]
        );
        assert_eq!(e.matchers[3].value, "eu.*");
    }

    #[test]
    fn line_filters_and_alternatives() {
        let input = ["GET /a 200", "POST /b 500", "get /c 404"];
        assert_eq!(lines(r#"{a="b"} |= "GET""#, &input), ["GET /a 200"]);
        assert_eq!(
            lines(r#"{a="b"} |= "GET" or "POST""#, &input),
            ["GET /a 200", "POST /b 500"]
        );
        assert_eq!(lines(r#"{a="b"} != "GET" or "POST""#, &input), ["get /c 404"]);
        assert_eq!(
            lines(r#"{a="b"} |~ "(?i)^get""#, &input),
            ["GET /a 200", "get /c 404"]
        );
        assert_eq!(lines(r#"{a="b"} !~ "[45]0[04]" |= "/""#, &input), ["GET /a 200"]);
        assert_eq!(
            lines("{a=\"b\"}\n  # only errors\n  |~ `5\\d\\d`", &input),
            ["POST /b 500"]
        );
    }

    #[test]
    fn errors_in_lokis_words() {
        let err = |q: &str| parse(q).unwrap_err().to_string();
        assert_eq!(
            err("{app=\"x}"),
            "parse error at line 1, col 6: literal not terminated"
        );
        assert_eq!(
            err("{app=\"x\"} |= "),
            "parse error at line 1, col 14: syntax error: unexpected $end, expecting STRING"
        );
        assert_eq!(
            err(""),
            "parse error at line 1, col 1: syntax error: unexpected $end, expecting {"
        );
        assert_eq!(
            err("{app=\"x\"}\n| json"),
            "parse error at line 2, col 3: syntax error: unsupported pipeline stage IDENTIFIER \"json\": only line filters are implemented yet"
        );
        assert!(err("{app=~\"(\"}").starts_with("parse error at line 1, col 7: error parsing regexp"));
        assert!(
            err("{app=\"x\"} |~ \"[\"").starts_with("parse error at line 1, col 14: error parsing regexp")
        );
        assert!(err("{app=\"x\" env=\"y\"}").contains("expecting , or }"));
        assert!(err("{app=\"x\"} |= \"a\" \"b\"")
            .contains("unexpected STRING \"b\", expecting |= or != or |~ or !~"));
        assert_eq!(err("{}"), EMPTY_SELECTOR);
        assert_eq!(err("{app=~\".*\"}"), EMPTY_SELECTOR);
        assert!(parse("{app=~\".+\"}").is_ok());
    }

    #[test]
    fn display_round_trips() {
        for q in [
            r#"{app="a\"b", env!="x"}"#,
            "{app=~\"web|db\"} |= \"x\" or \"y\" != \"z\\n\" |~ \"(?i)err\" !~ `\\d+`",
        ] {
            let once = parse(q).unwrap().to_string();
            let twice = parse(&once).unwrap().to_string();
            assert_eq!(once, twice, "{q}");
        }
    }

    #[test]
    fn never_panics_on_garbage() {
        let seeds = [
            "{app=\"x\"} |= \"a\" or \"b\"",
            "{a=~`x`} !~ \"\\u00e9\"",
            "{é=\"\\x\"}",
        ];
        let alphabet: Vec<char> = "{}[]()\"`\\|=!~<>,.#\n 0123456789aé_-+*/%^orby".chars().collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..5000 {
            let mut s: Vec<char> = seeds[round % seeds.len()].chars().collect();
            for _ in 0..(next() % 6) {
                let at = (next() as usize) % (s.len() + 1);
                match next() % 3 {
                    0 if at < s.len() => {
                        s.remove(at);
                    }
                    _ => s.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                }
            }
            let q: String = s.into_iter().collect();
            let _ = parse(&q);
        }
    }
}
