//! LogQL tokens with their positions. The lexer knows every token of the language (so the
//! parser can grow without touching it) and reports unterminated strings and stray characters
//! with the line and column where they start.

use super::error::ParseError;
use super::number::scan_go_number;

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An identifier or keyword (`json`, `by`, `or`, `rate`, label names).
    Ident(String),
    /// A string literal, quotes removed and escapes applied.
    Str(String),
    /// A number (`5`, `0.5`, `1e3`).
    Number(String),
    /// A duration (`5m`, `1h30m`, `250ms`).
    Duration(String),
    /// Punctuation and operators, as written (`{`, `|=`, `!~`, `==`, ...).
    Op(&'static str),
    /// End of input.
    Eof,
}

impl Tok {
    /// How Loki names the token in "unexpected ..." messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("IDENTIFIER {s:?}"),
            Tok::Str(s) => format!("STRING {s:?}"),
            Tok::Number(n) => format!("NUMBER {n}"),
            Tok::Duration(d) => format!("DURATION {d}"),
            Tok::Op(o) => (*o).to_string(),
            Tok::Eof => "$end".into(),
        }
    }
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Byte offset in the input.
    pub pos: usize,
}

/// Operators, longest first so that `|=` wins over `|`.
const OPS: [&str; 28] = [
    "|=", "|~", "|>", "!=", "!~", "!>", "=~", "==", "<=", ">=", "{", "}", "(", ")", "[", "]", ",", "|", "=",
    "<", ">", "+", "-", "*", "/", "%", "^", "@",
];

const DURATION_UNITS: [&str; 9] = ["ns", "us", "µs", "ms", "s", "m", "h", "d", "w"];

/// Splits `input` into tokens, ending with [`Tok::Eof`].
pub fn tokenize(input: &str) -> Result<Vec<Token>, ParseError> {
    let mut out = Vec::new();
    let bytes = input.as_bytes();
    let mut i = 0;
    while i < input.len() {
        let c = input[i..].chars().next().unwrap_or(' ');
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        if c == '#' {
            i = input[i..].find('\n').map_or(input.len(), |n| i + n);
            continue;
        }
        let start = i;
        if c == '"' {
            let (s, end) = lex_quoted(input, i)?;
            out.push(Token {
                tok: Tok::Str(s),
                pos: start,
            });
            i = end;
        } else if c == '`' {
            let end = input[i + 1..]
                .find('`')
                .ok_or_else(|| ParseError::at(input, start, "literal not terminated"))?;
            out.push(Token {
                tok: Tok::Str(input[i + 1..i + 1 + end].to_string()),
                pos: start,
            });
            i += end + 2;
        } else if c.is_ascii_digit() || (c == '.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let (tok, end) = lex_number_or_duration(input, i)?;
            out.push(Token { tok, pos: start });
            i = end;
        } else if c == '_' || c.is_ascii_alphabetic() {
            let end = input[i..]
                .find(|ch: char| !(ch == '_' || ch == ':' || ch.is_ascii_alphanumeric()))
                .map_or(input.len(), |n| i + n);
            out.push(Token {
                tok: Tok::Ident(input[i..end].to_string()),
                pos: start,
            });
            i = end;
        } else if let Some(op) = OPS.iter().find(|op| input[i..].starts_with(**op)) {
            out.push(Token {
                tok: Tok::Op(op),
                pos: start,
            });
            i += op.len();
        } else {
            return Err(ParseError::at(
                input,
                start,
                format!("syntax error: unexpected character {c:?}"),
            ));
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: input.len(),
    });
    Ok(out)
}

/// Lexes a double-quoted string with Go escapes starting at `start`; returns it and the end.
fn lex_quoted(input: &str, start: usize) -> Result<(String, usize), ParseError> {
    let mut out = String::new();
    let mut chars = input[start + 1..].char_indices();
    let unterminated = || ParseError::at(input, start, "literal not terminated");
    while let Some((j, c)) = chars.next() {
        match c {
            '"' => return Ok((out, start + 1 + j + 1)),
            '\n' => return Err(unterminated()),
            '\\' => {
                let (k, e) = chars.next().ok_or_else(unterminated)?;
                let esc_pos = start + 1 + k - 1;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = (0..n).filter_map(|_| chars.next().map(|(_, h)| h)).collect();
                        // `\xNN` is a raw byte in Go: only ASCII keeps the string valid UTF-8.
                        let ch = u32::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|v| hex.len() == n && (e != 'x' || *v < 0x80))
                            .and_then(char::from_u32)
                            .ok_or_else(|| {
                                ParseError::at(input, esc_pos, "invalid syntax: bad escape in string")
                            })?;
                        out.push(ch);
                    }
                    _ => {
                        return Err(ParseError::at(
                            input,
                            esc_pos,
                            "invalid syntax: unknown escape sequence in string",
                        ))
                    }
                }
            }
            c => out.push(c),
        }
    }
    Err(unterminated())
}

