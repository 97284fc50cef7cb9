//! `logq serve --demo`: pushes generated lines through the distributor at a steady rate,
//! starting with the last ten minutes so a new user sees data at once. Lines get the server's
//! ingest-time discovery (`service_name`, `detected_level`) as pushed lines do, so Grafana's
//! Logs Drilldown shows services and levels.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use logq_api::IngestDefaults;
use logq_ingester::Distributor;
use logq_loadgen::LogGenerator;
use logq_storage::{derive_message_id, now_ns, Entry, LabelSet, PushBatch, StreamEntries, TenantId};
use tokio::sync::watch;

/// Generates `count` lines evenly spread over `[from, to)` as one push batch.
fn batch(gen: &mut LogGenerator, from: i64, to: i64, count: u32) -> PushBatch {
    let mut streams: BTreeMap<LabelSet, Vec<Entry>> = BTreeMap::new();
    let step = ((to - from) / i64::from(count.max(1))).max(1);
    for i in 0..i64::from(count) {
        let ts = from + i * step;
        let g = gen.next_line(ts);
        let id = derive_message_id(g.labels.fingerprint(), ts, &g.line);
        streams.entry(g.labels).or_default().push(Entry {
            ts,
            id,
            line: g.line,
            metadata: Vec::new(),
        });
    }
    PushBatch {
        tenant: TenantId::default_tenant(),
        streams: streams
            .into_iter()
            .map(|(labels, entries)| StreamEntries { labels, entries })
            .collect(),
    }
}

/// Pushes the last ten minutes of demo lines; returns the generator and the time it reached.
pub(crate) async fn backfill(
    distributor: &dyn Distributor,
    rate: u32,
    defaults: &IngestDefaults,
) -> (LogGenerator, i64) {
    let mut gen = LogGenerator::new(now_ns() as u64);
    let now = now_ns();
    let from = now - 10 * 60 * 1_000_000_000;
    let mut b = batch(&mut gen, from, now, rate.saturating_mul(600));
    defaults.apply(&mut b);
    if let Err(e) = distributor.push(b).await {
        tracing::warn!(error = %e, "demo backfill failed");
    }
    (gen, now)
}

/// Feeds the demo stream from where [`backfill`] stopped until shutdown.
pub(crate) async fn feed(
    distributor: Arc<dyn Distributor>,
    (mut gen, mut last): (LogGenerator, i64),
    rate: u32,
    defaults: IngestDefaults,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = now_ns();
                let mut b = batch(&mut gen, last, now, rate);
                defaults.apply(&mut b);
                if let Err(e) = distributor.push(b).await {
                    tracing::warn!(error = %e, "demo push failed");
                }
                last = now;
            }
            _ = shutdown.changed() => return,
        }
    }
}
