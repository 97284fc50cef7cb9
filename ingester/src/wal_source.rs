//! The local write-ahead log as a [`Source`]: one partition (0), records encoded with
//! [`logq_storage::codec`], commits written to the WAL's `committed` file.

use futures::future::BoxFuture;
use logq_storage::codec;

use crate::head::Position;
use crate::ingester::Ingester;
use crate::source::{Source, SourceRecord};
use crate::wal::{WalCommitter, WalReader, WalRecord};

/// Embedded mode's source.
pub struct WalSource {
    reader: WalReader,
    committer: WalCommitter,
    consumed_next: u64,
    committed: u64,
}

impl WalSource {
    /// Reads `reader` (which replays from the committed offset) and commits through `committer`.
    pub fn new(reader: WalReader, committer: WalCommitter) -> Self {
        let committed = committer.committed().unwrap_or(0);
        WalSource {
            reader,
            committer,
            consumed_next: committed,
            committed,
        }
    }
}

fn to_source_record(record: WalRecord) -> SourceRecord {
    SourceRecord {
        position: Position {
            partition: 0,
            offset: record.offset,
        },
        bytes: record.payload.len(),
        batch: codec::decode_batch(&record.payload)
            .map_err(|e| format!("WAL record at offset {}: {e}", record.offset)),
    }
}

impl Source for WalSource {
    fn next(&mut self) -> BoxFuture<'_, Option<SourceRecord>> {
        Box::pin(async move { self.reader.next().await.map(to_source_record) })
    }

    fn try_next(&mut self) -> Option<SourceRecord> {
        self.reader.try_next().map(to_source_record)
    }

    fn consumed(&mut self, position: Position) {
        self.consumed_next = position.offset + 1;
    }

    fn commit<'a>(&'a mut self, ingester: &'a Ingester, _last: bool) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let target = ingester.committable(0, self.consumed_next);
            if target <= self.committed {
                return;
            }
            let c = self.committer.clone();
            match tokio::task::spawn_blocking(move || c.commit(target)).await {
                Ok(Ok(())) => self.committed = target,
                Ok(Err(e)) => tracing::warn!(error = %e, "committing WAL position failed"),
                Err(e) => tracing::warn!(error = %e, "committing WAL position panicked"),
            }
        })
    }
}
