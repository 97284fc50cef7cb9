//! The checkpoint journal: what has been delivered, per file, so a restart resumes exactly there.
//!
//! On disk: `<dir>/checkpoint.json`, replaced atomically (write `checkpoint.json.tmp`, fsync,
//! rename, fsync the directory), so a crash leaves either the old or the new journal, never a mix.
//!
//! Invariants (the exactly-once design; the server de-duplicates by (timestamp, message id)):
//! - A file is identified by device + inode + an xxh3 fingerprint of its first bytes (up to
//!   [`FINGERPRINT_BYTES`]); inode reuse or a rewrite in place changes the fingerprint, so the file
//!   is treated as new. Each generation of a file gets a `file_id`, and a line's message id is
//!   `xxh3(file_id, line start offset)`: a re-read of the same bytes yields the same id.
//! - `offset` is the end of the last line the output acknowledged; it only moves after an ack.
//! - Before a batch is sent, its per-file segments (`start..end` and the read time given to lines
//!   without a timestamp of their own) are written as `in_flight`. After a crash the lines re-read
//!   within a segment get that read time again, so they reproduce the same (timestamp, id) and
//!   the server drops the copies it already has. The ack clears `in_flight`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::error::AgentError;

/// How many leading bytes of a file its fingerprint covers (fewer while the file is shorter).
pub const FINGERPRINT_BYTES: u64 = 1024;

const JOURNAL: &str = "checkpoint.json";
const JOURNAL_TMP: &str = "checkpoint.json.tmp";

/// Bytes of a batch in flight for one file, and the read time of those lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// First byte offset.
    pub start: u64,
    /// Offset just after the last line.
    pub end: u64,
    /// Unix ns given to the segment's lines that carry no timestamp of their own.
    pub read_time_ns: i64,
}

/// What the journal knows about one file generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCheckpoint {
    /// Stable id of this file generation (message ids derive from it).
    pub file_id: u64,
    /// Path where the file was last seen.
    pub path: PathBuf,
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// xxh3 of the first `fingerprint_len` bytes.
    pub fingerprint: u64,
    /// How many bytes the fingerprint covers.
    pub fingerprint_len: u64,
    /// End of the last acknowledged line.
    pub offset: u64,
    /// Timestamp of the last acknowledged line, when known.
    #[serde(default)]
    pub last_ts: Option<i64>,
    /// The `service` label the file was given when first seen.
    pub service: String,
    /// The `filename` label the file was given when first seen.
    pub filename: String,
    /// Segments sent but not yet acknowledged.
    #[serde(default)]
    pub in_flight: Vec<Segment>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalFile {
    version: u32,
    files: Vec<FileCheckpoint>,
}

/// The checkpoint journal of one agent.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    existed: bool,
    files: BTreeMap<u64, FileCheckpoint>,
}

impl Journal {
    /// Opens (creating the directory) and reads the journal in `dir`.
    pub fn open(dir: &Path) -> Result<Journal, AgentError> {
        std::fs::create_dir_all(dir).map_err(|e| AgentError::io("creating", dir, e))?;
        let path = dir.join(JOURNAL);
        let mut files = BTreeMap::new();
        let existed = path.exists();
        if existed {
            let mut text = String::new();
            File::open(&path)
                .and_then(|mut f| f.read_to_string(&mut text))
                .map_err(|e| AgentError::io("reading", &path, e))?;
            let jf: JournalFile = serde_json::from_str(&text).map_err(|e| AgentError::CorruptJournal {
                path: path.clone(),
                message: e.to_string(),
            })?;
            if jf.version != 1 {
                return Err(AgentError::CorruptJournal {
                    path,
                    message: format!("unknown version {}", jf.version),
                });
            }
            for f in jf.files {
                files.insert(f.file_id, f);
            }
        }
        Ok(Journal {
            dir: dir.to_path_buf(),
            existed,
            files,
        })
    }

    /// Whether a journal existed when opened (the agent ran here before).
    pub fn existed(&self) -> bool {
        self.existed
    }

    /// Every file the journal knows.
    pub fn files(&self) -> impl Iterator<Item = &FileCheckpoint> {
        self.files.values()
    }

    /// The entry of a file generation.
    pub fn get(&self, file_id: u64) -> Option<&FileCheckpoint> {
        self.files.get(&file_id)
    }

    /// The entry of a file generation, to update.
    pub fn get_mut(&mut self, file_id: u64) -> Option<&mut FileCheckpoint> {
        self.files.get_mut(&file_id)
    }

    /// Adds or replaces an entry.
    pub fn upsert(&mut self, cp: FileCheckpoint) {
        self.files.insert(cp.file_id, cp);
    }

    /// Forgets a file generation.
    pub fn remove(&mut self, file_id: u64) -> Option<FileCheckpoint> {
        self.files.remove(&file_id)
    }

