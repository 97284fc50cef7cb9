//! [`CompactorConfig`]: when the compactor works and how it encodes blocks.

use std::time::Duration;

use logq_storage::BlockOptions;

use crate::retention::RetentionPolicy;

/// Compactor settings.
#[derive(Debug, Clone)]
pub struct CompactorConfig {
    /// How often to look for work.
    pub interval: Duration,
    /// An hour is compacted once it ended this long ago (late chunks have arrived by then).
    pub hour_grace: Duration,
    /// Replaced objects are deleted this long after the manifest stopped naming them.
    pub delete_grace: Duration,
    /// How long data is kept.
    pub retention: RetentionPolicy,
    /// A day's hour blocks are merged into one day block once the day ended this long ago
    /// (and no chunk of that day is left); `None` keeps hour blocks. The default (one day)
    /// leaves yesterday in hour blocks, whose smaller pages prune better for recent queries.
    pub day_grace: Option<Duration>,
    /// Encoding of hour blocks (and of hour blocks rewritten for delete requests).
    pub hour_blocks: BlockOptions,
    /// Encoding of day blocks (and of day blocks rewritten for delete requests).
    pub day_blocks: BlockOptions,
}

impl Default for CompactorConfig {
    fn default() -> Self {
        CompactorConfig {
            interval: Duration::from_secs(60),
            hour_grace: Duration::from_secs(15 * 60),
            delete_grace: Duration::from_secs(5 * 60),
            retention: RetentionPolicy::default(),
            day_grace: Some(Duration::from_secs(24 * 3600)),
            hour_blocks: BlockOptions::hour(),
            day_blocks: BlockOptions::day(),
        }
    }
}
