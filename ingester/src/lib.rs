//! logq's ingester: turns source records (the local write-ahead log, or Kafka) into
//! in-memory chunks per (tenant, stream, 5-minute window), flushes them to object storage, and
//! advances the source's committed position only past what is durably stored.
#![warn(missing_docs)]

mod error;
mod head;
mod ingester;
#[cfg(feature = "kafka")]
mod kafka_config;
#[cfg(feature = "kafka")]
mod kafka_distributor;
#[cfg(feature = "kafka")]
mod kafka_log;
#[cfg(feature = "kafka")]
mod kafka_record;
#[cfg(feature = "kafka")]
mod kafka_source;
mod source;
mod validate;
mod wal;
mod wal_distributor;
mod wal_source;

pub use error::{IngestError, Result};
pub use head::{footprint, AppendOutcome, FlushPolicy, FlushSet, Head, Position};
pub use ingester::{Ingester, IngesterConfig, IngesterMetrics};
#[cfg(feature = "kafka")]
pub use kafka_config::{stable_instance_id, KafkaSettings, DEFAULT_SESSION_TIMEOUT, INSTANCE_ID_FILE};
#[cfg(feature = "kafka")]
pub use kafka_distributor::{DistributorMetrics, KafkaDistributor, MAX_RECORD_LINE_BYTES};
#[cfg(feature = "kafka")]
pub use kafka_log::LogContext as KafkaLogContext;
#[cfg(feature = "kafka")]
pub use kafka_record::{
    RecordDecoder, RecordMeta, CONTENT_ENCODING_HEADER, CONTENT_TYPE_HEADER, IDENTITY_ENCODING,
    PROTOBUF_CONTENT_TYPE, TENANT_HEADER,
};
#[cfg(feature = "kafka")]
pub use kafka_source::{IngesterContext, KafkaSource};
pub use source::{Source, SourceRecord};
pub use validate::{label_rejection, reason, Distributor, Limits, Rejection};
pub use wal::{
    open_wal, open_wal_with_faults, WalCommitter, WalReader, WalRecord, WalWriter, WriteFault,
    MAX_RECORD_BYTES,
};
pub use wal_distributor::WalDistributor;
pub use wal_source::WalSource;
