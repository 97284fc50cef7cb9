//! logq's querier: parses LogQL and evaluates it over the ingester's unflushed chunks and the
//! object store's chunks and blocks, returning the same answer whichever holds the data.
#![warn(missing_docs)]

mod detected;
mod engine;
mod error;
mod export;
mod json_path;
mod line_labels;
mod log_select;
pub mod logql;
mod metric;
mod pipeline;
mod plan;
mod remote_heads;
mod scan;
mod sources;
mod stages;
mod warnings;

pub use detected::{detected_fields, detected_labels};
pub use engine::{Direction, LogQuery, Querier, QueryLimits, StreamResult};
pub use error::QueryError;

pub use metric::{evaluate, evaluate_tenants, MetricResult, Series, TENANT_LABEL};
pub use pipeline::{Pipeline, Processed};
pub use remote_heads::{matchers_from_json, RemoteHeads};
pub use sources::{
    BlockSource, ChunkSource, DataSource, HeadSource, SourceKind, SourcePart, SourceRequest, SourceStreams,
    StoredObject,
};
pub use warnings::collect_warnings;
