//! ARCHITECTURE.md matches the code: every module file of every crate (and of the binary's
//! `src/`) is named in its crate's section, and every `.rs` file the document names exists.
//! No server: this reads the source tree.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The crates and their section headings in ARCHITECTURE.md (`## <dir>/ ...`).
const CRATES: &[&str] = &[
    "storage",
    "ingester",
    "compactor",
    "querier",
    "api",
    "agent",
    "loadgen",
    "server",
    "history",
    "src",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n == "target" || n.to_string_lossy().starts_with('.'))
            {
                continue;
            }
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module files of a crate's sources: a `mod.rs` stands for its folder (`stages/`);
/// `lib.rs` is the crate itself.
fn modules(krate: &str) -> Vec<String> {
    let dir = if krate == "src" {
        root().join("src")
    } else {
        root().join(krate).join("src")
    };
    let mut files = Vec::new();
    rs_files(&dir, &mut files);
    let mut names: Vec<String> = files
        .iter()
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().to_string();
            match name.as_str() {
                "lib.rs" => None,
                "mod.rs" => Some(format!("{}/", p.parent()?.file_name()?.to_string_lossy())),
                _ => Some(name),
            }
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The text of the section `## <krate>/ ...` (up to the next `## `).
fn section<'a>(doc: &'a str, krate: &str) -> &'a str {
    let heading = format!("\n## {krate}/");
    let start = doc
        .find(&heading)
        .unwrap_or_else(|| panic!("ARCHITECTURE.md has no section `## {krate}/`"));
    let rest = &doc[start + heading.len()..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

/// Whether `text` names `name` as a whole word (`head.rs` is not named by `wal_head.rs`).
fn names(text: &str, name: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(|c| word(c) && !name.ends_with('/'))
    })
}

#[test]
fn every_module_is_named_in_its_crates_section() {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut missing = Vec::new();
    for krate in CRATES {
        let text = section(&doc, krate);
        for module in modules(krate) {
            if !names(text, &module) {
                missing.push(format!("{krate}: {module}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md does not name these modules in their crate's section:\n  {}",
        missing.join("\n  ")
    );
}

/// The `.rs` files `text` names, as written (`push.rs`, `tests/compat.rs`, `src/agent_kafka.rs`).
fn named_files(text: &str) -> BTreeSet<String> {
    let part = |c: char| c.is_alphanumeric() || c == '_' || c == '/' || c == '-';
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices(".rs") {
        if text[i + 3..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let start = text[..i].rfind(|c: char| !part(c)).map_or(0, |s| s + 1);
        let name = &text[start..i];
        if !name.is_empty() && !name.ends_with('/') {
            out.insert(format!("{name}.rs"));
        }
    }
    out
}

/// Where a crate section's files live: the crate's folder (the binary: `src/`, `tests/` and
/// `benches/` of the workspace root).
fn crate_dirs(krate: &str) -> Vec<PathBuf> {
    if krate == "src" {
        ["src", "tests", "benches"]
            .iter()
            .map(|d| root().join(d))
            .collect()
    } else {
        vec![root().join(krate)]
    }
}

#[test]
fn every_file_the_document_names_exists() {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut absent = Vec::new();
    let mut check = |where_: &str, text: &str, dirs: &[PathBuf]| {
        let mut files = Vec::new();
        for d in dirs {
            rs_files(d, &mut files);
        }
        let names: BTreeSet<String> = files
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
            .collect();
        for named in named_files(text) {
            let found = if named.contains('/') {
                root().join(&named).exists()
                    || dirs
                        .iter()
                        .any(|d| d.join(&named).exists() || d.join("src").join(&named).exists())
            } else {
                names.contains(&named)
            };
            if !found {
                absent.push(format!("{where_}: {named}"));
            }
        }
    };
    for krate in CRATES {
        check(
            &format!("section {krate}/"),
            section(&doc, krate),
            &crate_dirs(krate),
        );
    }
    // The rest of the document (overview, data flow): anywhere in the workspace.
    let mut rest = doc.clone();
    for krate in CRATES {
        let text = section(&doc, krate).to_string();
        rest = rest.replacen(&text, "", 1);
    }
    check("outside the crate sections", &rest, &[root()]);
    assert!(
        absent.is_empty(),
        "ARCHITECTURE.md names files that do not exist there:\n  {}",
        absent.join("\n  ")
    );
}
