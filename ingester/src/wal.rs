//! The local write-ahead log: embedded mode's stand-in for Kafka.
//!
//! On disk, `<dir>/<first-offset, 20 digits>.wal` segments hold records
//! `len: u32 LE | crc32(payload): u32 LE | payload`; offsets number records from 0 across
//! segments. `<dir>/committed` holds the offset from which a restart must replay (everything
//! below it is durably in object storage). It is replaced atomically (write, fsync, rename,
//! fsync the directory).
//!
//! Fsync policy: every append is fsynced before it is acknowledged. Appends that arrive while a
//! write is in progress are written and fsynced together (group commit), so throughput does not
//! pay one fsync per push.
//!
//! Recovery: a record that is torn or fails its checksum at the tail of the last segment is an
//! interrupted append (never acknowledged) and is truncated away; the same in an earlier segment
//! is corruption: the rest of that segment is skipped and reported.
//!
//! Failed appends (disk full, I/O error): the whole group is answered with
//! [`IngestError::Wal`] (HTTP 503, the push is retried by its client) and nothing of it is
//! acknowledged. The segment is cut back to its last durable byte before anything else is
//! written; while that cut fails, the segment is *poisoned*: every append fails until a cut or a
//! fresh segment succeeds, so an acknowledged record never follows garbage. Each later append
//! tries again, so the log recovers by itself once space returns.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::error::{IngestError, Result};

/// Segments roll over past this size.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Largest record accepted (a push body is limited well below this).
pub const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;
const HEADER: usize = 8;

/// A durable record read back from the log.
#[derive(Debug, Clone)]
pub struct WalRecord {
    /// The record's offset.
    pub offset: u64,
    /// Its payload.
    pub payload: Bytes,
}

/// A fault to inject into the WAL's segment writes (tests): called with the size of each write,
/// it may answer `(bytes actually written, error)` to make that write fail part-way, and a
/// second answer for the cut-back that follows (`truncate_fails`).
pub trait WriteFault: Send + Sync {
    /// `Some((written, error))` makes a write of `len` bytes write `written` of them and fail.
    fn write(&self, len: usize) -> Option<(usize, std::io::Error)>;
    /// Whether cutting the segment back after a failed write fails too.
    fn truncate_fails(&self) -> bool {
        false
    }
}

struct AppendRequest {
    payload: Vec<u8>,
    reply: oneshot::Sender<Result<u64>>,
}

/// Appends records; cheap to clone. Dropping every clone stops the writer thread.
#[derive(Clone)]
pub struct WalWriter {
    tx: std_mpsc::Sender<AppendRequest>,
}

/// Reads the log: first what a restart must replay, then each record as it becomes durable.
pub struct WalReader {
    replay: std::vec::IntoIter<WalRecord>,
    live: mpsc::Receiver<WalRecord>,
}

/// Marks replay positions; cheap to clone.
#[derive(Clone)]
pub struct WalCommitter {
    dir: PathBuf,
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.wal"))
}

fn io_err(ctx: impl Into<String>) -> impl FnOnce(std::io::Error) -> IngestError {
    let ctx = ctx.into();
    move |e| IngestError::Wal(format!("{ctx}: {e}"))
}

/// Segment start offsets, ascending.
fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for ent in fs::read_dir(dir).map_err(io_err(format!("listing {}", dir.display())))? {
        let ent = ent.map_err(io_err("listing wal"))?;
        let name = ent.file_name();
        if let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".wal"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(format!("syncing {}", dir.display())))
}

