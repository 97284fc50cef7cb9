//! The head: in-memory chunks per (tenant, stream, 5-minute window) that have not reached
//! object storage yet, and the source positions they hold.
//!
//! Invariants: an entry is in at most one chunk of a stream; a chunk remembers, per source
//! partition, the lowest offset of the records that fed it, so the committable position of a
//! partition is the lowest such offset over every chunk still in memory (active or flushing).
//! Chunks being flushed stay queryable until the manifest lists them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logq_storage::layout::{window_start, WINDOW_NS};
use logq_storage::{matches_all, Entry, LabelMatcher, LabelSet, PushBatch, TenantId};

/// Estimated memory of one entry in the head beyond its line bytes: the entry itself, vector
/// slack and its de-duplication key (measured: a head of 67 MB of ~150-byte lines held about
/// twice that). Not the encoded size of an entry (storage's `entry_cost`).
const ENTRY_MEMORY_OVERHEAD: usize = 112;

/// Estimated memory of `entries` entries with `line_bytes` bytes of lines.
pub fn footprint(entries: usize, line_bytes: usize) -> usize {
    line_bytes + entries * ENTRY_MEMORY_OVERHEAD
}

/// A record's place in its source (a WAL has one partition, Kafka many).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Source partition.
    pub partition: u32,
    /// Offset within the partition.
    pub offset: u64,
}

#[derive(Debug, Default)]
struct MemChunk {
    entries: Vec<Entry>,
    seen: HashSet<(i64, u64)>,
    sorted: bool,
    bytes: usize,
    min_offsets: HashMap<u32, u64>,
    last_append: Option<Instant>,
}

impl MemChunk {
    fn push(&mut self, e: Entry, pos: Position) -> bool {
        if !self.seen.insert((e.ts, e.id)) {
            return false;
        }
        if self.entries.last().is_some_and(|l| l.ts > e.ts) {
            self.sorted = false;
        }
        self.bytes += e.line.len();
        self.entries.push(e);
        self.min_offsets
            .entry(pos.partition)
            .and_modify(|o| *o = (*o).min(pos.offset))
            .or_insert(pos.offset);
        true
    }

    fn sort(&mut self) {
        if !self.sorted {
            // Stable: entries with equal timestamps keep arrival order.
            self.entries.sort_by_key(|e| e.ts);
            self.sorted = true;
        }
    }
}

#[derive(Debug)]
struct StreamHead {
    labels: LabelSet,
    windows: BTreeMap<i64, MemChunk>,
}

/// Chunks of one (tenant, window) taken out of the head to be written as one object.
#[derive(Debug)]
pub struct FlushSet {
    /// Flush id, unique within the process.
    pub id: u64,
    /// Whose data.
    pub tenant: TenantId,
    /// The window start.
    pub window_start: i64,
    /// Streams with their sorted entries.
    pub streams: Vec<(LabelSet, Vec<Entry>)>,
    min_offsets: HashMap<u32, u64>,
    entries: usize,
    bytes: usize,
}

/// Why a chunk is due for flushing.
#[derive(Debug, Clone, Copy)]
pub struct FlushPolicy {
    /// Wall-clock now, in ns.
    pub now: i64,
    /// A window is closed once `now >= window end + grace`.
    pub grace_ns: i64,
    /// A chunk this large is flushed even if its window is open.
    pub max_chunk_bytes: usize,
    /// A chunk that received nothing for this long is flushed even if its window is open.
    pub idle: Option<Duration>,
    /// Flush everything (shutdown).
    pub force: bool,
    /// Over this estimated memory ([`footprint`]), the largest open chunks are flushed as well
    /// until what stays in memory is at most half of it.
    pub memory_target: Option<usize>,
}

impl FlushPolicy {
    fn is_due(&self, window_start: i64, chunk: &MemChunk) -> bool {
        self.force
            || window_start + WINDOW_NS + self.grace_ns <= self.now
            || chunk.bytes >= self.max_chunk_bytes
            || self
                .idle
                .zip(chunk.last_append)
                .is_some_and(|(idle, last)| last.elapsed() >= idle)
    }
}

#[derive(Debug, Default)]
struct TenantHead {
    streams: HashMap<u64, StreamHead>,
    flushing: Vec<Arc<FlushSet>>,
}

/// Counts of an append.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Entries added.
    pub appended: usize,
    /// Entries dropped as duplicates (same stream, timestamp and message id).
    pub duplicates: usize,
}

/// All in-memory data.
#[derive(Debug, Default)]
pub struct Head {
    tenants: HashMap<TenantId, TenantHead>,
    next_flush_id: u64,
}

