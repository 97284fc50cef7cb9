//! Which files the agent should be reading right now: expands the configured paths (globs with
//! `*` and `?` in any component, or directories, meaning every file directly inside) to the
//! regular files that exist. The tailer calls it on every poll (default every 250 ms); the
//! polling is the watcher (see ARCHITECTURE.md: inotify through `notify` is a later addition that
//! would only shorten the latency).

use std::path::{Component, Path, PathBuf};

/// Whether `name` matches `pattern` (`*` any run of characters, `?` one character).
pub fn wildmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn has_wildcard(s: &str) -> bool {
    s.contains('*') || s.contains('?')
}

/// The regular files (symlinks followed) that `patterns` name, sorted, without duplicates.
pub fn expand(patterns: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for pat in patterns {
        let path = Path::new(pat);
        if !has_wildcard(pat) {
            if path.is_dir() {
                list_files(path, "*", &mut out);
            } else if path.is_file() {
                out.push(path.to_path_buf());
            }
            continue;
        }
        let mut bases = vec![PathBuf::new()];
        let comps: Vec<Component> = path.components().collect();
        for (i, c) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            let s = c.as_os_str().to_string_lossy();
            let mut next = Vec::new();
            for b in &bases {
                if has_wildcard(&s) {
                    if last {
                        list_files(b, &s, &mut out);
                    } else {
                        list_dirs(b, &s, &mut next);
                    }
                } else if last {
                    let p = b.join(c.as_os_str());
                    if p.is_file() {
                        out.push(p);
                    }
                } else {
                    next.push(b.join(c.as_os_str()));
                }
            }
            bases = next;
        }
    }
    out.sort();
    out.dedup();
    out
}

fn entries(dir: &Path, pattern: &str) -> Vec<PathBuf> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| wildmatch(pattern, &e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect()
}

fn list_files(dir: &Path, pattern: &str, out: &mut Vec<PathBuf>) {
    out.extend(entries(dir, pattern).into_iter().filter(|p| p.is_file()));
}

fn list_dirs(dir: &Path, pattern: &str, out: &mut Vec<PathBuf>) {
    out.extend(entries(dir, pattern).into_iter().filter(|p| p.is_dir()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildmatch("*.log", "app.log"));
        assert!(!wildmatch("*.log", "app.log.1"));
        assert!(wildmatch("*.log*", "app.log.1"));
        assert!(wildmatch("a?c", "abc"));
        assert!(!wildmatch("a?c", "ac"));
        assert!(wildmatch("*", ""));
    }

    #[test]
    fn expands_globs_and_directories() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("x/sub")).unwrap();
        std::fs::create_dir_all(root.join("y")).unwrap();
        for f in ["x/a.log", "x/b.txt", "x/sub/c.log", "y/d.log"] {
            std::fs::write(root.join(f), b"").unwrap();
        }
        let s = |p: &str| root.join(p).to_string_lossy().into_owned();
        let got = expand(&[s("*/*.log")]);
        assert_eq!(got, vec![root.join("x/a.log"), root.join("y/d.log")]);
        let got = expand(&[s("x"), s("x/a.log")]);
        assert_eq!(got, vec![root.join("x/a.log"), root.join("x/b.txt")]);
        assert!(expand(&[s("nowhere/*.log")]).is_empty());
    }
}
