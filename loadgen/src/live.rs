//! Live progress on stderr: one rewritten line on a terminal, plain
//! periodic lines otherwise (CI logs). It reads only merged snapshots of the
//! aggregate; the percentiles shown are cumulative since the start.

use crate::duration::format_duration;
use crate::engine::Schedule;
use crate::scheduler;
use crate::stats::{Aggregate, Collector, Summary};
use std::io::Write;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveMode {
    /// Not at all.
    Off,
    /// One line rewritten every second (stderr is a terminal).
    Tty,
    /// A plain line every interval.
    Plain(Duration),
}

/// A running live view; [`Live::finish`] stops it.
pub struct Live {
    task: Option<JoinHandle<()>>,
    mode: LiveMode,
}

/// One progress line from a snapshot.
pub fn line(
    agg: &Aggregate,
    elapsed: Duration,
    schedule: &Schedule,
    active_vus: u64,
    rate: f64,
) -> String {
    let total = scheduler::total_duration(&schedule.stages);
    let stage = scheduler::stage_at(&schedule.stages, elapsed) + 1;
    let planned = crate::segment::share(
        schedule.segment.as_deref(),
        scheduler::vus_at(schedule.start_vus, &schedule.stages, elapsed),
    );
    let mut p95 = Vec::new();
    for phase in agg.phases() {
        let (d, _) = agg.merged_where(|k| k.phase == phase);
        p95.push(format!("{phase} {}", fmt_ms(Summary::of(&d).p95)));
    }
    let (reqs, failed) = (agg.total_requests(), agg.failed_requests());
    let failed_pct = if reqs == 0 {
        0.0
    } else {
        100.0 * failed as f64 / reqs as f64
    };
    // Streaming runs also show the p95 time to first token (all phases).
    let ttft = if agg.streams.is_empty() {
        String::new()
    } else {
        let s = agg.streams_where(|_| true);
        format!(
            " | ttft p95 {} | stream errors {}",
            fmt_ms(Summary::of(&s.ttft).p95),
            s.failed()
        )
    };
    format!(
        "[{:>6}/{}] stage {stage}/{} | vus {active_vus}/{planned} | {rate:.1} req/s | reqs {reqs} | p95 {}{ttft} | failed {failed} ({failed_pct:.2}%)",
        format_duration(Duration::from_secs(elapsed.as_secs())),
        format_duration(total),
        schedule.stages.len(),
        if p95.is_empty() { "-".to_string() } else { p95.join(", ") },
    )
}

/// Milliseconds with a sensible precision.
pub fn fmt_ms(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms < 10.0 {
        format!("{ms:.2}ms")
    } else if ms < 1000.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{:.2}s", ms / 1000.0)
    }
}

impl Live {
    /// Starts the view (a no-op for [`LiveMode::Off`]).
    pub fn start(mode: LiveMode, collector: Collector, schedule: Schedule) -> Live {
        let every = match mode {
            LiveMode::Off => return Live { task: None, mode },
            LiveMode::Tty => Duration::from_secs(1),
            LiveMode::Plain(d) => d,
        };
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut ticker = tokio::time::interval_at(start + every, every);
            let (mut last_count, mut last_at) = (0u64, start);
            loop {
                ticker.tick().await;
                let agg = collector.snapshot();
                let now = Instant::now();
                let count = agg.total_requests();
                let rate = (count - last_count.min(count)) as f64
                    / now.duration_since(last_at).as_secs_f64().max(1e-3);
                (last_count, last_at) = (count, now);
                let text = line(
                    &agg,
                    now - start,
                    &schedule,
                    collector.gauges.active(),
                    rate,
                );
                let mut err = std::io::stderr().lock();
                let _ = match mode {
                    LiveMode::Tty => write!(err, "\r\x1b[2K{text}"),
                    _ => writeln!(err, "{text}"),
                };
                let _ = err.flush();
            }
        });
        Live {
            task: Some(task),
            mode,
        }
    }

    /// Stops the view and ends its line.
    pub fn finish(self) {
        if let Some(t) = self.task {
            t.abort();
            if self.mode == LiveMode::Tty {
                eprintln!();
            }
        }
    }
}
