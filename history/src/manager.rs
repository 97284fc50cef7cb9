//! The per-tenant history manager: which indexes exist, their lifecycle and their disk use.
//!
//! Invariants:
//! - One index per (tenant, range, selector): its id is a hash of the three, and a load of an
//!   index that is queued, building or ready returns it (however many callers ask at once:
//!   the check and the insert happen under one lock).
//! - Builds run in the background, at most `build_concurrency` at once; each writes its own
//!   directory `<root>/<tenant>/<id>-<generation>`, so a cancelled build never touches the
//!   files of the build that replaced it.
//! - Only `ready` indexes are handed to queries; a query that finds one corrupt reports it
//!   ([`HistoryManager::report_broken`]) and the index is rebuilt.
//! - The registry (`registry.rs`) is rewritten on every state change, so a restart reopens
//!   ready indexes (verified by [`HistoryIndex::open`]; a damaged one is rebuilt) and requeues
//!   unfinished builds.
//! - Disk: after each build, least-recently-used ready indexes (of any tenant) are evicted
//!   until the total is within the budget; an index larger than the whole budget fails.
//! - An index unused for `ttl` expires (its files are deleted; the record stays, `expired`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use logq_storage::{now_ns, LabelMatcher, ManifestStore, MatchOp, TenantId};

use crate::registry::{self, IndexRecord, IndexState};
use crate::{build, BuildProgress, HistoryIndex, IndexSpec};

/// How the manager behaves.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// Where indexes live (`<data-dir>/history`).
    pub root: PathBuf,
    /// An index unused this long expires.
    pub ttl: Duration,
    /// Most bytes all indexes together may use on disk.
    pub disk_budget: u64,
    /// Longest range one index may cover, ns.
    pub max_range_ns: i64,
    /// Builds running at once (each uses about one core).
    pub build_concurrency: usize,
    /// Builds one tenant may have queued or running at once (429 above).
    pub max_pending_per_tenant: usize,
}

impl ManagerConfig {
    /// Defaults for indexes under `root`: 6h time to live, 10 GB, 7 days, one build at a time.
    pub fn new(root: PathBuf) -> Self {
        ManagerConfig {
            root,
            ttl: Duration::from_secs(6 * 3600),
            disk_budget: 10_000_000_000,
            max_range_ns: 7 * 24 * 3600 * 1_000_000_000,
            build_concurrency: 1,
            max_pending_per_tenant: 4,
        }
    }
}

/// Why a load was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Bad parameters (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// Over a limit: the disk budget or the builds in flight (HTTP 429).
    #[error("{0}")]
    OverLimit(String),
    /// Reading the manifest failed.
    #[error("{0}")]
    Storage(#[from] logq_storage::StorageError),
}

/// An index as the API describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    /// The registry record.
    pub record: IndexRecord,
    /// Build progress, 0..=1 (1 when ready).
    pub progress: f64,
    /// When it expires unless used again (Unix ns); `None` once expired or failed.
    pub expires_at: Option<i64>,
}

/// A ready index a query may use.
#[derive(Clone)]
pub struct UsableIndex {
    /// Its id.
    pub id: String,
    /// Inclusive start of what it covers, ns.
    pub start: i64,
    /// Exclusive end, ns.
    pub end: i64,
    /// Keys of the objects it was built from.
    pub objects: Arc<HashSet<String>>,
    /// The opened index.
    pub index: Arc<HistoryIndex>,
}

/// Counters exported in `/metrics`.
#[derive(Debug, Default)]
pub struct HistoryMetrics {
    /// Builds started.
    pub builds_started: AtomicU64,
    /// Builds that produced a ready index.
    pub builds_succeeded: AtomicU64,
    /// Builds that failed.
    pub builds_failed: AtomicU64,
    /// Indexes dropped after their time to live.
    pub expired: AtomicU64,
    /// Indexes evicted under the disk budget.
    pub evicted: AtomicU64,
    /// Indexes found corrupt (and rebuilt).
    pub corrupt: AtomicU64,
    /// Queries that could use an index (a positive line filter).
    pub queries_eligible: AtomicU64,
    /// Queries answered at least partly by an index.
    pub queries_served: AtomicU64,
}

