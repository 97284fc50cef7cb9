//! logq's agent: the sources that produce log lines. A file tailer that delivers every line
//! exactly once to a Loki-compatible push endpoint (checkpoint journal + stable message ids), the
//! pieces it is built from (timestamp recognition, line splitting), and a generator of realistic
//! log lines from several services and hosts (used by `logq gen`, `logq serve --demo`,
//! `logq bench` and tests).
#![warn(missing_docs)]

mod checkpoint;
mod error;
mod generator;
mod http_output;
mod json_lines;
mod lines;
mod pipeline;
mod stdin;
mod syslog;
mod tailer;
mod timestamp;
mod watcher;

pub use checkpoint::{
    fingerprint, message_id, new_file_id, FileCheckpoint, Journal, Segment, FINGERPRINT_BYTES,
};
pub use error::{AgentError, OutputError};
pub use generator::{GeneratedLine, GeneratorConfig, LogGenerator, NEEDLE, SERVICES};
pub use http_output::{HttpOutput, Output};
pub use json_lines::{map_json_line, JsonMapped};
pub use lines::{LineSplitter, Multiline, RawLine};
pub use pipeline::{hostname, run, run_with_sources, AgentConfig, AgentStats};
pub use stdin::{start as start_stdin, stdin_entry, StdinConfig};
pub use syslog::{
    parse_syslog, start as start_syslog, to_entry, SourceEntry, SyslogConfig, SyslogMessage, SyslogStats,
};
pub use tailer::{FileLine, Tailer, TailerConfig, TailerStats};
pub use timestamp::{parse_timestamp, ParsedTime, SCAN_LIMIT};
pub use watcher::{expand, wildmatch, FsEvents};