impl Head {
    /// Adds a batch read at `pos`.
    pub fn append(&mut self, batch: &PushBatch, pos: Position) -> AppendOutcome {
        let mut out = AppendOutcome::default();
        let now = Instant::now();
        let tenant = self.tenants.entry(batch.tenant.clone()).or_default();
        for s in &batch.streams {
            let stream = tenant
                .streams
                .entry(s.labels.fingerprint())
                .or_insert_with(|| StreamHead {
                    labels: s.labels.clone(),
                    windows: BTreeMap::new(),
                });
            for e in &s.entries {
                let chunk = stream
                    .windows
                    .entry(window_start(e.ts))
                    .or_insert_with(|| MemChunk {
                        sorted: true,
                        ..Default::default()
                    });
                chunk.last_append = Some(now);
                if chunk.push(e.clone(), pos) {
                    out.appended += 1;
                } else {
                    out.duplicates += 1;
                }
            }
        }
        out
    }

    /// Moves every due chunk into flush sets, one per (tenant, window).
    pub fn take_due(&mut self, policy: FlushPolicy) -> Vec<Arc<FlushSet>> {
        let mut out = Vec::new();
        let relieve = self.chunks_to_relieve_memory(&policy);
        for (tenant_id, tenant) in &mut self.tenants {
            let mut by_window: BTreeMap<i64, FlushSet> = BTreeMap::new();
            for (fp, stream) in tenant.streams.iter_mut() {
                let due: Vec<i64> = stream
                    .windows
                    .iter()
                    .filter(|(ws, c)| {
                        policy.is_due(**ws, c)
                            || (!relieve.is_empty() && relieve.contains(&(tenant_id.clone(), *fp, **ws)))
                    })
                    .map(|(ws, _)| *ws)
                    .collect();
                for ws in due {
                    let Some(mut chunk) = stream.windows.remove(&ws) else {
                        continue;
                    };
                    chunk.sort();
                    let set = by_window.entry(ws).or_insert_with(|| FlushSet {
                        id: 0,
                        tenant: tenant_id.clone(),
                        window_start: ws,
                        streams: Vec::new(),
                        min_offsets: HashMap::new(),
                        entries: 0,
                        bytes: 0,
                    });
                    set.entries += chunk.entries.len();
                    set.bytes += chunk.bytes;
                    for (p, o) in chunk.min_offsets {
                        set.min_offsets
                            .entry(p)
                            .and_modify(|x| *x = (*x).min(o))
                            .or_insert(o);
                    }
                    set.streams.push((stream.labels.clone(), chunk.entries));
                }
            }
            tenant.streams.retain(|_, s| !s.windows.is_empty());
            for (_, mut set) in by_window {
                self.next_flush_id += 1;
                set.id = self.next_flush_id;
                let set = Arc::new(set);
                tenant.flushing.push(set.clone());
                out.push(set);
            }
        }
        out
    }

    /// Open chunks that are not due but must be flushed to bring memory under half of
    /// `policy.memory_target`, largest first. Empty when memory is under the target.
    fn chunks_to_relieve_memory(&self, policy: &FlushPolicy) -> HashSet<(TenantId, u64, i64)> {
        let mut picked = HashSet::new();
        let Some(target) = policy.memory_target else {
            return picked;
        };
        let (entries, bytes) = self.size();
        if policy.force || footprint(entries, bytes) <= target {
            return picked;
        }
        let mut open = Vec::new();
        let mut staying = 0;
        for (tenant_id, tenant) in &self.tenants {
            for (fp, stream) in &tenant.streams {
                for (ws, chunk) in &stream.windows {
                    if !policy.is_due(*ws, chunk) {
                        let size = footprint(chunk.entries.len(), chunk.bytes);
                        staying += size;
                        open.push((size, tenant_id, *fp, *ws));
                    }
                }
            }
        }
        open.sort_unstable_by_key(|c| std::cmp::Reverse(c.0));
        for (bytes, tenant_id, fp, ws) in open {
            if staying <= target / 2 {
                break;
            }
            staying -= bytes;
            picked.insert((tenant_id.clone(), fp, ws));
        }
        picked
    }

    /// Flush sets still waiting (a previous flush failed).
    pub fn pending_flushes(&self) -> Vec<Arc<FlushSet>> {
        self.tenants
            .values()
            .flat_map(|t| t.flushing.iter().cloned())
            .collect()
    }

    /// Drops a flush set once its chunk is listed in the manifest.
    pub fn finish_flush(&mut self, tenant: &TenantId, id: u64) {
        if let Some(t) = self.tenants.get_mut(tenant) {
            t.flushing.retain(|f| f.id != id);
            if t.flushing.is_empty() && t.streams.is_empty() {
                self.tenants.remove(tenant);
            }
        }
    }

