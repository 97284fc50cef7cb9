//! The pull's progress: shared counters (lines, bytes, range covered) that workers bump, and
//! an indicatif bar drawn from them on a terminal (time range covered, lines, bytes, rate,
//! ETA). Hidden when stderr is not a terminal or with `--quiet`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Counters shared by the workers.
#[derive(Default)]
pub struct Counters {
    /// Lines written.
    pub lines: AtomicU64,
    /// Line bytes written.
    pub bytes: AtomicU64,
    /// Nanoseconds of the range fetched.
    pub covered_ns: AtomicU64,
    done: AtomicBool,
}

/// The bar and its drawing thread.
pub struct Progress {
    /// What the workers bump.
    pub counters: Arc<Counters>,
    bar: Option<(ProgressBar, std::thread::JoinHandle<()>)>,
    started: Instant,
}

fn human(bytes: f64) -> String {
    indicatif::HumanBytes(bytes as u64).to_string()
}

impl Progress {
    /// Progress over a range of `total_ns`, of which `already_ns` were pulled before; drawn
    /// only when `visible` and stderr is a terminal.
    pub fn start(total_ns: u64, already_ns: u64, visible: bool) -> Progress {
        let counters = Arc::new(Counters::default());
        counters.covered_ns.store(already_ns, Ordering::Relaxed);
        let started = Instant::now();
        let bar = (visible && std::io::stderr().is_terminal()).then(|| {
            let total_s = (total_ns / 1_000_000_000).max(1);
            let bar = ProgressBar::with_draw_target(Some(total_s), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len}s of range  {msg}  ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let (c, b) = (counters.clone(), bar.clone());
            let handle = std::thread::spawn(move || {
                while !c.done.load(Ordering::Relaxed) {
                    let secs = started.elapsed().as_secs_f64().max(1e-3);
                    let bytes = c.bytes.load(Ordering::Relaxed) as f64;
                    b.set_position(c.covered_ns.load(Ordering::Relaxed) / 1_000_000_000);
                    b.set_message(format!(
                        "{} lines, {}, {}/s",
                        c.lines.load(Ordering::Relaxed),
                        human(bytes),
                        human(bytes / secs)
                    ));
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
            (bar, handle)
        });
        Progress {
            counters,
            bar,
            started,
        }
    }

    /// Stops drawing; prints a summary line when the bar was shown.
    pub fn finish(self, what: &str) {
        self.counters.done.store(true, Ordering::Relaxed);
        if let Some((bar, handle)) = self.bar {
            let _ = handle.join();
            bar.finish_and_clear();
            let secs = self.started.elapsed().as_secs_f64().max(1e-3);
            let bytes = self.counters.bytes.load(Ordering::Relaxed) as f64;
            eprintln!(
                "{what}: {} lines, {} in {secs:.1}s ({}/s)",
                self.counters.lines.load(Ordering::Relaxed),
                human(bytes),
                human(bytes / secs)
            );
        }
    }
}