    /// Writes the journal atomically and durably.
    pub fn save(&self) -> Result<(), AgentError> {
        let jf = JournalFile {
            version: 1,
            files: self.files.values().cloned().collect(),
        };
        let text = serde_json::to_vec(&jf).map_err(|e| AgentError::CorruptJournal {
            path: self.dir.join(JOURNAL),
            message: e.to_string(),
        })?;
        let tmp = self.dir.join(JOURNAL_TMP);
        let dst = self.dir.join(JOURNAL);
        let mut f = File::create(&tmp).map_err(|e| AgentError::io("creating", &tmp, e))?;
        f.write_all(&text)
            .and_then(|()| f.sync_all())
            .map_err(|e| AgentError::io("writing", &tmp, e))?;
        std::fs::rename(&tmp, &dst).map_err(|e| AgentError::io("renaming", &tmp, e))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| AgentError::io("syncing", &self.dir, e))?;
        Ok(())
    }
}

/// xxh3 of the first `min(len, FINGERPRINT_BYTES)` bytes of `file` (read with `pread`, so the
/// file position is untouched); returns (hash, bytes covered).
pub fn fingerprint(file: &File, len: u64) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::FileExt;
    let want = len.min(FINGERPRINT_BYTES) as usize;
    let mut buf = vec![0u8; want];
    let mut got = 0;
    while got < want {
        let n = file.read_at(&mut buf[got..], got as u64)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    buf.truncate(got);
    Ok((xxhash_rust::xxh3::xxh3_64(&buf), got as u64))
}

/// A new file generation id: unique per (device, inode, fingerprint, discovery time).
pub fn new_file_id(dev: u64, ino: u64, fingerprint: u64, now_ns: i64) -> u64 {
    let mut h = Xxh3::new();
    h.update(&dev.to_le_bytes());
    h.update(&ino.to_le_bytes());
    h.update(&fingerprint.to_le_bytes());
    h.update(&now_ns.to_le_bytes());
    h.digest()
}

/// The message id of the line starting at `offset` in file generation `file_id`.
pub fn message_id(file_id: u64, offset: u64) -> u64 {
    let mut h = Xxh3::new();
    h.update(&file_id.to_le_bytes());
    h.update(&offset.to_le_bytes());
    h.digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(id: u64) -> FileCheckpoint {
        FileCheckpoint {
            file_id: id,
            path: PathBuf::from("/var/log/a.log"),
            dev: 1,
            ino: 2,
            fingerprint: 3,
            fingerprint_len: 4,
            offset: 5,
            last_ts: Some(6),
            service: "a".into(),
            filename: "/var/log/a.log".into(),
            in_flight: vec![Segment {
                start: 5,
                end: 9,
                read_time_ns: 7,
            }],
        }
    }

    #[test]
    fn saves_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        assert!(!j.existed());
        j.upsert(cp(1));
        j.upsert(cp(2));
        j.remove(2);
        j.save().unwrap();
        let j2 = Journal::open(dir.path()).unwrap();
        assert!(j2.existed());
        assert_eq!(j2.files().cloned().collect::<Vec<_>>(), vec![cp(1)]);
        assert!(!dir.path().join(JOURNAL_TMP).exists());
    }

    #[test]
    fn corrupt_journal_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(JOURNAL), b"{not json").unwrap();
        let e = Journal::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("checkpoint.json is corrupt"), "{e}");
    }

    #[test]
    fn leftover_tmp_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        j.upsert(cp(1));
        j.save().unwrap();
        // A crash between writing the tmp file and the rename.
        std::fs::write(dir.path().join(JOURNAL_TMP), b"half writ").unwrap();
        let j2 = Journal::open(dir.path()).unwrap();
        assert_eq!(j2.get(1), Some(&cp(1)));
    }

    #[test]
    fn fingerprint_covers_at_most_1kib_and_ids_are_stable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, vec![b'x'; 3000]).unwrap();
        let f = File::open(&p).unwrap();
        let (h, n) = fingerprint(&f, 3000).unwrap();
        assert_eq!(n, 1024);
        assert_eq!(h, xxhash_rust::xxh3::xxh3_64(&[b'x'; 1024]));
        let (h10, n10) = fingerprint(&f, 10).unwrap();
        assert_eq!((h10, n10), (xxhash_rust::xxh3::xxh3_64(&[b'x'; 10]), 10));
        assert_eq!(message_id(1, 2), message_id(1, 2));
        assert_ne!(message_id(1, 2), message_id(1, 3));
        assert_ne!(message_id(1, 2), message_id(2, 2));
        assert_ne!(new_file_id(1, 2, 3, 4), new_file_id(1, 2, 3, 5));
    }
}
