//! logq's compactor: merges a tenant's flushed 5-minute chunks into hour-long Parquet blocks
//! with label indexes, swaps the manifest atomically, and deletes the inputs after a grace
//! period so that readers holding an older manifest can finish.
#![warn(missing_docs)]

mod compactor;

pub use compactor::{CompactionReport, Compactor, CompactorConfig, CompactorError};
