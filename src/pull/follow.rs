//! `logq pull --follow`: after the range, the tail WebSocket's new entries are appended to the
//! same files. The cursor (the newest timestamp written and the entries written at it) is saved
//! with the files' committed lengths after every frame, and every (re)connection restarts the
//! tail at the cursor, skipping what was written there: no gap and no duplicate across
//! reconnects, server restarts or a restart of the pull itself.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use super::naming::Naming;
use super::sink::{encode, Compress, Entry, Format, PartWriter};
use super::state::{self, Cursor, State};
use crate::client::{connect_tail, labels_text, tail_frame_entries, tail_url, ConnArgs, TailEntry};

/// Entries asked for per tail poll.
const TAIL_BATCH: usize = 1000;

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What following needs.
pub struct Follow<'a> {
    /// Server and tenant.
    pub conn: &'a ConnArgs,
    /// The log query.
    pub query: &'a str,
    /// The output directory.
    pub out: &'a Path,
    /// File names.
    pub naming: &'a Naming,
    /// Line format.
    pub format: Format,
    /// Compression.
    pub compress: Compress,
    /// Print nothing but errors.
    pub quiet: bool,
}

impl Follow<'_> {
    /// Follows forever (until the process is stopped); returns only on an error the server
    /// gives before the first connection (a bad query, a bad tenant).
    pub fn run(&self, st: &mut State) -> anyhow::Result<()> {
        let cursor = st.follow.clone().unwrap_or(Cursor {
            ts: st.to,
            seen: Vec::new(),
        });
        let mut ts = cursor.ts;
        let mut seen: HashSet<(String, String)> = cursor.seen.into_iter().collect();
        let mut connected_once = false;
        let mut backoff = Duration::from_millis(250);
        loop {
            let url = tail_url(self.conn, self.query, ts, 0, TAIL_BATCH);
            let mut socket = match connect_tail(self.conn, &url) {
                Ok(s) => s,
                Err(e) => {
                    if !connected_once && e.to_string().contains("server answered 4") {
                        return Err(e);
                    }
                    self.warn(&format!("{e:#}; retrying in {backoff:?}"));
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            if connected_once {
                self.warn("reconnected; following again");
            }
            connected_once = true;
            backoff = Duration::from_millis(250);
            loop {
                match socket.read() {
                    Ok(tungstenite::Message::Text(text)) => {
                        let entries = tail_frame_entries(text.as_str())?;
                        self.write(st, entries, &mut ts, &mut seen)?;
                    }
                    Ok(tungstenite::Message::Close(frame)) => {
                        let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                        self.warn(&format!("the server closed the tail ({reason}); reconnecting"));
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        self.warn(&format!("tail connection lost ({e}); reconnecting"));
                        break;
                    }
                }
            }
            std::thread::sleep(backoff);
        }
    }

    fn warn(&self, msg: &str) {
        if !self.quiet {
            eprintln!("logq: {msg}");
        }
    }

    /// Appends one frame's new entries and commits them with the cursor.
    fn write(
        &self,
        st: &mut State,
        entries: Vec<TailEntry>,
        ts: &mut i64,
        seen: &mut HashSet<(String, String)>,
    ) -> anyhow::Result<()> {
        let mut per_file: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for (labels, e_ts, line) in entries {
            if e_ts < *ts {
                continue;
            }
            let key = (labels_text(&labels), line);
            if e_ts == *ts && seen.contains(&key) {
                continue;
            }
            if e_ts > *ts {
                *ts = e_ts;
                seen.clear();
            }
            let pairs: Vec<(String, String)> = labels
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            let rel = self.naming.file_for(&pairs);
            let labels_json = Value::Object(labels).to_string();
            encode(
                self.format,
                &Entry {
                    ts: e_ts,
                    labels_json: &labels_json,
                    metadata_json: "{}",
                    line: &key.1,
                },
                per_file.entry(rel).or_default(),
            );
            seen.insert(key);
        }
        if per_file.is_empty() {
            return Ok(());
        }
        state::register_files(self.out, st, per_file.keys())?;
        for (rel, bytes) in &per_file {
            let path = self.out.join(rel);
            let mut w = PartWriter::append(&path, self.compress)
                .with_context(|| format!("opening {}", path.display()))?;
            w.write_all(bytes)?;
            w.finish()?;
            st.files.insert(rel.clone(), std::fs::metadata(&path)?.len());
        }
        st.follow = Some(Cursor {
            ts: *ts,
            seen: seen.iter().cloned().collect(),
        });
        state::save(self.out, st)
    }
}
