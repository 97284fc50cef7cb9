//! Measures what blocks cost: bytes stored as a fraction of the raw text, for hour blocks and
//! day blocks, beside `zstd -3` and `zstd -19` of the same raw text, and how fast they are
//! written (MB of raw lines per CPU-second of this process: one core, whatever else runs on the
//! machine).
//!
//! ```text
//! cargo run --release -p logq-compactor --example block_size -- DIR [--raw FILE] [--levers]
//!     [--day-codec zstd|brotli:Q] [--no-zstd19]
//! ```
//! `DIR` holds one file per stream (`logq gen --dir`, or the loghub sample). The lines of each
//! file get timestamps spread evenly over one day. `--raw FILE` is the raw text the baselines
//! compress (default: the files concatenated); `--levers` also tries other encodings;
//! `--day-codec` overrides the day blocks' line codec; `--no-zstd19` skips the slow `zstd -19`
//! baselines (for 1 GB corpora). Read speeds decode every row of the blocks.

use bytes::Bytes;
use logq_compactor::merge_blocks;
use logq_storage::{
    derive_message_id, read_block_streams, write_block_with, BlockIndex, BlockOptions, Entry, LabelSet,
    LineCodec, LineEncoding,
};

const HOUR_NS: i64 = 3600 * 1_000_000_000;
const DAY0: i64 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z

/// CPU seconds this process has used (user + system), from `/proc/self/stat`.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11..13)
        .map_or(0.0, |f| f.iter().filter_map(|x| x.parse::<f64>().ok()).sum());
    ticks / 100.0
}

/// A CPU-time stopwatch.
struct Cpu(f64);

impl Cpu {
    fn start() -> Self {
        Cpu(cpu_secs())
    }

