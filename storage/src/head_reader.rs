//! The head-reader contract: how a querier reads entries that are not in the object store yet
//! (an ingester's in-memory chunks, in this process or another one).
//!
//! It lives here, below both sides, so the ingester implements it without knowing the querier
//! and the querier reads heads without depending on the ingester (nor on Kafka). Implemented by
//! `logq_ingester::Ingester` (its own head) and `logq_querier::RemoteHeads` (other processes'
//! heads over HTTP).
//!
//! Invariants an implementation keeps:
//! - `select` answers every entry of a matching stream with `start <= ts < end` that the head
//!   holds, including chunks being flushed (they leave the head only after a manifest lists
//!   them), each stream's entries in time order; a stream may appear more than once (its open
//!   chunks and a flush set): readers de-duplicate.
//! - A head that cannot answer fails with [`HeadReadError`] rather than answering partially:
//!   a silently partial answer is a wrong answer.

use futures::future::BoxFuture;

use crate::{Entry, LabelMatcher, LabelSet, TenantId};

/// A head could not be read (an ingester did not answer, or answered something unreadable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HeadReadError(pub String);

/// Entries of matching streams, as a head answers them.
pub type HeadStreams = Vec<(LabelSet, Vec<Entry>)>;

/// Size of one stream in a head: (labels, entries, line bytes) in the asked range.
pub type HeadStreamStat = (LabelSet, u64, u64);

/// Anything holding unflushed entries a query must see.
pub trait HeadReader: Send + Sync {
    /// Entries of streams matching `matchers` (all of them) with `start <= ts < end`.
    fn select<'a>(
        &'a self,
        tenant: &'a TenantId,
        matchers: &'a [LabelMatcher],
        start: i64,
        end: i64,
    ) -> BoxFuture<'a, Result<HeadStreams, HeadReadError>>;

    /// Per matching stream: entries and line bytes with `start <= ts < end`.
    fn stream_stats<'a>(
        &'a self,
        tenant: &'a TenantId,
        matchers: &'a [LabelMatcher],
        start: i64,
        end: i64,
    ) -> BoxFuture<'a, Result<Vec<HeadStreamStat>, HeadReadError>>;
}