struct Slot {
    record: IndexRecord,
    matchers: Vec<LabelMatcher>,
    /// Directory name under the tenant's directory.
    dir: String,
    generation: u64,
    progress: Arc<BuildProgress>,
    cancel: Arc<AtomicBool>,
    index: Option<Arc<HistoryIndex>>,
    objects: Arc<HashSet<String>>,
}

type Tenants = HashMap<TenantId, BTreeMap<String, Slot>>;

/// Manages every tenant's history indexes.
pub struct HistoryManager {
    config: ManagerConfig,
    manifests: ManifestStore,
    tenants: Mutex<Tenants>,
    builds: Arc<tokio::sync::Semaphore>,
    generation: AtomicU64,
    /// Counters for `/metrics`.
    pub metrics: HistoryMetrics,
}

/// The canonical text of a selector: matchers sorted, `{}` for none.
pub fn canonical_selector(matchers: &[LabelMatcher]) -> String {
    let mut parts: Vec<String> = matchers.iter().map(ToString::to_string).collect();
    parts.sort();
    parts.dedup();
    format!("{{{}}}", parts.join(", "))
}

/// Whether every stream matching `query` also matches `index` (so an index built for `index`
/// holds all of a query's streams): `index` is empty or each of its matchers is in `query`.
pub fn selector_covers(index: &[LabelMatcher], query: &[LabelMatcher]) -> bool {
    index.iter().all(|m| {
        query
            .iter()
            .any(|q| q.name == m.name && q.op == m.op && q.value == m.value)
    })
}

/// The id of an index: FNV-1a of tenant, range and canonical selector.
fn index_id(tenant: &TenantId, start: i64, end: i64, selector: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{tenant}\0{start}\0{end}\0{selector}").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn matcher_triples(matchers: &[LabelMatcher]) -> Vec<(String, String, String)> {
    matchers
        .iter()
        .map(|m| (m.name.clone(), m.op.as_str().to_string(), m.value.clone()))
        .collect()
}

fn matchers_of(triples: &[(String, String, String)]) -> Option<Vec<LabelMatcher>> {
    triples
        .iter()
        .map(|(n, op, v)| {
            let op = match op.as_str() {
                "=" => MatchOp::Equal,
                "!=" => MatchOp::NotEqual,
                "=~" => MatchOp::Regex,
                "!~" => MatchOp::NotRegex,
                _ => return None,
            };
            LabelMatcher::new(n.clone(), op, v.clone()).ok()
        })
        .collect()
}

