//! The process's own figures in the Prometheus names every exporter uses
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! `process_open_fds`), read at scrape time.
//!
//! Written here rather than taken from the `prometheus` crate's process
//! collector, which counts CPU in whole seconds: a scraper taking a rate
//! every second saw 0, 0, 1, 0... for a process using half a core. CPU time
//! comes from `getrusage` (microseconds), resident memory from
//! `/proc/self/status` and open descriptors from `/proc/self/fd` (Linux; on
//! other systems those two are left out).

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Counter, IntGauge};
use std::sync::Mutex;

/// Registered once per registry; see the module documentation.
pub struct ProcessCollector {
    cpu: Counter,
    rss: IntGauge,
    fds: IntGauge,
    /// Serialises updates: two scrapes at once must not both add the same
    /// CPU time to the counter.
    update: Mutex<()>,
}

impl ProcessCollector {
    pub fn new() -> prometheus::Result<Self> {
        Ok(Self {
            cpu: Counter::new(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
            )?,
            rss: IntGauge::new(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
            )?,
            fds: IntGauge::new("process_open_fds", "Number of open file descriptors.")?,
            update: Mutex::new(()),
        })
    }
}

/// User + system CPU seconds of this process so far (every thread).
#[allow(unsafe_code)]
fn cpu_seconds() -> Option<f64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given and reads nothing else.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: rc == 0 means the struct was written.
    let u = unsafe { usage.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(secs(u.ru_utime) + secs(u.ru_stime))
}

/// Resident memory: `VmRSS` of `/proc/self/status` (kB).
fn rss_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Entries of `/proc/self/fd`, less the one the listing itself opened.
fn open_fds() -> Option<i64> {
    let n = std::fs::read_dir("/proc/self/fd").ok()?.count();
    i64::try_from(n.saturating_sub(1)).ok()
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        [&self.cpu.desc(), &self.rss.desc(), &self.fds.desc()]
            .into_iter()
            .flatten()
            .copied()
            .collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let _guard = self
            .update
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = Vec::new();
        if let Some(now) = cpu_seconds() {
            let past = self.cpu.get();
            if now > past {
                self.cpu.inc_by(now - past);
            }
            out.extend(self.cpu.collect());
        }
        if let Some(b) = rss_bytes() {
            self.rss.set(b);
            out.extend(self.rss.collect());
        }
        if let Some(n) = open_fds() {
            self.fds.set(n);
            out.extend(self.fds.collect());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(c: &ProcessCollector, name: &str) -> Option<f64> {
        c.collect().iter().find(|f| f.name() == name).map(|f| {
            let m = &f.get_metric()[0];
            if name.ends_with("_total") {
                m.get_counter().get_value()
            } else {
                m.get_gauge().get_value()
            }
        })
    }

    #[test]
    fn cpu_time_counts_fractions_of_a_second() {
        let c = ProcessCollector::new().expect("collector");
        let before = value(&c, "process_cpu_seconds_total").expect("cpu");
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(150) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let used = value(&c, "process_cpu_seconds_total").expect("cpu") - before;
        // Whole-second counting (the prometheus crate's collector) reads 0
        // or 1 here.
        assert!(used > 0.05 && used < 1.0, "{used}");
        let rss = value(&c, "process_resident_memory_bytes").expect("rss");
        assert!(rss > 1_000_000.0, "{rss}");
        assert!(value(&c, "process_open_fds").expect("fds") >= 3.0);
    }
}