/// Reads the committed offset (0 when never committed).
fn read_committed(dir: &Path) -> Result<u64> {
    match fs::read_to_string(dir.join("committed")) {
        Ok(s) => s
            .trim()
            .parse()
            .map_err(|_| IngestError::Wal(format!("corrupt committed offset file: {s:?}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(io_err("reading committed offset")(e)),
    }
}

/// Reads one segment's records. Returns them and the byte length of the valid prefix, and
/// whether the segment ended in a bad record.
fn read_segment(path: &Path, first: u64) -> Result<(Vec<WalRecord>, u64, bool)> {
    let file = File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut out = Vec::new();
    let mut valid = 0u64;
    let mut header = [0u8; HEADER];
    loop {
        match r.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                // A clean end, or a torn header when bytes remain past the valid prefix.
                let torn = valid != file_len(path)?;
                return Ok((out, valid, torn));
            }
            Err(e) => return Err(io_err(format!("reading {}", path.display()))(e)),
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len > MAX_RECORD_BYTES {
            return Ok((out, valid, true));
        }
        let mut payload = vec![0u8; len];
        if r.read_exact(&mut payload).is_err() || crc32fast::hash(&payload) != crc {
            return Ok((out, valid, true));
        }
        out.push(WalRecord {
            offset: first + out.len() as u64,
            payload: Bytes::from(payload),
        });
        valid += (HEADER + len) as u64;
    }
}

fn file_len(path: &Path) -> Result<u64> {
    Ok(fs::metadata(path)
        .map_err(io_err(format!("stat {}", path.display())))?
        .len())
}

/// Opens (creating if needed) the log in `dir`: recovers it, and returns the writer, a reader
/// that first yields every record at or after the committed offset, and the committer.
/// `live_capacity` bounds how many durable records may wait for the reader (backpressure).
pub fn open_wal(dir: &Path, live_capacity: usize) -> Result<(WalWriter, WalReader, WalCommitter)> {
    open_wal_with_faults(dir, live_capacity, None)
}

/// [`open_wal`] with `fault` injected into every segment write (tests of disk-full handling).
pub fn open_wal_with_faults(
    dir: &Path,
    live_capacity: usize,
    fault: Option<std::sync::Arc<dyn WriteFault>>,
) -> Result<(WalWriter, WalReader, WalCommitter)> {
    fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    let committed = read_committed(dir)?;
    let segments = list_segments(dir)?;
    let mut replay = Vec::new();
    let mut next = committed;
    for (i, &first) in segments.iter().enumerate() {
        let path = segment_path(dir, first);
        let last = i + 1 == segments.len();
        let (records, valid, bad) = read_segment(&path, first)?;
        let end = first + records.len() as u64;
        if bad {
            if last {
                tracing::warn!(segment = %path.display(), valid_bytes = valid, "truncating torn tail of write-ahead log");
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_err("opening wal for truncation"))?;
                f.set_len(valid).map_err(io_err("truncating wal"))?;
                f.sync_all().map_err(io_err("syncing wal"))?;
            } else {
                tracing::error!(segment = %path.display(), valid_bytes = valid, "corrupt record inside write-ahead log; rest of segment skipped");
            }
        }
        replay.extend(records.into_iter().filter(|r| r.offset >= committed));
        if last {
            next = next.max(end);
        }
    }
    // Start a fresh segment on open: never append after a repaired or foreign tail.
    let (live_tx, live) = mpsc::channel(live_capacity.max(1));
    let (tx, rx) = std_mpsc::channel::<AppendRequest>();
    let writer_dir = dir.to_path_buf();
    let segment = open_segment(&writer_dir, next)?;
    std::thread::Builder::new()
        .name("logq-wal".into())
        .spawn(move || writer_loop(writer_dir, segment, next, rx, live_tx, fault))
        .map_err(io_err("starting wal writer"))?;
    Ok((
        WalWriter { tx },
        WalReader {
            replay: replay.into_iter(),
            live,
        },
        WalCommitter {
            dir: dir.to_path_buf(),
        },
    ))
}

struct Segment {
    file: File,
    size: u64,
}

fn open_segment(dir: &Path, first: u64) -> Result<Segment> {
    let path = segment_path(dir, first);
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_err(format!("creating {}", path.display())))?;
    let size = file.seek(SeekFrom::End(0)).map_err(io_err("seeking wal"))?;
    if size != 0 {
        // A segment named `first` that already has records would shift offsets: refuse.
        return Err(IngestError::Wal(format!(
            "segment {} unexpectedly non-empty",
            path.display()
        )));
    }
    fsync_dir(dir)?;
    Ok(Segment { file, size })
}

/// Writes `buf` at the end of the segment and syncs it, through `fault` when one is injected.
fn write_segment(segment: &mut Segment, buf: &[u8], fault: Option<&dyn WriteFault>) -> std::io::Result<()> {
    if let Some((written, e)) = fault.and_then(|f| f.write(buf.len())) {
        segment.file.write_all(&buf[..written.min(buf.len())])?;
        return Err(e);
    }
    segment.file.write_all(buf).and_then(|_| segment.file.sync_data())
}