    /// The offset from which `partition` must be replayed: the lowest offset still held in
    /// memory, or `consumed_next` when nothing from that partition is.
    pub fn committable(&self, partition: u32, consumed_next: u64) -> u64 {
        let active = self
            .tenants
            .values()
            .flat_map(|t| t.streams.values())
            .flat_map(|s| s.windows.values())
            .filter_map(|c| c.min_offsets.get(&partition));
        let flushing = self
            .tenants
            .values()
            .flat_map(|t| t.flushing.iter())
            .filter_map(|f| f.min_offsets.get(&partition));
        active
            .chain(flushing)
            .copied()
            .min()
            .unwrap_or(consumed_next)
            .min(consumed_next)
    }

    /// Entries of `tenant`'s streams matching `matchers` with timestamps in `[start, end)`, per
    /// stream, sorted by timestamp. A stream may appear more than once (active and flushing).
    pub fn select(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        start: i64,
        end: i64,
    ) -> Vec<(LabelSet, Vec<Entry>)> {
        let Some(t) = self.tenants.get(tenant) else {
            return Vec::new();
        };
        let in_range = |e: &&Entry| e.ts >= start && e.ts < end;
        let mut out = Vec::new();
        for s in t.streams.values().filter(|s| matches_all(matchers, &s.labels)) {
            let mut entries: Vec<Entry> = Vec::new();
            for (_, c) in s.windows.range(window_start(start)..end) {
                entries.extend(c.entries.iter().filter(in_range).cloned());
            }
            if !entries.is_empty() {
                entries.sort_by_key(|e| e.ts);
                out.push((s.labels.clone(), entries));
            }
        }
        for f in &t.flushing {
            for (labels, entries) in f.streams.iter().filter(|(l, _)| matches_all(matchers, l)) {
                let picked: Vec<Entry> = entries.iter().filter(in_range).cloned().collect();
                if !picked.is_empty() {
                    out.push((labels.clone(), picked));
                }
            }
        }
        out
    }

    /// Per matching stream with data in `[start, end)`: (labels, entries, line bytes) in range,
    /// counted without copying entries. A stream may appear more than once (active, flushing).
    pub fn stream_stats(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        start: i64,
        end: i64,
    ) -> Vec<(LabelSet, u64, u64)> {
        let Some(t) = self.tenants.get(tenant) else {
            return Vec::new();
        };
        let count = |entries: &mut dyn Iterator<Item = &Entry>| {
            entries
                .filter(|e| e.ts >= start && e.ts < end)
                .fold((0u64, 0u64), |(n, b), e| (n + 1, b + e.line.len() as u64))
        };
        let mut out = Vec::new();
        for s in t.streams.values().filter(|s| matches_all(matchers, &s.labels)) {
            let (n, b) = count(&mut s.windows.values().flat_map(|c| c.entries.iter()));
            if n > 0 {
                out.push((s.labels.clone(), n, b));
            }
        }
        for f in &t.flushing {
            for (labels, entries) in f.streams.iter().filter(|(l, _)| matches_all(matchers, l)) {
                let (n, b) = count(&mut entries.iter());
                if n > 0 {
                    out.push((labels.clone(), n, b));
                }
            }
        }
        out
    }