/// Lexes numbers as Go's scanner does (`5`, `0.5`, `1e3`, `0x1p3`, `0o17`, `1_000`; see
/// [`scan_go_number`]) and `5m`, `1h30m` as durations.
fn lex_number_or_duration(input: &str, start: usize) -> Result<(Tok, usize), ParseError> {
    let digits_end = |from: usize| {
        input[from..]
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .map_or(input.len(), |n| from + n)
    };
    let mut end = digits_end(start);
    // A duration: digits followed by a unit, possibly repeated (1h30m).
    let mut is_duration = false;
    let mut probe = end;
    while let Some(unit) = DURATION_UNITS
        .iter()
        .filter(|u| input[probe..].starts_with(**u))
        .max_by_key(|u| u.len())
    {
        let after = probe + unit.len();
        // `5m` but not `5min` or `5mx`: the unit must not run into an identifier.
        if input[after..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            break;
        }
        is_duration = true;
        end = after;
        if !input[after..].starts_with(|c: char| c.is_ascii_digit()) {
            break;
        }
        probe = digits_end(after);
        end = probe;
    }
    if is_duration {
        return Ok((Tok::Duration(input[start..end].to_string()), end));
    }
    let (end, complaint) = scan_go_number(input, start);
    if let Some(message) = complaint {
        return Err(ParseError::at(input, start, message));
    }
    Ok((Tok::Number(input[start..end].to_string()), end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens_of_the_whole_language() {
        assert_eq!(
            toks(r#"sum by (app) (rate({a=~"x"} |= `y` | json [5m])) > 0.5"#),
            vec![
                Tok::Ident("sum".into()),
                Tok::Ident("by".into()),
                Tok::Op("("),
                Tok::Ident("app".into()),
                Tok::Op(")"),
                Tok::Op("("),
                Tok::Ident("rate".into()),
                Tok::Op("("),
                Tok::Op("{"),
                Tok::Ident("a".into()),
                Tok::Op("=~"),
                Tok::Str("x".into()),
                Tok::Op("}"),
                Tok::Op("|="),
                Tok::Str("y".into()),
                Tok::Op("|"),
                Tok::Ident("json".into()),
                Tok::Op("["),
                Tok::Duration("5m".into()),
                Tok::Op("]"),
                Tok::Op(")"),
                Tok::Op(")"),
                Tok::Op(">"),
                Tok::Number("0.5".into()),
                Tok::Eof,
            ]
        );
        assert_eq!(
            toks("1h30m 250ms 1e3 7"),
            vec![
                Tok::Duration("1h30m".into()),
                Tok::Duration("250ms".into()),
                Tok::Number("1e3".into()),
                Tok::Number("7".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn go_number_literals_are_single_tokens() {
        assert_eq!(
            toks("0x1p3 0o17 0b1010 0x1F 1_000 017 2.5e-3"),
            vec![
                Tok::Number("0x1p3".into()),
                Tok::Number("0o17".into()),
                Tok::Number("0b1010".into()),
                Tok::Number("0x1F".into()),
                Tok::Number("1_000".into()),
                Tok::Number("017".into()),
                Tok::Number("2.5e-3".into()),
                Tok::Eof
            ]
        );
        let e = tokenize("1 + 0x1.8").unwrap_err();
        assert_eq!(
            e.to_string(),
            "parse error at line 1, col 5: hexadecimal mantissa requires a 'p' exponent"
        );
    }

    #[test]
    fn escapes_and_comments() {
        assert_eq!(
            toks(r#""a\"b\\c\n\u00e9" # comment"#),
            vec![Tok::Str("a\"b\\c\n\u{e9}".into()), Tok::Eof]
        );
        assert_eq!(toks("`raw \\d+`"), vec![Tok::Str("raw \\d+".into()), Tok::Eof]);
    }

    #[test]
    fn errors_carry_positions() {
        let e = tokenize("{app=\"x}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "parse error at line 1, col 6: literal not terminated"
        );
        let e = tokenize("{a=\"b\"}\n  |= `x").unwrap_err();
        assert_eq!((e.line, e.col), (2, 6));
        let e = tokenize("{a=\"b\"} $").unwrap_err();
        assert_eq!((e.line, e.col), (1, 9));
        assert!(tokenize(r#""\q""#).is_err());
        assert!(tokenize(r#""\u12""#).is_err());
        assert!(
            tokenize(r#""\xff""#).is_err(),
            "a raw non-ASCII byte is not UTF-8"
        );
        assert_eq!(toks(r#""\x41""#), vec![Tok::Str("A".into()), Tok::Eof]);
    }
}
