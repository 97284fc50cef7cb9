//! logq's history index: a temporary full-text index of one tenant's stored lines over a time
//! range (and optionally a stream selector), built on demand from flushed chunks and blocks and
//! thrown away later, so that dozens of searches over an incident window take milliseconds
//! instead of a scan each.
//!
//! The interface (used by the per-tenant manager, the API and [`HistorySource`], the
//! querier's data source over ready indexes):
//! - [`build`]`(store, spec, dir, progress, cancel)` builds the index of an [`IndexSpec`] into
//!   a directory (atomically), reporting [`BuildProgress`], returning an [`IndexSummary`];
//! - [`HistoryIndex::open`] reopens and verifies a directory (a corrupted or partial index is
//!   an error, never wrong answers); [`HistoryIndex::summary`] says what it holds;
//! - [`HistoryIndex::search`] answers a [`SearchRequest`] (streams, time range, the objects the
//!   caller still trusts, a [`Needle`], direction, limit, cursor) with a [`SearchPage`] of
//!   entries exactly as stored, each checked against the needle: never a false negative,
//!   never a false positive.
//!
//! Lines are indexed by their words (case kept; see [`tokens`] for how needles that cut
//! words, like `ror: conn`, still find every line), with the entries in tantivy's compressed
//! doc store and timestamps, streams and objects as fast fields.
#![warn(missing_docs)]

mod bits;
mod build;
mod candidates;
mod error;
mod history_index;
mod meta;
mod schema;
mod spec;
mod term_grams;
mod tokens;

pub use build::build;
pub use error::HistoryError;
pub use history_index::HistoryIndex;
pub use meta::META_FILE;
pub use spec::{BuildProgress, Cursor, Direction, HistoryEntry, IndexSpec, Needle, SearchRequest};

// The service around the index (branch hsvc): per-tenant registry and lifecycle.
mod manager;
mod registry;
mod source;

pub use manager::{Description, HistoryManager, LoadError, ManagerConfig};

pub use source::HistorySource;
