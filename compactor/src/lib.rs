//! logq's compactor: merges a tenant's flushed 5-minute chunks into hour-long Parquet blocks
//! with label indexes, swaps the manifest atomically, applies retention, and deletes replaced
//! or expired objects after a grace period so that readers holding an older manifest can finish.
#![warn(missing_docs)]

mod compactor;
mod config;
mod deletes;
mod error;
mod publish;
mod retention;

pub use compactor::{merge_blocks, Compactor};
pub use config::CompactorConfig;
pub use error::CompactorError;
pub use retention::{expire, RetentionPolicy, StreamRetention};
