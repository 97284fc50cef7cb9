//! The agent's Kafka output: batches go through the distributor's producer (topic
//! `h-<environment>`, key = the host label or another, idempotent, `acks=all`, zstd), so Kafka
//! records from the agent and from the push API are one format, with the agent's stable message
//! ids. `send` returns only once Kafka acknowledged every record of the batch; then the agent
//! moves its checkpoint.

use logq_agent::{Delivery, Output, OutputError};
use logq_ingester::{KafkaDistributor, KafkaSettings};
use logq_storage::{PushBatch, TenantId};

/// Produces the agent's batches to Kafka.
pub struct KafkaOutput {
    runtime: tokio::runtime::Runtime,
    distributor: KafkaDistributor,
    tenant: Option<TenantId>,
    brokers: String,
}

impl KafkaOutput {
    /// Connects to `settings.brokers` (creating the topic when missing); batches are stored as
    /// `tenant` when given (else as the batch's own tenant).
    pub fn connect(settings: &KafkaSettings, tenant: Option<TenantId>) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let distributor = runtime.block_on(KafkaDistributor::connect(settings))?;
        Ok(KafkaOutput {
            runtime,
            distributor,
            tenant,
            brokers: settings.brokers.clone(),
        })
    }
}

impl Output for KafkaOutput {
    fn send(&mut self, batch: &PushBatch) -> Result<Delivery, OutputError> {
        self.runtime
            .block_on(self.distributor.push_ref(batch, self.tenant.as_ref()))
            .map(|()| Delivery::default())
            .map_err(|e| OutputError {
                // Kafka errors are transient from the agent's side: keep the lines and retry.
                retryable: true,
                message: format!("producing to Kafka at {}: {e}", self.brokers),
            })
    }
}
