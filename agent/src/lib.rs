//! logq's agent: the sources that produce log lines. For now, a generator of realistic log
//! lines from several services and hosts (used by `logq gen`, `logq serve --demo`, `logq bench`
//! and tests); file tailing, syslog and stdin inputs come with the agent issue.
#![warn(missing_docs)]

mod generator;

pub use generator::{GeneratedLine, GeneratorConfig, LogGenerator, NEEDLE, SERVICES};