/// Cuts the segment back to its last durable byte; `false` when that failed too.
fn cut_back(segment: &mut Segment, fault: Option<&dyn WriteFault>) -> bool {
    if fault.is_some_and(|f| f.truncate_fails()) {
        return false;
    }
    segment
        .file
        .set_len(segment.size)
        .and_then(|_| segment.file.sync_all())
        .is_ok()
}

fn writer_loop(
    dir: PathBuf,
    mut segment: Segment,
    mut next: u64,
    rx: std_mpsc::Receiver<AppendRequest>,
    live: mpsc::Sender<WalRecord>,
    fault: Option<std::sync::Arc<dyn WriteFault>>,
) {
    let fault = fault.as_deref();
    // The current segment holds bytes past `segment.size` that could not be cut away.
    let mut poisoned = false;
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while let Ok(more) = rx.try_recv() {
            group.push(more);
            if group.len() >= 1024 {
                break;
            }
        }
        if poisoned && cut_back(&mut segment, fault) {
            tracing::info!("write-ahead log writable again");
            poisoned = false;
        }
        if poisoned || segment.size >= SEGMENT_BYTES {
            match open_segment(&dir, next) {
                Ok(s) => {
                    if poisoned {
                        tracing::info!("write-ahead log writable again (new segment)");
                    }
                    segment = s;
                    poisoned = false;
                }
                Err(e) => {
                    fail_group(group, &e);
                    continue;
                }
            }
        }
        let mut buf = Vec::with_capacity(group.iter().map(|r| r.payload.len() + HEADER).sum());
        for req in &group {
            buf.extend_from_slice(&(req.payload.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(&req.payload).to_le_bytes());
            buf.extend_from_slice(&req.payload);
        }
        if let Err(e) = write_segment(&mut segment, &buf, fault) {
            // Nothing of the group is acknowledged; the segment's tail is unknown: cut it back
            // (or refuse every append until that or a fresh segment succeeds).
            poisoned = !cut_back(&mut segment, fault);
            let err = IngestError::Wal(format!(
                "appending to write-ahead log: {e}; nothing of this push was stored, retry"
            ));
            fail_group(group, &err);
            continue;
        }
        segment.size += buf.len() as u64;
        for req in group {
            let offset = next;
            next += 1;
            let record = WalRecord {
                offset,
                payload: Bytes::from(req.payload),
            };
            // Durable now: hand it to the ingester (blocking here is the backpressure), then ack.
            if live.blocking_send(record).is_err() {
                tracing::debug!("wal reader gone; record stays on disk for replay");
            }
            let _ = req.reply.send(Ok(offset));
        }
    }
}

fn fail_group(group: Vec<AppendRequest>, err: &IngestError) {
    tracing::error!(error = %err, pushes = group.len(), "write-ahead log append failed");
    let message = match err {
        IngestError::Wal(m) => m.clone(),
        other => other.to_string(),
    };
    for req in group {
        let _ = req.reply.send(Err(IngestError::Wal(message.clone())));
    }
}

impl WalWriter {
    /// Appends a record; returns its offset once it is durable (fsynced).
    pub async fn append(&self, payload: Vec<u8>) -> Result<u64> {
        if payload.len() > MAX_RECORD_BYTES {
            return Err(IngestError::Wal(format!(
                "record of {} bytes exceeds the limit",
                payload.len()
            )));
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(AppendRequest { payload, reply })
            .map_err(|_| IngestError::Wal("write-ahead log is closed".into()))?;
        rx.await
            .map_err(|_| IngestError::Wal("write-ahead log writer stopped".into()))?
    }
}

impl WalReader {
    /// The next record: replayed ones first, then live ones; `None` once every writer is gone.
    pub async fn next(&mut self) -> Option<WalRecord> {
        if let Some(r) = self.replay.next() {
            return Some(r);
        }
        self.live.recv().await
    }

    /// Whether records written before this process started are still waiting to be replayed.
    pub fn replaying(&self) -> bool {
        self.replay.len() > 0
    }