    fn elapsed(&self) -> f64 {
        (cpu_secs() - self.0).max(0.01)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args
        .first()
        .expect("usage: block_size DIR [--raw FILE] [--levers]");
    let raw_file = args
        .iter()
        .position(|a| a == "--raw")
        .map(|i| args[i + 1].clone());
    let levers = args.iter().any(|a| a == "--levers");
    let no_zstd19 = args.iter().any(|a| a == "--no-zstd19");
    let mut day_opts = BlockOptions::day();
    if let Some(i) = args.iter().position(|a| a == "--day-codec") {
        day_opts.line_codec = args[i + 1].parse().unwrap();
    }

    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    let mut streams = Vec::new();
    let mut concatenated = Vec::new();
    for f in &files {
        let text = std::fs::read(f).unwrap();
        concatenated.extend_from_slice(&text);
        let text = String::from_utf8_lossy(&text).into_owned();
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        let labels = LabelSet::parse(&format!("{{file=\"{name}\"}}")).unwrap();
        let fp = labels.fingerprint();
        let lines: Vec<&str> = text.lines().collect();
        let step = 86_400 * 1_000_000_000 / lines.len().max(1) as i64;
        let entries: Vec<Entry> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let ts = DAY0 + i as i64 * step;
                Entry {
                    ts,
                    id: derive_message_id(fp, ts, l),
                    line: l.to_string(),
                    metadata: vec![],
                }
            })
            .collect();
        streams.push((labels, entries));
    }
    let raw = match &raw_file {
        Some(f) => std::fs::read(f).unwrap(),
        None => concatenated.clone(),
    };
    let lines: usize = streams.iter().map(|(_, e)| e.len()).sum();
    let line_bytes: usize = streams
        .iter()
        .flat_map(|(_, e)| e.iter().map(|x| x.line.len() + 1))
        .sum();
    let mb = line_bytes as f64 / 1e6;
    // Reads are repeated up to ~100 MB so that CPU ticks (10 ms) do not dominate.
    let reads = (100.0 / mb).ceil().max(1.0) as usize;
    println!(
        "{} streams, {lines} lines, {mb:.1} MB raw (lines + newlines)\n",
        streams.len()
    );
    println!("| what | bytes | fraction of raw | MB/s of raw per CPU second |");
    println!("|---|---|---|---|");
    let row = |what: &str, bytes: usize, secs: f64| {
        println!(
            "| {what} | {bytes} | {:.4} | {:.1} |",
            bytes as f64 / raw.len() as f64,
            raw.len() as f64 / 1e6 / secs
        );
    };
    for level in [3, 19] {
        if level == 19 && no_zstd19 {
            continue;
        }
        let t = Cpu::start();
        let z = zstd::bulk::compress(&raw, level).unwrap();
        row(&format!("zstd -{level} of the raw text"), z.len(), t.elapsed());
    }
    if raw_file.is_some() && !no_zstd19 {
        let t = Cpu::start();
        let z = zstd::bulk::compress(&concatenated, 19).unwrap();
        row("zstd -19 of the text sorted by stream", z.len(), t.elapsed());
    }

    // Hour blocks, as the compactor writes them (one per hour).
    let t = Cpu::start();
    let mut hour_blocks = Vec::new();
    let mut hour_bytes = 0;
    for h in 0..24 {
        let (from, to) = (DAY0 + h * HOUR_NS, DAY0 + (h + 1) * HOUR_NS);
        let hour: Vec<(LabelSet, Vec<Entry>)> = streams
            .iter()
            .map(|(l, e)| {
                (
                    l.clone(),
                    e.iter().filter(|x| x.ts >= from && x.ts < to).cloned().collect(),
                )
            })
            .collect();
        let (bytes, index) = write_block_with(hour, &BlockOptions::hour()).unwrap();
        hour_bytes += bytes.len() + index.encode().unwrap().len();
        hour_blocks.push((bytes, index));
    }
    row("hour blocks (24, zstd 3, 1 MiB pages)", hour_bytes, t.elapsed());
    let t = Cpu::start();
    for (h, (bytes, index)) in hour_blocks.iter().enumerate() {
        read_all(&format!("hour-{h}"), bytes, index, reads);
    }
    println!(
        "| (reading the hour blocks: every row) | | | {:.1} |",
        reads as f64 * mb / t.elapsed()
    );

    // The day block as the compactor makes it: read the hour blocks, merge, write. Its peak
    // memory is measured alone: the corpus is dropped and the peak reset first.
    let levers_input = if levers { streams } else { Vec::new() };
    drop(concatenated);
    let rss_before = reset_peak_rss();
    let t = Cpu::start();
    let inputs: Vec<(String, Bytes, BlockIndex)> = hour_blocks
        .into_iter()
        .enumerate()
        .map(|(h, (bytes, index))| (format!("hour-{h}"), Bytes::from(bytes), index))
        .collect();
    let (day, index) = merge_blocks(&inputs, &day_opts).unwrap();
    let day_total = day.len() + index.encode().unwrap().len();
    row(
        &format!("day block ({:?}), from the hour blocks", day_opts.line_codec),
        day_total,
        t.elapsed(),
    );
    let peak = peak_rss_mib();
    let t = Cpu::start();
    read_all("day", &day, &index, reads);
    println!(
        "| (reading the day block: every row) | | | {:.1} |",
        reads as f64 * mb / t.elapsed()
    );
    if let (Some(before), Some(peak)) = (rss_before, peak) {
        println!("\nday compaction: peak RSS {peak} MiB (the hour blocks and the rest of the process: {before} MiB before)");
    }
    let streams = levers_input;
    columns(&day);

    if levers {
        println!("\nLevers (one day block written straight from the entries):\n");
        println!("| zstd | line codec | page bytes | page rows | row group | line dictionary | line encoding | bytes | fraction | MB/s | read MB/s |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|");
        let base = BlockOptions::day();
        let mut tries = vec![
            BlockOptions::hour(),
            BlockOptions {
                line_dictionary: false,
                ..BlockOptions::hour()
            },
        ];
        for level in [3, 9, 15, 19, 22] {
            tries.push(BlockOptions {
                zstd_level: level,
                ..base.clone()
            });
        }
        for page in [1 << 20, 4 << 20, 32 << 20] {
            tries.push(BlockOptions {
                data_page_bytes: page,
                ..base.clone()
            });
        }
        tries.push(BlockOptions {
            data_page_rows: 20_000,
            ..base.clone()
        });
        tries.push(BlockOptions {
            row_group_rows: 128 * 1024,
            ..base.clone()
        });
        tries.push(BlockOptions {
            row_group_rows: 2 * 1024 * 1024,
            ..base.clone()
        });
        tries.push(BlockOptions {
            line_dictionary: true,
            ..base.clone()
        });
        for line_encoding in [LineEncoding::DeltaLength, LineEncoding::DeltaPrefix] {
            tries.push(BlockOptions {
                line_encoding,
                ..base.clone()
            });
        }
        for level in [16, 17, 18] {
            tries.push(BlockOptions {
                zstd_level: level,
                ..base.clone()
            });
        }
        for quality in [9, 10, 11] {
            tries.push(BlockOptions {
                line_codec: LineCodec::Brotli(quality),
                ..base.clone()
            });
        }
        for o in tries {
            let t = Cpu::start();
            let (bytes, index) = write_block_with(streams.clone(), &o).unwrap();
            let secs = t.elapsed();
            let t = Cpu::start();
            read_all("lever", &bytes, &index, reads);
            let read_secs = t.elapsed() / reads as f64;
            let rows = if o.data_page_rows == usize::MAX {
                "any".to_string()
            } else {
                o.data_page_rows.to_string()
            };
            let fraction = bytes.len() as f64 / raw.len() as f64;
            println!(
                "| {} | {:?} | {} KiB | {rows} | {} | {} | {:?} | {} | {fraction:.4} | {:.1} | {:.0} |",
                o.zstd_level,
                o.line_codec,
                o.data_page_bytes / 1024,
                o.row_group_rows,
                o.line_dictionary,
                o.line_encoding,
                bytes.len(),
                mb / secs,
                mb / read_secs
            );
        }
    }
}

/// Decodes every row of a block (what a query reading everything pays), `times` times.
fn read_all(key: &str, bytes: &[u8], index: &BlockIndex, times: usize) {
    let refs: Vec<_> = index.streams.iter().collect();
    let bytes = Bytes::from(bytes.to_vec());
    for _ in 0..times {
        let rows: usize = read_block_streams(key, bytes.clone(), &refs)
            .unwrap()
            .iter()
            .map(Vec::len)
            .sum();
        assert_eq!(rows as u64, index.streams.iter().map(|s| s.rows).sum::<u64>());
    }
}

/// Resets the process's peak RSS (`/proc/self/clear_refs`) and returns the current RSS in MiB.
fn reset_peak_rss() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    status_kib("VmRSS:").map(|k| k / 1024)
}

/// Peak RSS in MiB since the last reset.
fn peak_rss_mib() -> Option<u64> {
    status_kib("VmHWM:").map(|k| k / 1024)
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Compressed bytes per column of a block.
fn columns(block: &[u8]) {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(Bytes::from(block.to_vec())).unwrap();
    let meta = reader.metadata();
    let mut sizes = std::collections::BTreeMap::<String, i64>::new();
    for rg in meta.row_groups() {
        for c in rg.columns() {
            *sizes.entry(c.column_path().string()).or_default() += c.compressed_size();
        }
    }
    let parts: Vec<String> = sizes.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("\nday block columns (compressed bytes): {}", parts.join(", "));
}
