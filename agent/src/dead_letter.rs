//! The dead-letter file: every line the output refused for good (the server answered 400 for
//! it), kept with the server's reason so that nothing the agent read disappears silently.
//!
//! The file is `dead-letter.jsonl` in the checkpoint directory, one JSON object per line:
//! `time` (when it was recorded, RFC 3339), `file` and `offset` (where the line was read, when
//! it came from a file), `labels`, `ts` (ns), `line`, `reason` (the server's short reason or its
//! whole answer) and `error` (the server's message for this entry, when it gave one).
//!
//! Invariants: records are appended and `fsync`ed before [`DeadLetter::record`] returns, and the
//! pipeline moves its checkpoint only after that, so a crash in between re-sends the batch and may
//! record a rejected line twice (at least once, never lost). When the file passes `max_bytes`
//! it is renamed to `dead-letter.jsonl.1` (replacing the previous one) and a new one begins, so
//! the directory stays bounded.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use logq_storage::LabelSet;

use crate::error::AgentError;

/// Name of the dead-letter file inside the checkpoint directory.
pub const DEAD_LETTER_FILE: &str = "dead-letter.jsonl";

/// Size at which the dead-letter file is rotated by default (64 MiB).
pub const DEAD_LETTER_MAX_BYTES: u64 = 64 << 20;

/// One refused line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterRecord {
    /// The file the line was read from, when it came from a file.
    pub file: Option<String>,
    /// The byte offset of the line in that file.
    pub offset: Option<u64>,
    /// The stream labels it was sent with.
    pub labels: LabelSet,
    /// The timestamp it was sent with (ns).
    pub ts: i64,
    /// The line.
    pub line: String,
    /// Why the server refused it (its short reason, or its whole answer).
    pub reason: String,
    /// The server's message for this entry, when it gave one apart from the reason.
    pub error: Option<String>,
}

/// Appends refused lines to `<dir>/dead-letter.jsonl`.
#[derive(Debug)]
pub struct DeadLetter {
    path: PathBuf,
    file: Option<File>,
    bytes: u64,
    max_bytes: u64,
}

impl DeadLetter {
    /// The dead-letter file of checkpoint directory `dir` (created on the first record).
    pub fn new(dir: &Path) -> DeadLetter {
        DeadLetter {
            path: dir.join(DEAD_LETTER_FILE),
            file: None,
            bytes: 0,
            max_bytes: DEAD_LETTER_MAX_BYTES,
        }
    }

    /// Rotates the file at `max_bytes` instead of the default.
    pub fn with_max_bytes(mut self, max_bytes: u64) -> DeadLetter {
        self.max_bytes = max_bytes.max(1);
        self
    }

    /// Where the records go.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `records` and syncs them to disk.
    pub fn record(&mut self, records: &[DeadLetterRecord]) -> Result<(), AgentError> {
        if records.is_empty() {
            return Ok(());
        }
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut text = String::new();
        for r in records {
            let mut obj = serde_json::Map::new();
            obj.insert("time".into(), time.clone().into());
            if let Some(f) = &r.file {
                obj.insert("file".into(), f.clone().into());
            }
            if let Some(o) = r.offset {
                obj.insert("offset".into(), o.into());
            }
            obj.insert("labels".into(), r.labels.to_string().into());
            obj.insert("ts".into(), r.ts.into());
            obj.insert("line".into(), r.line.clone().into());
            obj.insert("reason".into(), r.reason.clone().into());
            if let Some(e) = &r.error {
                obj.insert("error".into(), e.clone().into());
            }
            text.push_str(&serde_json::Value::Object(obj).to_string());
            text.push('\n');
        }
        if self.bytes >= self.max_bytes {
            self.rotate()?;
        }
        let file = self.open()?;
        file.write_all(text.as_bytes())
            .and_then(|_| file.sync_data())
            .map_err(|e| AgentError::io("writing", &self.path, e))?;
        self.bytes += text.len() as u64;
        Ok(())
    }

    fn open(&mut self) -> Result<&mut File, AgentError> {
        if self.file.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| AgentError::io("opening", &self.path, e))?;
            self.bytes = f.metadata().map(|m| m.len()).unwrap_or(0);
            self.file = Some(f);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    fn rotate(&mut self) -> Result<(), AgentError> {
        self.file = None;
        let old = self.path.with_extension("jsonl.1");
        std::fs::rename(&self.path, &old).map_err(|e| AgentError::io("rotating", &self.path, e))?;
        self.bytes = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(line: &str) -> DeadLetterRecord {
        DeadLetterRecord {
            file: Some("/var/log/a.log".into()),
            offset: Some(42),
            labels: LabelSet::from_pairs([("host".to_string(), "h".to_string())]),
            ts: 7,
            line: line.into(),
            reason: "too_old".into(),
            error: Some("entry too old".into()),
        }
    }

    #[test]
    fn records_are_json_lines_with_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let mut dl = DeadLetter::new(dir.path());
        dl.record(&[rec("one"), rec("two \"quoted\"")]).unwrap();
        dl.record(&[rec("three")]).unwrap();
        let text = std::fs::read_to_string(dir.path().join(DEAD_LETTER_FILE)).unwrap();
        let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1]["line"], "two \"quoted\"");
        assert_eq!(rows[0]["file"], "/var/log/a.log");
        assert_eq!(rows[0]["offset"], 42);
        assert_eq!(rows[0]["labels"], "{host=\"h\"}");
        assert_eq!(rows[0]["ts"], 7);
        assert_eq!(rows[0]["reason"], "too_old");
        assert_eq!(rows[0]["error"], "entry too old");
        assert!(rows[0]["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn rotates_past_the_size_limit_keeping_one_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut dl = DeadLetter::new(dir.path()).with_max_bytes(100);
        for i in 0..5 {
            dl.record(&[rec(&format!("line {i}"))]).unwrap();
        }
        let cur = std::fs::read_to_string(dir.path().join(DEAD_LETTER_FILE)).unwrap();
        let old = std::fs::read_to_string(dir.path().join("dead-letter.jsonl.1")).unwrap();
        assert!(cur.contains("line 4"), "{cur}");
        assert!(old.contains("line 3"), "{old}");
    }
}