    /// Like [`WalReader::next`] but returns `None` at once when nothing is ready.
    pub fn try_next(&mut self) -> Option<WalRecord> {
        self.replay.next().or_else(|| self.live.try_recv().ok())
    }
}

impl WalCommitter {
    /// Records that every record below `offset` is durable elsewhere, and deletes segments that
    /// hold only such records. Blocking file I/O: call from a blocking context.
    pub fn commit(&self, offset: u64) -> Result<()> {
        let tmp = self.dir.join("committed.tmp");
        let mut f = File::create(&tmp).map_err(io_err("writing committed offset"))?;
        f.write_all(offset.to_string().as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(io_err("writing committed offset"))?;
        fs::rename(&tmp, self.dir.join("committed")).map_err(io_err("replacing committed offset"))?;
        fsync_dir(&self.dir)?;
        let segments = list_segments(&self.dir)?;
        for pair in segments.windows(2) {
            // Segment pair[0] holds offsets [pair[0], pair[1]).
            if pair[1] <= offset {
                fs::remove_file(segment_path(&self.dir, pair[0])).map_err(io_err("deleting wal segment"))?;
            }
        }
        Ok(())
    }

    /// The committed offset on disk.
    pub fn committed(&self) -> Result<u64> {
        read_committed(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn drain(reader: &mut WalReader) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(r) = reader.try_next() {
            out.push((r.offset, r.payload.to_vec()));
        }
        out
    }

    /// Disk full on demand: while `full` is set, writes put half their bytes down and fail with
    /// ENOSPC; with `stuck` the cut-back fails too.
    #[derive(Default)]
    struct DiskFull {
        full: std::sync::atomic::AtomicBool,
        stuck: std::sync::atomic::AtomicBool,
    }

    impl WriteFault for DiskFull {
        fn write(&self, len: usize) -> Option<(usize, std::io::Error)> {
            use std::sync::atomic::Ordering::SeqCst;
            self.full
                .load(SeqCst)
                .then(|| (len / 2, std::io::Error::from_raw_os_error(28)))
        }
        fn truncate_fails(&self) -> bool {
            self.stuck.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    #[tokio::test]
    async fn disk_full_fails_appends_acknowledges_nothing_and_recovers() {
        use std::sync::atomic::Ordering::SeqCst;
        let dir = tempfile::tempdir().unwrap();
        let fault = std::sync::Arc::new(DiskFull::default());
        {
            let (w, mut r, _c) = open_wal_with_faults(dir.path(), 1000, Some(fault.clone())).unwrap();
            assert_eq!(w.append(b"before".to_vec()).await.unwrap(), 0);
            fault.full.store(true, SeqCst);
            let e = w.append(b"lost-1".to_vec()).await.unwrap_err();
            assert!(matches!(e, IngestError::Wal(_)), "{e:?}");
            assert!(e.to_string().contains("No space left on device"), "{e}");
            assert!(w.append(b"lost-2".to_vec()).await.is_err(), "still full");
            // Space returns: the next append succeeds, on the segment cut back to its last
            // durable byte.
            fault.full.store(false, SeqCst);
            assert_eq!(w.append(b"after".to_vec()).await.unwrap(), 1);
            let live: Vec<Vec<u8>> = drain(&mut r).await.into_iter().map(|x| x.1).collect();
            assert_eq!(live, vec![b"before".to_vec(), b"after".to_vec()]);
        }
        // On disk: exactly the acknowledged records, in order, nothing torn.
        let (w, mut r, _c) = open_wal(dir.path(), 1000).unwrap();
        let replay: Vec<(u64, Vec<u8>)> = drain(&mut r).await;
        assert_eq!(replay, vec![(0, b"before".to_vec()), (1, b"after".to_vec())]);
        assert_eq!(w.append(b"next".to_vec()).await.unwrap(), 2);
    }

    /// A cut-back that keeps failing while a new segment can be created: the log moves on to a
    /// new segment and a restart still replays exactly the acknowledged records.
    #[tokio::test]
    async fn a_stuck_segment_is_left_for_a_new_one() {
        use std::sync::atomic::Ordering::SeqCst;
        let dir = tempfile::tempdir().unwrap();
        let fault = std::sync::Arc::new(DiskFull::default());
        {
            let (w, _r, _c) = open_wal_with_faults(dir.path(), 1000, Some(fault.clone())).unwrap();
            w.append(vec![1; 100]).await.unwrap();
            fault.full.store(true, SeqCst);
            fault.stuck.store(true, SeqCst);
            assert!(w.append(vec![2; 100]).await.is_err());
            fault.full.store(false, SeqCst);
            assert_eq!(w.append(vec![3; 100]).await.unwrap(), 1);
        }
        assert_eq!(list_segments(dir.path()).unwrap(), vec![0, 1]);
        let (_w, mut r, _c) = open_wal(dir.path(), 1000).unwrap();
        let replay: Vec<(u64, Vec<u8>)> = drain(&mut r).await;
        assert_eq!(replay, vec![(0, vec![1; 100]), (1, vec![3; 100])]);
    }

    #[tokio::test]
    async fn appends_replay_after_reopen_from_committed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (w, mut r, c) = open_wal(dir.path(), 1000).unwrap();
            for i in 0..10u8 {
                assert_eq!(w.append(vec![i; 3]).await.unwrap(), u64::from(i));
            }
            let live = drain(&mut r).await;
            assert_eq!(live.len(), 10);
            c.commit(4).unwrap();
        }
        let (w, mut r, c) = open_wal(dir.path(), 1000).unwrap();
        let replay = drain(&mut r).await;
        assert_eq!(
            replay.iter().map(|x| x.0).collect::<Vec<_>>(),
            (4..10).collect::<Vec<_>>()
        );
        assert_eq!(replay[0].1, vec![4u8; 3]);
        assert_eq!(w.append(b"next".to_vec()).await.unwrap(), 10);
        assert_eq!(c.committed().unwrap(), 4);
        // Commit past the first segment: it is deleted.
        c.commit(11).unwrap();
        assert_eq!(list_segments(dir.path()).unwrap(), vec![10]);
    }

    #[tokio::test]
    async fn torn_tail_is_truncated_and_earlier_records_survive() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (w, _r, _c) = open_wal(dir.path(), 1000).unwrap();
            for i in 0..5u8 {
                w.append(vec![i; 100]).await.unwrap();
            }
        }
        let seg = segment_path(dir.path(), 0);
        let len = fs::metadata(&seg).unwrap().len();
        // Simulate a crash mid-append: half a record at the end.
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len - 50).unwrap();
        let (w, mut r, _c) = open_wal(dir.path(), 1000).unwrap();
        let replay = drain(&mut r).await;
        assert_eq!(replay.len(), 4);
        assert_eq!(w.append(b"x".to_vec()).await.unwrap(), 4);
        drop(w);
        drop(r);
        let (_w, mut r, _c) = open_wal(dir.path(), 1000).unwrap();
        let replay = drain(&mut r).await;
        assert_eq!(
            replay.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4]
        );
        assert_eq!(replay[4].1, b"x".to_vec());
    }

    #[tokio::test]
    async fn flipped_byte_fails_checksum() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (w, _r, _c) = open_wal(dir.path(), 1000).unwrap();
            w.append(vec![1; 10]).await.unwrap();
            w.append(vec![2; 10]).await.unwrap();
        }
        let seg = segment_path(dir.path(), 0);
        let mut bytes = fs::read(&seg).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 0xff;
        fs::write(&seg, bytes).unwrap();
        let (_w, mut r, _c) = open_wal(dir.path(), 1000).unwrap();
        assert_eq!(drain(&mut r).await.len(), 1);
    }

    #[tokio::test]
    async fn concurrent_appends_get_distinct_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let (w, mut r, _c) = open_wal(dir.path(), 10_000).unwrap();
        let mut tasks = Vec::new();
        for t in 0..8u8 {
            let w = w.clone();
            tasks.push(tokio::spawn(async move {
                let mut offs = Vec::new();
                for i in 0..50u8 {
                    offs.push(w.append(vec![t, i]).await.unwrap());
                }
                offs
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort_unstable();
        assert_eq!(all, (0..400).collect::<Vec<u64>>());
        assert_eq!(drain(&mut r).await.len(), 400);
    }
}
