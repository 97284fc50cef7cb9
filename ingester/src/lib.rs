//! logq's ingester: turns source records (local write-ahead log now, Kafka later) into
//! in-memory chunks per (tenant, stream, 5-minute window), flushes them to object storage, and
//! advances the source's committed position only past what is durably stored.
#![warn(missing_docs)]

mod error;
mod head;
mod ingester;
mod validate;
mod wal;
mod wal_distributor;

pub use error::{IngestError, Result};
pub use head::{AppendOutcome, FlushPolicy, FlushSet, Head, Position};
pub use ingester::{Ingester, IngesterConfig, IngesterMetrics};
pub use validate::{Distributor, Limits};
pub use wal::{open_wal, WalCommitter, WalReader, WalRecord, WalWriter, MAX_RECORD_BYTES};
pub use wal_distributor::WalDistributor;
