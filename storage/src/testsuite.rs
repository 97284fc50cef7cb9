//! Test helpers shared by the storage, compactor and querier tests (behind the `testsuite`
//! feature): a fault-injecting object store and the S3 test server's store.
//!
//! [`FaultyStore`] counts the operations of the kinds it is told to watch and makes the Nth one
//! fail: either before it happens ([`FaultKind::Fail`]: nothing written) or after it happened
//! ([`FaultKind::Abort`]: the object store applied it but the caller sees an error, as when a
//! connection drops before the response). With `crash` set, every later operation fails too, as
//! if the process had died at that point.

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

use crate::store::Store;

/// When the injected fault strikes relative to the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The operation is not performed; the caller gets an error.
    Fail,
    /// The operation is performed, then the caller gets an error.
    Abort,
}

/// Which operations a [`FaultyStore`] counts and where it strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultPlan {
    /// Count puts (plain, conditional, multipart).
    pub puts: bool,
    /// Count deletes.
    pub deletes: bool,
    /// Count reads (whole and ranged gets).
    pub gets: bool,
    /// The counted operation (1-based) that faults; 0 = never (only count).
    pub at: u64,
    /// Fail or abort.
    pub kind: FaultKind,
    /// After the fault every operation fails (the process "died").
    pub crash: bool,
}

impl FaultPlan {
    /// Counts puts and deletes, never faults.
    pub fn count_writes() -> Self {
        FaultPlan {
            puts: true,
            deletes: true,
            gets: false,
            at: 0,
            kind: FaultKind::Fail,
            crash: false,
        }
    }

    /// Faults the `at`th put or delete.
    pub fn writes(at: u64, kind: FaultKind, crash: bool) -> Self {
        FaultPlan {
            at,
            kind,
            crash,
            ..Self::count_writes()
        }
    }
}

#[derive(Debug)]
struct FaultState {
    plan: FaultPlan,
    count: AtomicU64,
    crashed: AtomicBool,
    bytes_read: AtomicU64,
    log: Mutex<Vec<String>>,
}

/// An [`ObjectStore`] wrapper that injects one fault according to a [`FaultPlan`].
#[derive(Debug, Clone)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    state: Arc<FaultState>,
}

#[derive(Clone, Copy)]
enum Op {
    Put,
    Delete,
    Get,
}

enum Decision {
    Proceed,
    FailNow,
    FailAfter,
}

impl FaultyStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>, plan: FaultPlan) -> Self {
        FaultyStore {
            inner,
            state: Arc::new(FaultState {
                plan,
                count: AtomicU64::new(0),
                crashed: AtomicBool::new(false),
                bytes_read: AtomicU64::new(0),
                log: Mutex::new(Vec::new()),
            }),
        }
    }

    /// A [`Store`] over this wrapper.
    pub fn store(&self) -> Store {
        Store::from_object_store(Arc::new(self.clone()), "faulty://")
    }

    /// How many watched operations were counted so far.
    pub fn count(&self) -> u64 {
        self.state.count.load(Ordering::SeqCst)
    }

    /// Bytes returned by reads so far (whole and ranged), watched or not.
    pub fn bytes_read(&self) -> u64 {
        self.state.bytes_read.load(Ordering::SeqCst)
    }

    /// Whether the fault has struck.
    pub fn faulted(&self) -> bool {
        self.state.plan.at != 0 && self.count() >= self.state.plan.at
    }

    /// The watched operations in order (`put <key>`, `delete <key>`, `get <key>`).
    pub fn log(&self) -> Vec<String> {
        self.state.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn decide(&self, op: Op, path: &Path) -> Decision {
        let s = &self.state;
        if s.crashed.load(Ordering::SeqCst) {
            return Decision::FailNow;
        }
        let (watched, name) = match op {
            Op::Put => (s.plan.puts, "put"),
            Op::Delete => (s.plan.deletes, "delete"),
            Op::Get => (s.plan.gets, "get"),
        };
        if !watched {
            return Decision::Proceed;
        }
        let n = s.count.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut log) = s.log.lock() {
            log.push(format!("{name} {path}"));
        }
        if n != s.plan.at {
            return Decision::Proceed;
        }
        if s.plan.crash {
            s.crashed.store(true, Ordering::SeqCst);
        }
        match s.plan.kind {
            FaultKind::Fail => Decision::FailNow,
            FaultKind::Abort => Decision::FailAfter,
        }
    }

    fn crashed_error(&self) -> Option<object_store::Error> {
        self.state
            .crashed
            .load(Ordering::SeqCst)
            .then(|| injected("store is down after an injected crash"))
    }
}