impl HistoryManager {
    /// Opens the manager: reads every tenant's registry, reopens ready indexes (rebuilding any
    /// that fail verification), requeues unfinished builds, removes stray directories, and
    /// starts the expiry sweeper. Needs a Tokio runtime.
    pub async fn open(config: ManagerConfig, manifests: ManifestStore) -> std::io::Result<Arc<Self>> {
        std::fs::create_dir_all(&config.root)?;
        let manager = Arc::new(HistoryManager {
            builds: Arc::new(tokio::sync::Semaphore::new(config.build_concurrency.max(1))),
            config,
            manifests,
            tenants: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(now_ns() as u64),
            metrics: HistoryMetrics::default(),
        });
        let mut rebuild = Vec::new();
        for tenant in registry::tenants(&manager.config.root)? {
            let records = registry::read(&manager.config.root, &tenant)?;
            let mut slots = BTreeMap::new();
            for mut record in records {
                let Some(matchers) = matchers_of(&record.matchers) else {
                    tracing::warn!(tenant = %tenant, id = %record.id, "history index with an unreadable selector dropped");
                    continue;
                };
                let dir = record.dir.clone();
                let path = registry::tenant_dir(&manager.config.root, &tenant).join(&dir);
                let mut slot = Slot {
                    matchers,
                    dir,
                    generation: 0,
                    progress: Arc::new(BuildProgress::default()),
                    cancel: Arc::new(AtomicBool::new(false)),
                    index: None,
                    objects: Arc::default(),
                    record: record.clone(),
                };
                match record.state {
                    IndexState::Ready => match HistoryIndex::open(&path) {
                        Ok(index) => {
                            slot.objects = Arc::new(index.summary().objects.iter().cloned().collect());
                            slot.index = Some(Arc::new(index));
                        }
                        Err(e) => {
                            tracing::warn!(tenant = %tenant, id = %record.id, error = %e, "history index failed verification; rebuilding");
                            manager.metrics.corrupt.fetch_add(1, Relaxed);
                            record.state = IndexState::Queued;
                            record.error = Some(format!("rebuilding: {e}"));
                            slot.record = record.clone();
                            rebuild.push((tenant.clone(), record.id.clone()));
                        }
                    },
                    IndexState::Queued | IndexState::Building => {
                        slot.record.state = IndexState::Queued;
                        rebuild.push((tenant.clone(), record.id.clone()));
                    }
                    IndexState::Failed | IndexState::Expired => {}
                }
                slots.insert(slot.record.id.clone(), slot);
            }
            remove_strays(&manager.config.root, &tenant, &slots);
            manager
                .tenants
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(tenant, slots);
        }
        {
            let mut tenants = manager.lock();
            for (tenant, id) in &rebuild {
                manager.restart_build(&mut tenants, tenant, id);
            }
            manager.enforce_budget(&mut tenants, None);
            for t in tenants.keys().cloned().collect::<Vec<_>>() {
                manager.persist(&tenants, &t);
            }
        }
        let sweeper = Arc::downgrade(&manager);
        let every = (manager.config.ttl / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(m) = sweeper.upgrade() else { break };
                m.sweep(now_ns());
            }
        });
        Ok(manager)
    }

    /// The configuration.
    pub fn config(&self) -> &ManagerConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, Tenants> {
        self.tenants.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn describe(&self, slot: &Slot) -> Description {
        let r = &slot.record;
        let progress = match r.state {
            IndexState::Ready => 1.0,
            IndexState::Building => slot.progress.fraction().clamp(0.0, 1.0),
            _ => 0.0,
        };
        let ttl = self.config.ttl.as_nanos().min(i64::MAX as u128) as i64;
        Description {
            record: r.clone(),
            progress,
            expires_at: matches!(
                r.state,
                IndexState::Queued | IndexState::Building | IndexState::Ready
            )
            .then(|| r.last_used_at.saturating_add(ttl)),
        }
    }

    /// Asks for an index of `[start, end)` over the streams `matchers` select (all when
    /// empty): the existing one when it is queued, building or ready, else a new build.
    pub async fn load(
        self: &Arc<Self>,
        tenant: &TenantId,
        start: i64,
        end: i64,
        matchers: Vec<LabelMatcher>,
    ) -> Result<Description, LoadError> {
        if start >= end {
            return Err(LoadError::Invalid(
                "invalid history range: start must be before end".into(),
            ));
        }
        if end - start > self.config.max_range_ns {
            return Err(LoadError::Invalid(format!(
                "history range too long: {}s, the limit is {}s (--history-max-range)",
                (end - start) / 1_000_000_000,
                self.config.max_range_ns / 1_000_000_000
            )));
        }
        let query = canonical_selector(&matchers);
        let id = index_id(tenant, start, end, &query);
        let now = now_ns();
        if let Some(desc) = self.reuse(tenant, &id, now) {
            return Ok(desc);
        }
        // What the range holds in storage (compressed): its index cannot be smaller than
        // this by much, so a range whose stored data alone exceeds the budget is refused.
        let manifest = self.manifests.load(tenant).await?;
        let stored: u64 = manifest
            .chunks_in(start, end)
            .map(|c| overlap_share(c.size, c.min_ts, c.max_ts, start, end))
            .chain(
                manifest
                    .blocks_in(start, end)
                    .map(|b| overlap_share(b.size, b.min_ts, b.max_ts, start, end)),
            )
            .sum();
        if stored > self.config.disk_budget {
            return Err(LoadError::OverLimit(format!(
                "the range holds about {stored} bytes of stored data; its index would not fit the history disk budget of {} bytes (--history-disk-budget)",
                self.config.disk_budget
            )));
        }
        let mut tenants = self.lock();
        let slots = tenants.entry(tenant.clone()).or_default();
        if let Some(slot) = slots.get_mut(&id) {
            if matches!(
                slot.record.state,
                IndexState::Queued | IndexState::Building | IndexState::Ready
            ) {
                slot.record.last_used_at = now;
                return Ok(self.describe(slot));
            }
        }
        let pending = slots.values().filter(|s| s.record.state.in_progress()).count();
        if pending >= self.config.max_pending_per_tenant {
            return Err(LoadError::OverLimit(format!(
                "too many history builds in progress for this tenant ({pending}, the limit is {}); wait for one to finish",
                self.config.max_pending_per_tenant
            )));
        }
        let record = IndexRecord {
            id: id.clone(),
            start,
            end,
            query,
            matchers: matcher_triples(&matchers),
            dir: String::new(),
            state: IndexState::Queued,
            lines: 0,
            bytes_raw: 0,
            bytes_on_disk: 0,
            created_at: now,
            last_used_at: now,
            error: None,
        };
        slots.insert(
            id.clone(),
            Slot {
                record,
                matchers,
                dir: String::new(),
                generation: 0,
                progress: Arc::new(BuildProgress::default()),
                cancel: Arc::new(AtomicBool::new(false)),
                index: None,
                objects: Arc::default(),
            },
        );
        self.restart_build(&mut tenants, tenant, &id);
        self.persist(&tenants, tenant);
        let slot = &tenants[tenant][&id];
        Ok(self.describe(slot))
    }

    /// The existing queued, building or ready index `id`, touched.
    fn reuse(&self, tenant: &TenantId, id: &str, now: i64) -> Option<Description> {
        let mut tenants = self.lock();
        let slot = tenants.get_mut(tenant)?.get_mut(id)?;
        matches!(
            slot.record.state,
            IndexState::Queued | IndexState::Building | IndexState::Ready
        )
        .then(|| {
            slot.record.last_used_at = now;
            self.describe(slot)
        })
    }

    /// (Re)starts the build of slot `id`: a new generation and directory, state queued.
    fn restart_build(self: &Arc<Self>, tenants: &mut Tenants, tenant: &TenantId, id: &str) {
        let Some(slot) = tenants.get_mut(tenant).and_then(|s| s.get_mut(id)) else {
            return;
        };
        slot.cancel.store(true, Relaxed);
        if !slot.dir.is_empty() {
            let _ = std::fs::remove_dir_all(registry::tenant_dir(&self.config.root, tenant).join(&slot.dir));
        }
        let generation = self.generation.fetch_add(1, Relaxed);
        slot.generation = generation;
        slot.dir = format!("{id}-{generation:x}");
        slot.record.dir = slot.dir.clone();
        slot.record.state = IndexState::Queued;
        slot.record.lines = 0;
        slot.record.bytes_raw = 0;
        slot.record.bytes_on_disk = 0;
        slot.progress = Arc::new(BuildProgress::default());
        slot.cancel = Arc::new(AtomicBool::new(false));
        slot.index = None;
        slot.objects = Arc::default();
        self.metrics.builds_started.fetch_add(1, Relaxed);
        let me = self.clone();
        let (tenant, id) = (tenant.clone(), id.to_string());
        tokio::spawn(async move { me.run_build(tenant, id, generation).await });
    }

    async fn run_build(self: Arc<Self>, tenant: TenantId, id: String, generation: u64) {
        let Ok(_permit) = self.builds.clone().acquire_owned().await else {
            return;
        };
        let (spec, dir, progress, cancel) = {
            let mut tenants = self.lock();
            let Some(slot) = tenants.get_mut(&tenant).and_then(|s| s.get_mut(&id)) else {
                return;
            };
            if slot.generation != generation || slot.cancel.load(Relaxed) {
                return;
            }
            slot.record.state = IndexState::Building;
            let spec = IndexSpec {
                tenant: tenant.clone(),
                start_ns: slot.record.start,
                end_ns: slot.record.end,
                selector: slot.matchers.clone(),
            };
            let dir = registry::tenant_dir(&self.config.root, &tenant).join(&slot.dir);
            let out = (spec, dir, slot.progress.clone(), slot.cancel.clone());
            self.persist(&tenants, &tenant);
            out
        };
        tracing::info!(tenant = %tenant, id = %id, start = spec.start_ns, end = spec.end_ns, "building history index");
        let started = std::time::Instant::now();
        let result = match build(&self.manifests, &spec, &dir, progress, cancel.clone()).await {
            Ok(_) => {
                let d = dir.clone();
                let d_display = dir.display().to_string();
                tokio::task::spawn_blocking(move || HistoryIndex::open(&d))
                    .await
                    .unwrap_or_else(|e| {
                        Err(crate::HistoryError::Corrupt {
                            path: d_display.clone(),
                            message: format!("opening panicked: {e}"),
                        })
                    })
            }
            Err(e) => Err(e),
        };
        let mut tenants = self.lock();
        let current = tenants
            .get_mut(&tenant)
            .and_then(|s| s.get_mut(&id))
            .filter(|s| s.generation == generation && !cancel.load(Relaxed));
        let Some(slot) = current else {
            // Removed or restarted meanwhile: this build's files belong to nobody.
            drop(tenants);
            let _ = std::fs::remove_dir_all(&dir);
            return;
        };
        match result {
            Ok(index) => {
                let summary = index.summary().clone();
                slot.record.state = IndexState::Ready;
                slot.record.lines = summary.lines;
                slot.record.bytes_raw = summary.bytes_raw;
                slot.record.bytes_on_disk = registry::dir_size(&dir).max(summary.bytes_on_disk);
                slot.record.error = None;
                slot.objects = Arc::new(summary.objects.iter().cloned().collect());
                slot.index = Some(Arc::new(index));
                self.metrics.builds_succeeded.fetch_add(1, Relaxed);
                tracing::info!(
                    tenant = %tenant, id = %id, lines = summary.lines, bytes_raw = summary.bytes_raw,
                    bytes_on_disk = slot.record.bytes_on_disk, secs = started.elapsed().as_secs_f64(),
                    "history index ready"
                );
                let key = (tenant.clone(), id.clone());
                self.enforce_budget(&mut tenants, Some(&key));
                for t in tenants.keys().cloned().collect::<Vec<_>>() {
                    self.persist(&tenants, &t);
                }
            }
            Err(e) => {
                tracing::warn!(tenant = %tenant, id = %id, error = %e, "history index build failed");
                slot.record.state = IndexState::Failed;
                slot.record.error = Some(e.to_string());
                self.metrics.builds_failed.fetch_add(1, Relaxed);
                let _ = std::fs::remove_dir_all(&dir);
                self.persist(&tenants, &tenant);
            }
        }
    }

    /// Evicts least-recently-used ready indexes until all fit the budget; `fresh` (just built)
    /// is evicted last, and fails when it alone exceeds the budget.
    fn enforce_budget(&self, tenants: &mut Tenants, fresh: Option<&(TenantId, String)>) {
        let budget = self.config.disk_budget;
        if let Some((t, id)) = fresh {
            if let Some(slot) = tenants.get_mut(t).and_then(|s| s.get_mut(id)) {
                if slot.record.bytes_on_disk > budget {
                    let size = slot.record.bytes_on_disk;
                    self.drop_files(t, slot, IndexState::Failed, format!(
                        "the index needs {size} bytes on disk, more than the history disk budget of {budget} bytes (--history-disk-budget)"
                    ));
                    self.metrics.builds_failed.fetch_add(1, Relaxed);
                    self.metrics.builds_succeeded.fetch_sub(1, Relaxed);
                }
            }
        }
        loop {
            let total: u64 = tenants
                .values()
                .flat_map(|s| s.values())
                .filter(|s| s.record.state == IndexState::Ready)
                .map(|s| s.record.bytes_on_disk)
                .sum();
            if total <= budget {
                return;
            }
            let victim = tenants
                .iter()
                .flat_map(|(t, s)| s.values().map(move |slot| (t, slot)))
                .filter(|(t, s)| {
                    s.record.state == IndexState::Ready
                        && fresh.is_none_or(|(ft, fid)| !(ft == *t && *fid == s.record.id))
                })
                .min_by_key(|(_, s)| s.record.last_used_at)
                .map(|(t, s)| (t.clone(), s.record.id.clone()));
            let Some((t, id)) = victim else { return };
            if let Some(slot) = tenants.get_mut(&t).and_then(|s| s.get_mut(&id)) {
                tracing::info!(tenant = %t, id = %id, bytes = slot.record.bytes_on_disk, "history index evicted under the disk budget");
                self.metrics.evicted.fetch_add(1, Relaxed);
                self.drop_files(
                    &t,
                    slot,
                    IndexState::Expired,
                    format!(
                    "evicted (least recently used) to stay within the history disk budget of {budget} bytes"
                ),
                );
            }
        }
    }

    /// Deletes a slot's files and leaves it in `state` with `reason`.
    fn drop_files(&self, tenant: &TenantId, slot: &mut Slot, state: IndexState, reason: String) {
        slot.cancel.store(true, Relaxed);
        slot.index = None;
        slot.objects = Arc::default();
        if !slot.dir.is_empty() {
            let _ = std::fs::remove_dir_all(registry::tenant_dir(&self.config.root, tenant).join(&slot.dir));
        }
        slot.record.state = state;
        slot.record.bytes_on_disk = 0;
        slot.record.error = Some(reason);
    }

    fn persist(&self, tenants: &Tenants, tenant: &TenantId) {
        let records: Vec<IndexRecord> = tenants
            .get(tenant)
            .map(|s| s.values().map(|s| s.record.clone()).collect())
            .unwrap_or_default();
        if let Err(e) = registry::write(&self.config.root, tenant, &records) {
            tracing::warn!(tenant = %tenant, error = %e, "writing the history registry failed");
        }
    }

    /// Expires indexes unused for the time to live; forgets expired and failed records a day
    /// after that; saves last-use times.
    pub fn sweep(&self, now: i64) {
        let ttl = self.config.ttl.as_nanos().min(i64::MAX as u128) as i64;
        let forget_after = ttl.saturating_add(24 * 3600 * 1_000_000_000);
        let mut tenants = self.lock();
        let names: Vec<TenantId> = tenants.keys().cloned().collect();
        for tenant in names {
            let slots = tenants.get_mut(&tenant).expect("listed");
            for slot in slots.values_mut() {
                if slot.record.state == IndexState::Ready
                    && now.saturating_sub(slot.record.last_used_at) >= ttl
                {
                    tracing::info!(tenant = %tenant, id = %slot.record.id, "history index expired");
                    self.metrics.expired.fetch_add(1, Relaxed);
                    self.drop_files(
                        &tenant,
                        slot,
                        IndexState::Expired,
                        "expired: unused for the time to live (--history-ttl)".into(),
                    );
                }
            }
            slots.retain(|_, s| {
                !matches!(s.record.state, IndexState::Expired | IndexState::Failed)
                    || now.saturating_sub(s.record.last_used_at) < forget_after
            });
            self.persist(&tenants, &tenant);
        }
    }

    /// The tenant's indexes, oldest first.
    pub fn list(&self, tenant: &TenantId) -> Vec<Description> {
        let tenants = self.lock();
        let mut out: Vec<Description> = tenants
            .get(tenant)
            .map(|s| s.values().map(|s| self.describe(s)).collect())
            .unwrap_or_default();
        out.sort_by(|a, b| (a.record.created_at, &a.record.id).cmp(&(b.record.created_at, &b.record.id)));
        out
    }

    /// One index of the tenant.
    pub fn get(&self, tenant: &TenantId, id: &str) -> Option<Description> {
        let tenants = self.lock();
        tenants.get(tenant)?.get(id).map(|s| self.describe(s))
    }

    /// Drops an index (cancelling its build, deleting its files); false when unknown.
    pub fn remove(&self, tenant: &TenantId, id: &str) -> bool {
        let mut tenants = self.lock();
        let Some(mut slot) = tenants.get_mut(tenant).and_then(|s| s.remove(id)) else {
            return false;
        };
        self.drop_files(tenant, &mut slot, IndexState::Expired, "deleted".into());
        self.persist(&tenants, tenant);
        tracing::info!(tenant = %tenant, id = %id, "history index deleted");
        true
    }

    /// The manifests (and through them the object store) indexes are built from.
    pub fn manifests(&self) -> &ManifestStore {
        &self.manifests
    }

    /// Ready indexes of the tenant that hold every stream `matchers` can select.
    pub fn usable(&self, tenant: &TenantId, matchers: &[LabelMatcher]) -> Vec<UsableIndex> {
        let tenants = self.lock();
        let Some(slots) = tenants.get(tenant) else {
            return Vec::new();
        };
        slots
            .values()
            .filter(|s| s.record.state == IndexState::Ready && selector_covers(&s.matchers, matchers))
            .filter_map(|s| {
                Some(UsableIndex {
                    id: s.record.id.clone(),
                    start: s.record.start,
                    end: s.record.end,
                    objects: s.objects.clone(),
                    index: s.index.clone()?,
                })
            })
            .collect()
    }

    /// Records that a query used index `id` (its time to live starts again).
    pub fn touch(&self, tenant: &TenantId, id: &str) {
        let mut tenants = self.lock();
        if let Some(slot) = tenants.get_mut(tenant).and_then(|s| s.get_mut(id)) {
            slot.record.last_used_at = now_ns();
        }
    }

    /// A query found index `id` unreadable: it is rebuilt (queries scan meanwhile).
    pub fn report_broken(self: &Arc<Self>, tenant: &TenantId, id: &str, error: &str) {
        let mut tenants = self.lock();
        let Some(slot) = tenants.get_mut(tenant).and_then(|s| s.get_mut(id)) else {
            return;
        };
        if slot.record.state != IndexState::Ready {
            return;
        }
        tracing::warn!(tenant = %tenant, id = %id, error = %error, "history index unreadable; rebuilding");
        self.metrics.corrupt.fetch_add(1, Relaxed);
        slot.record.error = Some(format!("rebuilding: {error}"));
        self.restart_build(&mut tenants, tenant, id);
        self.persist(&tenants, tenant);
    }

    /// Total bytes of ready indexes on disk.
    pub fn bytes_on_disk(&self) -> u64 {
        self.lock()
            .values()
            .flat_map(|s| s.values())
            .filter(|s| s.record.state == IndexState::Ready)
            .map(|s| s.record.bytes_on_disk)
            .sum()
    }

    /// Indexes per state, over all tenants.
    pub fn state_counts(&self) -> BTreeMap<&'static str, u64> {
        let mut out: BTreeMap<&'static str, u64> = [
            IndexState::Queued,
            IndexState::Building,
            IndexState::Ready,
            IndexState::Failed,
            IndexState::Expired,
        ]
        .iter()
        .map(|s| (s.as_str(), 0))
        .collect();
        for slot in self.lock().values().flat_map(|s| s.values()) {
            *out.entry(slot.record.state.as_str()).or_default() += 1;
        }
        out
    }

    /// The history metrics in Prometheus text format.
    pub fn render_metrics(&self) -> String {
        use std::fmt::Write;
        let m = &self.metrics;
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter(
            &mut out,
            "logq_history_builds_started_total",
            "History index builds started.",
            m.builds_started.load(Relaxed),
        );
        counter(
            &mut out,
            "logq_history_builds_succeeded_total",
            "History index builds that produced a ready index.",
            m.builds_succeeded.load(Relaxed),
        );
        counter(
            &mut out,
            "logq_history_builds_failed_total",
            "History index builds that failed.",
            m.builds_failed.load(Relaxed),
        );
        counter(
            &mut out,
            "logq_history_expired_total",
            "History indexes dropped after their time to live.",
            m.expired.load(Relaxed),
        );
        counter(
            &mut out,
            "logq_history_evicted_total",
            "History indexes evicted under the disk budget.",
            m.evicted.load(Relaxed),
        );
        counter(
            &mut out,
            "logq_history_corrupt_total",
            "History indexes found unreadable and rebuilt.",
            m.corrupt.load(Relaxed),
        );
        let eligible = m.queries_eligible.load(Relaxed);
        let served = m.queries_served.load(Relaxed);
        counter(
            &mut out,
            "logq_history_queries_eligible_total",
            "Queries with a positive line filter (could use a history index).",
            eligible,
        );
        counter(
            &mut out,
            "logq_history_queries_served_total",
            "Queries answered at least partly by a history index.",
            served,
        );
        let ratio = if eligible == 0 {
            0.0
        } else {
            served as f64 / eligible as f64
        };
        let _ = writeln!(out, "# HELP logq_history_hit_ratio Share of eligible queries served by a history index.\n# TYPE logq_history_hit_ratio gauge\nlogq_history_hit_ratio {ratio}");
        let _ = writeln!(out, "# HELP logq_history_bytes_on_disk Bytes of ready history indexes on local disk.\n# TYPE logq_history_bytes_on_disk gauge\nlogq_history_bytes_on_disk {}", self.bytes_on_disk());
        let _ = writeln!(out, "# HELP logq_history_disk_budget_bytes The history disk budget.\n# TYPE logq_history_disk_budget_bytes gauge\nlogq_history_disk_budget_bytes {}", self.config.disk_budget);
        let _ = writeln!(
            out,
            "# HELP logq_history_indexes History indexes by state.\n# TYPE logq_history_indexes gauge"
        );
        for (state, n) in self.state_counts() {
            let _ = writeln!(out, "logq_history_indexes{{state=\"{state}\"}} {n}");
        }
        out
    }
}

/// The share of an object's `size` that falls in `[start, end)`, assuming even spread.
fn overlap_share(size: u64, min_ts: i64, max_ts: i64, start: i64, end: i64) -> u64 {
    let span = (max_ts - min_ts).max(1) as f64;
    let inside = (max_ts.min(end) - min_ts.max(start)).max(0) as f64;
    if max_ts <= min_ts {
        return size;
    }
    (size as f64 * (inside / span).min(1.0)) as u64
}

/// Deletes directories and temporary files of a tenant's directory that no record names
/// (left by a crash mid-build or a removal racing a build).
fn remove_strays(root: &std::path::Path, tenant: &TenantId, slots: &BTreeMap<String, Slot>) {
    let known: HashSet<&str> = slots
        .values()
        .map(|s| s.dir.as_str())
        .filter(|d| !d.is_empty())
        .collect();
    let Ok(entries) = std::fs::read_dir(registry::tenant_dir(root, tenant)) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "registry.json" || known.contains(name.as_str()) {
            continue;
        }
        let path = entry.path();
        let _ = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
}
