//! logq's querier: parses LogQL and evaluates it over the ingester's unflushed chunks and the
//! object store's chunks and blocks, returning the same answer whichever holds the data.
#![warn(missing_docs)]

mod detected;
mod engine;
mod error;
mod history_source;
mod json_path;
mod log_select;
pub mod logql;
mod metric;
mod pipeline;
mod remote_heads;

pub use detected::{detected_fields, detected_labels, DetectedField};
pub use engine::{Direction, LogQuery, Querier, QueryLimits, StreamResult, StreamStat};
pub use error::QueryError;
pub use history_source::needle_of;
pub use metric::{evaluate, MetricResult, Series, MAX_SERIES};
pub use pipeline::{process as run_pipeline, LineLabels, Processed};
pub use remote_heads::{matchers_from_json, matchers_to_json, RemoteHeads};
