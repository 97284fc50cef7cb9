//! Embedded mode's distributor: appends each push to the local WAL and, once durable, waits
//! briefly for the ingester to apply it, so a line is queryable as soon as its push returns.

use std::time::Duration;

use futures::future::BoxFuture;
use logq_storage::{codec, PushBatch};
use tokio::sync::watch;

use crate::error::IngestError;
use crate::validate::Distributor;
use crate::wal::WalWriter;

/// How long a push waits for the ingester to apply it (it is already durable either way).
const APPLY_WAIT: Duration = Duration::from_secs(2);

/// Pushes into the local write-ahead log.
pub struct WalDistributor {
    writer: WalWriter,
    applied: watch::Receiver<u64>,
}

impl WalDistributor {
    /// Pushes through `writer`; `applied` is the ingester's applied-offset watch.
    pub fn new(writer: WalWriter, applied: watch::Receiver<u64>) -> Self {
        WalDistributor { writer, applied }
    }
}

impl Distributor for WalDistributor {
    fn push(&self, batch: PushBatch) -> BoxFuture<'_, Result<(), IngestError>> {
        Box::pin(async move {
            let payload = codec::encode_batch(&batch);
            let offset = self.writer.append(payload).await?;
            let mut applied = self.applied.clone();
            let _ = tokio::time::timeout(APPLY_WAIT, applied.wait_for(|next| *next > offset)).await;
            Ok(())
        })
    }
}
