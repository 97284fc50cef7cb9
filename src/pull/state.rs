//! The pull's state file, `<output-dir>/.logq-pull/state.json`: what is being pulled (so a rerun
//! of the same command resumes it and a different one is refused), how many range splits are
//! already appended to the output files, each output file's committed length, and the
//! `--follow` cursor. It is replaced atomically (write, fsync, rename).
//!
//! Invariant: every byte of an output file beyond its committed length is uncommitted, and a
//! resume truncates it away before anything else, so a pull killed at any instant (SIGKILL
//! included) resumes without a duplicated or a missing line.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// Format version of the state file.
const VERSION: u32 = 1;

/// What identifies a pull: a rerun with other values is a different pull.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The log query.
    pub query: String,
    /// Tenant.
    pub org_id: Option<String>,
    /// `raw` or `jsonl`.
    pub format: String,
    /// `none`, `zstd` or `gzip`.
    pub compress: String,
    /// The layout template, if any.
    pub layout: Option<String>,
}

/// Where `--follow` continues: entries at `ts` already written are in `seen`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Timestamp (ns) the tail restarts at (inclusive).
    pub ts: i64,
    /// (file, line) of the entries at `ts` already written.
    pub seen: Vec<(String, String)>,
}

/// The state file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Format version.
    pub version: u32,
    /// What is pulled.
    pub identity: Identity,
    /// Range start (ns, inclusive).
    pub from: i64,
    /// Range end (ns, exclusive).
    pub to: i64,
    /// Length of a split (ns).
    pub split_ns: i64,
    /// Splits appended to the output files, in order.
    pub appended: usize,
    /// Committed length of every output file (relative path -> bytes).
    pub files: BTreeMap<String, u64>,
    /// Where `--follow` continues (after the range).
    pub follow: Option<Cursor>,
}

impl State {
    /// A new pull.
    pub fn new(identity: Identity, from: i64, to: i64, split_ns: i64) -> State {
        State {
            version: VERSION,
            identity,
            from,
            to,
            split_ns,
            appended: 0,
            files: BTreeMap::new(),
            follow: None,
        }
    }

    /// The `[start, end)` range of every split.
    pub fn splits(&self) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        let mut a = self.from;
        while a < self.to {
            let b = a.saturating_add(self.split_ns).min(self.to);
            out.push((a, b));
            a = b;
        }
        out
    }
}

/// The pull's private directory inside the output directory.
pub fn work_dir(output: &Path) -> PathBuf {
    output.join(".logq-pull")
}

fn state_path(output: &Path) -> PathBuf {
    work_dir(output).join("state.json")
}

/// The state of a pull into `output`, if one was started there.
pub fn load(output: &Path) -> anyhow::Result<Option<State>> {
    let path = state_path(output);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let state: State = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a pull state file", path.display()))?;
    if state.version != VERSION {
        bail!(
            "{} has format version {} (this logq writes {VERSION}); remove it to start over",
            path.display(),
            state.version
        );
    }
    Ok(Some(state))
}

/// Replaces the state file atomically.
pub fn save(output: &Path, state: &State) -> anyhow::Result<()> {
    let dir = work_dir(output);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join("state.json.tmp");
    let mut f = std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(serde_json::to_string(state)?.as_bytes())?;
    f.sync_data()?;
    std::fs::rename(&tmp, state_path(output))
        .with_context(|| format!("replacing {}", state_path(output).display()))
}

/// Truncates every output file to its committed length (a file missing is created empty), so
/// what an interrupted run wrote after its last commit is gone.
pub fn truncate_to_committed(output: &Path, state: &State) -> anyhow::Result<()> {
    for (rel, len) in &state.files {
        let path = output.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let actual = f.metadata()?.len();
        if actual < *len {
            bail!(
                "{} is shorter ({actual} bytes) than this pull committed ({len}); was it edited? remove {} to start over",
                path.display(),
                work_dir(output).display()
            );
        }
        f.set_len(*len)?;
    }
    Ok(())
}

/// Commits the files of `rels` this pull has not written yet at length 0, then creates them
/// empty (replacing a file of the same name from elsewhere), so a crash while they are first
/// written leaves them truncated on resume.
pub fn register_files<'a>(
    output: &Path,
    state: &mut State,
    rels: impl IntoIterator<Item = &'a String>,
) -> anyhow::Result<()> {
    let new: Vec<String> = rels
        .into_iter()
        .filter(|r| !state.files.contains_key(*r))
        .cloned()
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    for rel in &new {
        state.files.insert(rel.clone(), 0);
    }
    save(output, state)?;
    for rel in &new {
        let path = output.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            query: "{a=\"1\"}".into(),
            org_id: None,
            format: "raw".into(),
            compress: "none".into(),
            layout: None,
        }
    }

    #[test]
    fn splits_cover_the_range_exactly() {
        let s = State::new(identity(), 10, 35, 10);
        assert_eq!(s.splits(), vec![(10, 20), (20, 30), (30, 35)]);
        assert!(State::new(identity(), 10, 10, 10).splits().is_empty());
    }

    #[test]
    fn saved_state_loads_back_and_truncation_drops_uncommitted_bytes() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        let mut s = State::new(identity(), 0, 100, 50);
        s.files.insert("a/b.log".into(), 4);
        s.appended = 1;
        save(dir.path(), &s).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(s.clone()));
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/b.log"), "abc\ndef\n").unwrap();
        truncate_to_committed(dir.path(), &s).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a/b.log")).unwrap(),
            "abc\n"
        );
        std::fs::write(dir.path().join("a/b.log"), "ab").unwrap();
        assert!(
            truncate_to_committed(dir.path(), &s).is_err(),
            "a file shorter than committed"
        );
    }
}
