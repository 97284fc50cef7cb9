//! The raw text of a value at a JSON path (`json label="a.b[0]"`), as Loki's
//! `JSONExpressionParser` reads it with `jsonparser.EachKey`: strings unescaped, `null` as "",
//! numbers, booleans, objects and arrays as written in the line (`1.50` stays `1.50`).
//!
//! The line is known to be a valid JSON object (checked before); a path that does not exist
//! gives `None`.

use crate::logql::JsonPathStep;

/// The value at `path` in `line`, or `None` when the path is missing.
pub(crate) fn value_at(line: &str, path: &[JsonPathStep]) -> Option<String> {
    let b = line.as_bytes();
    let mut pos = ws(b, 0);
    for step in path {
        pos = match step {
            JsonPathStep::Key(k) => field(line, pos, k)?,
            JsonPathStep::Index(i) => element(b, pos, *i)?,
        };
    }
    let end = value_end(b, pos)?;
    let raw = &line[pos..end];
    Some(match b[pos] {
        b'"' => serde_json::from_str::<String>(raw).unwrap_or_default(),
        b'n' => String::new(),
        _ => raw.to_string(),
    })
}

fn ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The end of the string starting at `i` (its opening quote), past the closing quote.
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    while i < b.len() && b[i] != b'"' {
        if b[i] == b'\\' {
            i += 1;
        }
        i += 1;
    }
    (i < b.len()).then_some(i + 1)
}

/// The end of the value starting at `i`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']') && !b[j].is_ascii_whitespace() {
                j += 1;
            }
            Some(j)
        }
    }
}

/// The start of the value of `key` in the object starting at `i`.
fn field(line: &str, i: usize, key: &str) -> Option<usize> {
    let b = line.as_bytes();
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let mut j = ws(b, i + 1);
    loop {
        if *b.get(j)? != b'"' {
            return None;
        }
        let key_end = string_end(b, j)?;
        let name = serde_json::from_str::<String>(&line[j..key_end]).ok()?;
        j = ws(b, key_end);
        if b.get(j) != Some(&b':') {
            return None;
        }
        let value = ws(b, j + 1);
        if name == key {
            return Some(value);
        }
        j = ws(b, value_end(b, value)?);
        match b.get(j)? {
            b',' => j = ws(b, j + 1),
            _ => return None,
        }
    }
}

/// The start of element `n` of the array starting at `i`.
fn element(b: &[u8], i: usize, n: usize) -> Option<usize> {
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let mut j = ws(b, i + 1);
    if b.get(j) == Some(&b']') {
        return None;
    }
    for _ in 0..n {
        j = ws(b, value_end(b, j)?);
        match b.get(j)? {
            b',' => j = ws(b, j + 1),
            _ => return None,
        }
    }
    Some(j)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::json_path;

    fn at(line: &str, path: &str) -> Option<String> {
        value_at(line, &json_path(path).unwrap())
    }

    #[test]
    fn raw_values_as_loki_reads_them() {
        let line =
            r#"{"a": {"b": 1.50, "c": "x\"y", "n": null, "o": {"k": [1, 2]}}, "arr": [{"v": true}, 7e3]}"#;
        assert_eq!(at(line, "a.b").as_deref(), Some("1.50"));
        assert_eq!(at(line, "a.c").as_deref(), Some("x\"y"));
        assert_eq!(at(line, "a.n").as_deref(), Some(""));
        assert_eq!(at(line, "a.o").as_deref(), Some(r#"{"k": [1, 2]}"#));
        assert_eq!(at(line, "a.o.k[1]").as_deref(), Some("2"));
        assert_eq!(at(line, "arr[0].v").as_deref(), Some("true"));
        assert_eq!(at(line, "arr[1]").as_deref(), Some("7e3"));
        assert_eq!(at(line, r#"["a"]["b"]"#).as_deref(), Some("1.50"));
        assert_eq!(at(line, "a.missing"), None);
        assert_eq!(at(line, "arr[5]"), None);
        assert_eq!(at(line, "a.b.c"), None);
    }
}
