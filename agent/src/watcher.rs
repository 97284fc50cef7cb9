//! Which files the agent should be reading right now, and when to look again.
//!
//! [`expand`] turns the configured paths (globs with `*` and `?` in any component, or
//! directories, meaning every file directly inside) into the regular files that exist; the
//! tailer calls it on every scan. Polling (every `poll_interval`, default 250 ms) is what makes
//! the agent correct on every filesystem; [`FsEvents`] (inotify through the `notify` crate)
//! only wakes it early when a watched directory changes, for lower latency. When inotify is not
//! available (or a directory does not exist yet) the agent simply polls.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

/// Filesystem change notifications for the directories the patterns live in.
pub struct FsEvents {
    watcher: Option<notify::RecommendedWatcher>,
    rx: Receiver<()>,
    watched: HashSet<PathBuf>,
}

impl std::fmt::Debug for FsEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsEvents")
            .field("inotify", &self.watcher.is_some())
            .field("watched", &self.watched)
            .finish()
    }
}

impl FsEvents {
    /// Starts the notifier; without one (no inotify) [`FsEvents::wait`] just sleeps.
    pub fn new() -> FsEvents {
        // One pending wake-up is enough: a burst of events costs no memory.
        let (tx, rx) = sync_channel(1);
        let watcher = notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
            let _ = tx.try_send(());
        });
        let watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "file events unavailable; polling only");
                None
            }
        };
        FsEvents {
            watcher,
            rx,
            watched: HashSet::new(),
        }
    }

    /// Watches the fixed directory part of every pattern (recursively when a directory
    /// component has a wildcard); directories that do not exist yet are tried again next time.
    pub fn watch(&mut self, patterns: &[String]) {
        let Some(w) = self.watcher.as_mut() else { return };
        for p in patterns {
            let (root, recursive) = watch_root(p);
            if self.watched.contains(&root) || !root.is_dir() {
                continue;
            }
            let mode = if recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            match w.watch(&root, mode) {
                Ok(()) => {
                    self.watched.insert(root);
                }
                Err(e) => {
                    tracing::warn!(dir = %root.display(), error = %e, "cannot watch directory; polling it");
                    self.watched.insert(root);
                }
            }
        }
    }

    /// Waits up to `timeout` for a change; true when one arrived (all pending ones are taken).
    pub fn wait(&self, timeout: Duration) -> bool {
        match self.rx.recv_timeout(timeout) {
            Ok(()) => {
                while self.rx.try_recv().is_ok() {}
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(timeout);
                false
            }
        }
    }
}

impl Default for FsEvents {
    fn default() -> Self {
        FsEvents::new()
    }
}

/// The directory to watch for a pattern, and whether recursively.
fn watch_root(pattern: &str) -> (PathBuf, bool) {
    let path = Path::new(pattern);
    if !has_wildcard(pattern) {
        if path.is_dir() {
            return (path.to_path_buf(), false);
        }
        let parent = path.parent().unwrap_or(Path::new("."));
        return (parent.to_path_buf(), false);
    }
    let mut root = PathBuf::new();
    let comps: Vec<Component> = path.components().collect();
    for (i, c) in comps.iter().enumerate() {
        if has_wildcard(&c.as_os_str().to_string_lossy()) {
            let recursive = i + 1 < comps.len();
            if root.as_os_str().is_empty() {
                root = PathBuf::from(".");
            }
            return (root, recursive);
        }
        root.push(c.as_os_str());
    }
    (root, false)
}

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
    fn events_wake_the_waiter() {
        let d = tempfile::tempdir().unwrap();
        let pat = d.path().join("*.log").to_string_lossy().into_owned();
        assert_eq!(watch_root(&pat), (d.path().to_path_buf(), false));
        let deep = d.path().join("*/x.log").to_string_lossy().into_owned();
        assert_eq!(watch_root(&deep), (d.path().to_path_buf(), true));
        let mut ev = FsEvents::new();
        ev.watch(&[pat]);
        while ev.wait(Duration::from_millis(10)) {}
        std::fs::write(d.path().join("a.log"), b"x\n").unwrap();
        if ev.watcher.is_some() {
            assert!(ev.wait(Duration::from_secs(5)), "no event for a new file");
        }
    }

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
