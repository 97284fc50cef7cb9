//! Number literals as Loki reads them: the lexer takes every number Go's `text/scanner`
//! recognises (decimal, `0x` hexadecimal with optional `p` exponent, `0o` octal, `0b` binary,
//! legacy `017`, `_` digit separators), and the value is Go's `strconv.ParseFloat` of that text,
//! so `0x1p3` is 8, `017` is 17, while `0o17`, `0b1010` and `0x1F` (hexadecimal without a `p`
//! exponent) fail with Loki's "unable to parse literal as a float" error. The same conversion
//! reads label values (`inf`, `+Infinity`, `NaN` spellings included).

/// End (byte offset) of the number starting at `start`, scanned as Go's `text/scanner` does,
/// and the scanner's complaint about its form, if any (Loki reports it as a parse error).
pub fn scan_go_number(input: &str, start: usize) -> (usize, Option<String>) {
    let b = input.as_bytes();
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let mut i = start;
    let mut prefix = 0u8;
    let mut base = 10u32;
    let mut digits = false;
    let mut error = None;
    let seen_dot = at(i) == b'.';
    if !seen_dot {
        if at(i) == b'0' {
            i += 1;
            match at(i).to_ascii_lowercase() {
                b'x' => (i, base, prefix) = (i + 1, 16, b'x'),
                b'o' => (i, base, prefix) = (i + 1, 8, b'o'),
                b'b' => (i, base, prefix) = (i + 1, 2, b'b'),
                _ => (base, prefix, digits) = (8, b'0', true),
            }
        }
        let (end, d) = scan_digits(b, i, base);
        i = end;
        digits |= d;
    }
    let mut float = false;
    if at(i) == b'.' {
        float = true;
        i += 1;
        if prefix == b'o' || prefix == b'b' {
            error = Some(format!("invalid radix point in {}", lit_name(prefix)));
        }
        let (end, d) = scan_digits(b, i, base);
        i = end;
        digits |= d;
    }
    if !digits && error.is_none() {
        error = Some(format!("{} has no digits", lit_name(prefix)));
    }
    let e = at(i).to_ascii_lowercase();
    if e == b'e' || e == b'p' {
        if e == b'e' && prefix != 0 && prefix != b'0' {
            error.get_or_insert_with(|| format!("'{}' exponent requires decimal mantissa", at(i) as char));
        } else if e == b'p' && prefix != b'x' {
            error
                .get_or_insert_with(|| format!("'{}' exponent requires hexadecimal mantissa", at(i) as char));
        }
        i += 1;
        if matches!(at(i), b'+' | b'-') {
            i += 1;
        }
        let (end, d) = scan_digits(b, i, 10);
        i = end;
        if !d {
            error.get_or_insert_with(|| "exponent has no digits".to_string());
        }
    } else if prefix == b'x' && float {
        error.get_or_insert_with(|| "hexadecimal mantissa requires a 'p' exponent".to_string());
    }
    (i, error)
}

fn scan_digits(b: &[u8], mut i: usize, base: u32) -> (usize, bool) {
    let mut any = false;
    while let Some(&c) = b.get(i) {
        let ok = if base == 16 {
            c.is_ascii_hexdigit()
        } else {
            c.is_ascii_digit()
        };
        if !(ok || c == b'_') {
            break;
        }
        any |= c != b'_';
        i += 1;
    }
    (i, any)
}

fn lit_name(prefix: u8) -> &'static str {
    match prefix {
        b'x' => "hexadecimal literal",
        b'o' | b'0' => "octal literal",
        b'b' => "binary literal",
        _ => "decimal literal",
    }
}

/// Go's `strconv.ParseFloat(s, 64)`: the value, or Go's error text
/// (`strconv.ParseFloat: parsing "0o17": invalid syntax`, `... value out of range`).
pub fn go_parse_float(s: &str) -> Result<f64, String> {
    let syntax = || format!("strconv.ParseFloat: parsing {s:?}: invalid syntax");
    let (negative, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let special = match lower.as_str() {
        "inf" | "infinity" => Some(f64::INFINITY),
        "nan" if body.len() == s.len() => Some(f64::NAN),
        _ => None,
    };
    if let Some(v) = special {
        return Ok(if negative { -v } else { v });
    }
    if body.starts_with(['+', '-']) || (body.contains('_') && !underscores_ok(body)) {
        return Err(syntax());
    }
    let clean: String = body.chars().filter(|c| *c != '_').collect();
    let v = if let Some(hex) = clean.strip_prefix("0x").or_else(|| clean.strip_prefix("0X")) {
        parse_hex_float(hex).ok_or_else(syntax)?
    } else {
        if clean.is_empty()
            || !clean
                .bytes()
                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return Err(syntax());
        }
        clean.parse::<f64>().map_err(|_| syntax())?
    };
    if v.is_infinite() {
        return Err(format!("strconv.ParseFloat: parsing {s:?}: value out of range"));
    }
    Ok(if negative { -v } else { v })
}

/// `h.hhh p±d` (after `0x`): Go requires the `p` exponent.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = s.split_once(['p', 'P'])?;
    let exp: i32 = match exp.strip_prefix('+') {
        Some(e) => e.parse().ok()?,
        None => exp.parse().ok()?,
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

/// Go's `underscoreOK`: `_` only between digits, or between a base prefix and a digit.
fn underscores_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_as_go_parse_float() {
        let ok = |s: &str| go_parse_float(s).unwrap();
        assert_eq!(ok("0x1p3"), 8.0);
        assert_eq!(ok("0x1.8p1"), 3.0);
        assert_eq!(ok("0X_1P-2"), 0.25);
        assert_eq!(ok("017"), 17.0);
        assert_eq!(ok("1_000.5"), 1000.5);
        assert_eq!(ok("1e3"), 1000.0);
        assert_eq!(ok(".5"), 0.5);
        assert_eq!(ok("+Inf"), f64::INFINITY);
        assert_eq!(ok("-infinity"), f64::NEG_INFINITY);
        assert!(ok("NaN").is_nan());
        for bad in [
            "--5", "0o17", "0b1010", "0x1F", "1__0", "_1", "+nan", "1e", "0x", "abc", "",
        ] {
            assert_eq!(
                go_parse_float(bad).unwrap_err(),
                format!("strconv.ParseFloat: parsing {bad:?}: invalid syntax"),
                "{bad}"
            );
        }
        assert_eq!(
            go_parse_float("1e400").unwrap_err(),
            "strconv.ParseFloat: parsing \"1e400\": value out of range"
        );
    }

    #[test]
    fn scanning_as_go_text_scanner() {
        let end = |s: &str| scan_go_number(s, 0);
        assert_eq!(end("0x1p3 "), (5, None));
        assert_eq!(end("0o17)"), (4, None));
        assert_eq!(end("0b1010"), (6, None));
        assert_eq!(end("0x1F"), (4, None));
        assert_eq!(end("1_000.5e-3,"), (10, None));
        assert_eq!(end("12.5"), (4, None));
        assert_eq!(
            end("0x1.8").1.as_deref(),
            Some("hexadecimal mantissa requires a 'p' exponent")
        );
        assert_eq!(
            end("0b1.1").1.as_deref(),
            Some("invalid radix point in binary literal")
        );
        assert_eq!(end("0x").1.as_deref(), Some("hexadecimal literal has no digits"));
    }
}
