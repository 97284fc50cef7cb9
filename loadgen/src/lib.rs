//! logq's load generator: deterministic, realistic log lines from a few services and hosts, for
//! `logq gen`, `logq serve --demo`, `logq bench`, the criterion benches and tests. Nothing in
//! the server or the agent depends on it at run time except the demo feeder.
#![warn(missing_docs)]

mod generator;

pub use generator::{GeneratedLine, GeneratorConfig, LogGenerator, NEEDLE};