    /// (entries, line bytes) held in memory.
    pub fn size(&self) -> (usize, usize) {
        let mut n = 0;
        let mut b = 0;
        for t in self.tenants.values() {
            for c in t.streams.values().flat_map(|s| s.windows.values()) {
                n += c.entries.len();
                b += c.bytes;
            }
            for f in &t.flushing {
                n += f.entries;
                b += f.bytes;
            }
        }
        (n, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logq_storage::{MatchOp, StreamEntries};

    fn batch(tenant: &str, app: &str, ts: &[i64]) -> PushBatch {
        PushBatch {
            tenant: TenantId::new(tenant).unwrap(),
            streams: vec![StreamEntries {
                labels: LabelSet::parse(&format!("{{app=\"{app}\"}}")).unwrap(),
                entries: ts
                    .iter()
                    .map(|&t| Entry {
                        ts: t,
                        id: t as u64,
                        line: format!("l{t}"),
                        metadata: vec![],
                    })
                    .collect(),
            }],
        }
    }

    fn pos(offset: u64) -> Position {
        Position { partition: 0, offset }
    }

    #[test]
    fn dedups_sorts_and_separates_tenants() {
        let mut h = Head::default();
        assert_eq!(h.append(&batch("a", "x", &[30, 10, 20]), pos(0)).appended, 3);
        let again = h.append(&batch("a", "x", &[10]), pos(1));
        assert_eq!((again.appended, again.duplicates), (0, 1));
        h.append(&batch("b", "x", &[15]), pos(2));
        let m = [LabelMatcher::new("app", MatchOp::Equal, "x").unwrap()];
        let got = h.select(&TenantId::new("a").unwrap(), &m, 0, 100);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1.iter().map(|e| e.ts).collect::<Vec<_>>(), [10, 20, 30]);
        assert_eq!(h.select(&TenantId::new("a").unwrap(), &m, 15, 30)[0].1.len(), 1);
        let stats = h.stream_stats(&TenantId::new("b").unwrap(), &m, 0, 100);
        assert_eq!(stats.len(), 1);
        assert_eq!((stats[0].1, stats[0].2), (1, 3));
    }

    #[test]
    fn committable_tracks_lowest_unflushed_offset() {
        let mut h = Head::default();
        let old = 0;
        let new = 10 * WINDOW_NS;
        h.append(&batch("a", "x", &[old]), pos(5));
        h.append(&batch("a", "y", &[new]), pos(6));
        h.append(&batch("a", "x", &[old + 1]), pos(7));
        assert_eq!(h.committable(0, 8), 5);
        let policy = FlushPolicy {
            now: new,
            grace_ns: 0,
            max_chunk_bytes: usize::MAX,
            idle: None,
            force: false,
            memory_target: None,
        };
        let due = h.take_due(policy);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].streams[0].1.len(), 2);
        // Flushing data is still held and still queryable.
        assert_eq!(h.committable(0, 8), 5);
        let all = [LabelMatcher::new("app", MatchOp::Regex, ".+").unwrap()];
        assert_eq!(h.select(&TenantId::new("a").unwrap(), &all, 0, i64::MAX).len(), 2);
        h.finish_flush(&TenantId::new("a").unwrap(), due[0].id);
        assert_eq!(h.committable(0, 8), 6);
        let rest = h.take_due(FlushPolicy {
            force: true,
            ..policy
        });
        h.finish_flush(&TenantId::new("a").unwrap(), rest[0].id);
        assert_eq!(h.committable(0, 8), 8);
        assert_eq!(h.size(), (0, 0));
    }

    #[test]
    fn idle_chunks_are_flushed_before_their_window_closes() {
        let mut h = Head::default();
        h.append(&batch("a", "x", &[WINDOW_NS]), pos(0));
        let policy = FlushPolicy {
            now: WINDOW_NS,
            grace_ns: 0,
            max_chunk_bytes: usize::MAX,
            idle: Some(Duration::from_millis(50)),
            force: false,
            memory_target: None,
        };
        assert!(h.take_due(policy).is_empty(), "not idle yet");
        std::thread::sleep(Duration::from_millis(60));
        let due = h.take_due(policy);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].streams[0].1.len(), 1);
    }

    #[test]
    fn memory_target_flushes_largest_open_chunks_first() {
        let mut h = Head::default();
        let line = |n: usize| "x".repeat(n);
        let mut b = batch("a", "big", &[1]);
        b.streams[0].entries[0].line = line(600);
        h.append(&b, pos(0));
        let mut b = batch("a", "mid", &[2]);
        b.streams[0].entries[0].line = line(300);
        h.append(&b, pos(1));
        let mut b = batch("a", "small", &[3]);
        b.streams[0].entries[0].line = line(100);
        h.append(&b, pos(2));
        let policy = FlushPolicy {
            now: 0,
            grace_ns: WINDOW_NS,
            max_chunk_bytes: usize::MAX,
            idle: None,
            force: false,
            memory_target: Some(2000),
        };
        // Footprints: 712, 412 and 212 bytes.
        // Under the target: every window is open, nothing is due.
        assert!(h.take_due(policy).is_empty());
        // 1336 bytes over a target of 1300: keep at most 650, so the largest chunk goes.
        let due = h.take_due(FlushPolicy {
            memory_target: Some(1300),
            ..policy
        });
        let mut flushed: Vec<String> = due
            .iter()
            .flat_map(|s| s.streams.iter().map(|(l, _)| l.get("app").unwrap().to_string()))
            .collect();
        flushed.sort();
        assert_eq!(flushed, ["big"]);
        for set in &due {
            h.finish_flush(&TenantId::new("a").unwrap(), set.id);
        }
        assert_eq!(h.size(), (2, 400));
        assert_eq!(h.committable(0, 3), 1);
    }
}