fn injected(what: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "faulty",
        source: what.to_string().into(),
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        match self.decide(Op::Put, location) {
            Decision::FailNow => Err(injected("put failed (injected)")),
            Decision::Proceed => self.inner.put_opts(location, payload, opts).await,
            Decision::FailAfter => {
                self.inner.put_opts(location, payload, opts).await?;
                Err(injected("put aborted after it was applied (injected)"))
            }
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        match self.decide(Op::Put, location) {
            Decision::Proceed => self.inner.put_multipart_opts(location, opts).await,
            _ => Err(injected("multipart put failed (injected)")),
        }
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        match self.decide(Op::Get, location) {
            Decision::Proceed => {
                let r = self.inner.get_opts(location, options).await?;
                let len = r.range.end - r.range.start;
                self.state.bytes_read.fetch_add(len, Ordering::SeqCst);
                Ok(r)
            }
            _ => Err(injected("get failed (injected)")),
        }
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        match self.decide(Op::Get, location) {
            Decision::Proceed => {
                let r = self.inner.get_ranges(location, ranges).await?;
                let len: usize = r.iter().map(Bytes::len).sum();
                self.state.bytes_read.fetch_add(len as u64, Ordering::SeqCst);
                Ok(r)
            }
            _ => Err(injected("get failed (injected)")),
        }
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let this = self.clone();
        locations
            .then(move |location| {
                let this = this.clone();
                async move {
                    let location = location?;
                    match this.decide(Op::Delete, &location) {
                        Decision::FailNow => Err(injected("delete failed (injected)")),
                        Decision::Proceed => this.inner.delete(&location).await.map(|()| location),
                        Decision::FailAfter => {
                            this.inner.delete(&location).await?;
                            Err(injected("delete aborted after it was applied (injected)"))
                        }
                    }
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        match self.crashed_error() {
            Some(e) => futures::stream::once(async move { Err(e) }).boxed(),
            None => self.inner.list(prefix),
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        match self.crashed_error() {
            Some(e) => Err(e),
            None => self.inner.list_with_delimiter(prefix).await,
        }
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        match self.decide(Op::Put, to) {
            Decision::Proceed => self.inner.copy_opts(from, to, options).await,
            _ => Err(injected("copy failed (injected)")),
        }
    }
}

/// Name of the bucket the S3 tests use (created on first use).
pub const S3_TEST_BUCKET: &str = "logq-test";

/// A store on the S3-compatible test server named by `LOGQ_TEST_S3_ENDPOINT`
/// (`http://host:port`, see `scripts/s3-server.sh`), under a prefix unique to `name` and this
/// process, or `None` (after printing why) when the variable is unset.
pub fn s3_test_store(name: &str) -> Option<Store> {
    let Ok(endpoint) = std::env::var("LOGQ_TEST_S3_ENDPOINT") else {
        println!(
            "skipping the S3 part of {name}: LOGQ_TEST_S3_ENDPOINT is unset (scripts/s3-server.sh sets it)"
        );
        return None;
    };
    let endpoint = endpoint.trim_end_matches('/').to_string();
    if let Err(e) = create_bucket(&endpoint, S3_TEST_BUCKET) {
        panic!("creating bucket {S3_TEST_BUCKET} on {endpoint}: {e}");
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let url = format!(
        "s3://{S3_TEST_BUCKET}/{name}-{}-{nanos}?endpoint={endpoint}&region=us-east-1\
         &access_key_id=test&secret_access_key=test&allow_http=true",
        std::process::id()
    );
    Some(Store::open(&url).unwrap_or_else(|e| panic!("opening {url}: {e}")))
}

/// Creates `bucket` with an unsigned `PUT /bucket` (S3-compatible test servers accept it); an
/// existing bucket is fine.
fn create_bucket(endpoint: &str, bucket: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let host = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other("the test endpoint must be http://host:port"))?;
    let host = host.split('/').next().unwrap_or(host);
    let mut conn = std::net::TcpStream::connect(host)?;
    write!(
        conn,
        "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    conn.read_to_string(&mut response)?;
    let status = response.split(' ').nth(1).unwrap_or("");
    if status == "200" || status == "409" {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "unexpected response: {}",
            response.lines().next().unwrap_or("")
        )))
    }
}
