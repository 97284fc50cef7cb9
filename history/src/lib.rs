//! logq's history indexes: temporary full-text indexes over a loaded time range, built on
//! demand from stored chunks and blocks and dropped later.
#![warn(missing_docs)]

mod stub_index;

pub use stub_index::{
    build, BuildProgress, HistoryError, HistoryIndex, IndexSpec, IndexSummary, Needle, SearchDirection,
    SearchPage, SearchRequest,
};

pub mod manager;
pub mod registry;

pub use manager::{
    canonical_selector, selector_covers, Description, HistoryManager, HistoryMetrics, LoadError,
    ManagerConfig, UsableIndex,
};
pub use registry::{IndexRecord, IndexState};
