//! Output file names of `logq pull`: a `--layout` template (`{label}` placeholders, literal
//! text, `/` for directories) or, by default, every label of the stream sorted, `name=value`
//! joined by `,`. Label values are made safe for file names (no path separators, no `.`/`..`
//! components, no control characters, at most 200 bytes with a hash when shortened), so a name
//! never leaves the output directory.

use xxhash_rust::xxh3::xxh3_64 as hash64;

/// Longest path component written; longer names are shortened and keep a hash of the whole.
const MAX_COMPONENT_BYTES: usize = 200;

/// How files are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    layout: Option<Vec<Piece>>,
    /// Appended to default names (`.log`, `.jsonl`), and the compression's (`.zst`, `.gz`).
    extension: &'static str,
    compression_suffix: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Label(String),
}

/// Why a layout template is refused.
#[derive(Debug, PartialEq, Eq)]
pub struct LayoutError(pub String);

impl std::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid --layout: {}", self.0)
    }
}

impl std::error::Error for LayoutError {}

impl Naming {
    /// Names from `layout` (or the default), with `extension` for default names and
    /// `compression_suffix` (`""`, `.zst`, `.gz`) for every name.
    pub fn new(
        layout: Option<&str>,
        extension: &'static str,
        compression_suffix: &'static str,
    ) -> Result<Naming, LayoutError> {
        Ok(Naming {
            layout: layout.map(parse_layout).transpose()?,
            extension,
            compression_suffix,
        })
    }

    /// The relative path of the file holding a stream with `labels` (sorted by name).
    pub fn file_for(&self, labels: &[(String, String)]) -> String {
        let mut name = match &self.layout {
            None => {
                let mut sorted: Vec<&(String, String)> = labels.iter().collect();
                sorted.sort();
                let joined: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let base = if joined.is_empty() {
                    "no-labels".to_string()
                } else {
                    joined.join(",")
                };
                safe_component(&format!("{base}{}", self.extension))
            }
            Some(pieces) => {
                let mut out = String::new();
                for p in pieces {
                    match p {
                        Piece::Text(t) => out.push_str(t),
                        Piece::Label(l) => {
                            let v = labels
                                .iter()
                                .find(|(k, _)| k == l)
                                .map_or("", |(_, v)| v.as_str());
                            out.push_str(&safe_value(v));
                        }
                    }
                }
                out.split('/')
                    .filter(|c| !c.is_empty())
                    .map(safe_component)
                    .collect::<Vec<_>>()
                    .join("/")
            }
        };
        if !name.ends_with(self.compression_suffix) {
            name.push_str(self.compression_suffix);
        }
        name
    }
}

fn parse_layout(t: &str) -> Result<Vec<Piece>, LayoutError> {
    if t.starts_with('/') {
        return Err(LayoutError(format!(
            "{t:?} is absolute; names are relative to --output-dir"
        )));
    }
    let mut pieces = Vec::new();
    let mut rest = t;
    let mut labels = 0;
    while !rest.is_empty() {
        match rest.find(['{', '}']) {
            None => {
                pieces.push(Piece::Text(rest.to_string()));
                rest = "";
            }
            Some(i) if rest.as_bytes()[i] == b'}' => {
                return Err(LayoutError(format!("unmatched '}}' in {t:?}")));
            }
            Some(i) => {
                if i > 0 {
                    pieces.push(Piece::Text(rest[..i].to_string()));
                }
                let close = rest[i..]
                    .find('}')
                    .ok_or_else(|| LayoutError(format!("unclosed '{{' in {t:?}")))?;
                let name = rest[i + 1..i + close].trim();
                let valid = name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(LayoutError(format!("{{{name}}} is not a label name")));
                }
                pieces.push(Piece::Label(name.to_string()));
                labels += 1;
                rest = &rest[i + close + 1..];
            }
        }
    }
    for p in &pieces {
        if let Piece::Text(text) = p {
            if text.split('/').any(|c| c == "..") {
                return Err(LayoutError(format!("{t:?} has a '..' component")));
            }
        }
    }
    if labels == 0 {
        return Err(LayoutError(format!(
            "{t:?} names no label (e.g. '{{service}}/{{host}}.log'): every stream would share one file"
        )));
    }
    Ok(pieces)
}

/// A label value inside a name: path separators and control characters become `_`.
fn safe_value(v: &str) -> String {
    let s: String = v
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}

/// One path component: no separators or characters file systems refuse, not `.`/`..`, at
/// most [`MAX_COMPONENT_BYTES`].
fn safe_component(c: &str) -> String {
    let mut s: String = c
        .chars()
        .map(|ch| match ch {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            ch if ch.is_control() => '_',
            ch => ch,
        })
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        s = "_".into();
    }
    if s.len() > MAX_COMPONENT_BYTES {
        let mut cut = MAX_COMPONENT_BYTES - 17;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s = format!("{}-{:016x}", &s[..cut], hash64(c.as_bytes()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn default_names_sort_labels_and_add_extensions() {
        let n = Naming::new(None, ".log", "").unwrap();
        assert_eq!(
            n.file_for(&labels(&[("service", "api"), ("host", "a")])),
            "host=a,service=api.log"
        );
        let n = Naming::new(None, ".jsonl", ".zst").unwrap();
        assert_eq!(n.file_for(&labels(&[("job", "x/y")])), "job=x_y.jsonl.zst");
        assert_eq!(n.file_for(&[]), "no-labels.jsonl.zst");
    }

    #[test]
    fn layouts_substitute_labels_and_stay_inside_the_directory() {
        let n = Naming::new(Some("{service}/{host}.log"), ".log", ".gz").unwrap();
        assert_eq!(
            n.file_for(&labels(&[("service", "api"), ("host", "h1")])),
            "api/h1.log.gz"
        );
        assert_eq!(
            n.file_for(&labels(&[("service", ".."), ("host", "../../etc")])),
            "_/.._.._etc.log.gz"
        );
        assert_eq!(
            n.file_for(&labels(&[("host", "h1")])),
            "_/h1.log.gz",
            "a missing label is _"
        );
    }

    #[test]
    fn bad_layouts_are_refused_with_the_reason() {
        assert!(Naming::new(Some("/abs/{a}"), "", "")
            .unwrap_err()
            .0
            .contains("absolute"));
        assert!(Naming::new(Some("{a"), "", "")
            .unwrap_err()
            .0
            .contains("unclosed"));
        assert!(Naming::new(Some("a}"), "", "")
            .unwrap_err()
            .0
            .contains("unmatched"));
        assert!(Naming::new(Some("{9x}"), "", "")
            .unwrap_err()
            .0
            .contains("not a label"));
        assert!(Naming::new(Some("../{a}"), "", "").unwrap_err().0.contains(".."));
        assert!(Naming::new(Some("all.log"), "", "")
            .unwrap_err()
            .0
            .contains("no label"));
    }

    #[test]
    fn long_names_are_shortened_with_a_hash() {
        let n = Naming::new(None, ".log", "").unwrap();
        let a = n.file_for(&labels(&[("k", &"a".repeat(300))]));
        let b = n.file_for(&labels(&[("k", &format!("{}b", "a".repeat(299)))]));
        assert!(a.len() <= MAX_COMPONENT_BYTES);
        assert_ne!(a, b);
    }
}
