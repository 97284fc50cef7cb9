//! logq's agent: the sources that produce log lines. For now, a generator of realistic log
//! lines from a few services and hosts (used by `logq serve --demo` and tests); file tailing,
//! syslog and stdin inputs come with the agent issue.
#![warn(missing_docs)]

mod generator;

pub use generator::{GeneratedLine, LogGenerator};
