//! The load tools, apart from the server and agent commands: `logq gen` (generated lines to
//! stdout, files, a push URL or Kafka) and `logq bench` (the end-to-end benchmark). Both drive
//! logq from outside, as users would: the benchmark starts `logq serve` as a child process
//! because it measures that process's CPU time and peak RSS from `/proc`, which an in-process
//! server would mix with the load generator's own.

pub mod bench;
pub mod bench_history;
pub mod gen;
