//! logq's storage engine: the data model (tenants, label sets, entries), the formats (flushed
//! chunks, Parquet blocks, label indexes, manifests) and the object store they live in.
//!
//! Everything above this crate (ingester, compactor, querier) speaks these types; nothing here
//! knows about HTTP, Kafka or LogQL.
#![warn(missing_docs)]

mod block;
mod chunk;
mod clock;
pub mod codec;
mod delete_request;
pub mod duration;
mod entry;
mod error;
mod head_reader;
pub mod json_line;
mod label_index;
mod labels;
pub mod layout;
mod line_grams;
pub mod logfmt;
mod manifest;
mod matcher;
mod merge;
pub mod push;
mod push_encode;
pub mod push_proto;
mod row_filter;
mod store;
mod tenant;
#[cfg(any(test, feature = "testsuite"))]
pub mod testsuite;

pub use block::{
    read_block_streams, read_block_streams_filtered, read_block_streams_ranged, stream_order_key,
    write_block, write_block_with, BlockOptions, BlockWriter, LineCodec, LineEncoding,
};
pub use chunk::{
    decode_chunk_block, encode_chunk, read_chunk_footer, read_chunk_streams, ChunkFooter, ChunkStream,
};
pub use clock::now_ns;
pub use delete_request::{CompiledDelete, DeleteRequest, LineTest};
pub use entry::{derive_message_id, Entry, PushBatch, StreamEntries};
pub use error::{Result, StorageError, StorageErrorKind};
pub use head_reader::{HeadReadError, HeadReader, HeadStreamStat, HeadStreams};
pub use label_index::{BlockIndex, IndexedStream, BLOCK_FORMAT_VERSION};
pub use labels::{is_valid_label_name, LabelSet, LabelsError};
pub use manifest::{BlockRef, ChunkRef, Manifest, ManifestStore, PendingDelete};
pub use matcher::{matches_all, regex_error_line, LabelMatcher, MatchOp, MatcherError};
pub use merge::merge_streams;
pub use push_encode::{entry_cost, split_records, PushEncoder, RecordParts, StreamPart};
pub use row_filter::{LinePredicate, RowFilter, ScanStats};
pub use store::{ObjectInfo, Store};
pub use tenant::{TenantError, TenantId, DEFAULT_TENANT};
