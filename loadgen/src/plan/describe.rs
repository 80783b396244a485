//! What `--dry-run` prints: the resolved plan, exactly as a run would use it.

use super::{HitPlan, RunPlan};
use crate::duration::format_duration;
use crate::scheduler;
use std::fmt::Write as _;

impl RunPlan {
    /// The plan as `--dry-run` prints it.
    pub fn describe(&self) -> String {
        let s = &self.schedule;
        let mut out = String::new();
        let _ = writeln!(out, "loadgen run plan (dry run: nothing sent)");
        let _ = writeln!(out, "  target:           {}", self.target.display());
        let _ = writeln!(out, "  profile:          {}", self.profile);
        let _ = writeln!(out, "  latency profile:  {}", self.latency_profile.name());
        let _ = writeln!(
            out,
            "  guard:            {}",
            if self.allow_non_test {
                "app_env requirement lifted (--allow-non-test-backend); target must still answer"
                    .to_string()
            } else {
                format!(
                    "GET {} must say status ok, app_env test; re-checked every {}",
                    self.journey.paths.health,
                    format_duration(self.guard_interval)
                )
            }
        );
        if let Some(a) = &s.arrivals {
            let _ = writeln!(
                out,
                "  model:            open ({} arrivals; an iteration's time counts from its scheduled start)",
                if a.poisson { "Poisson" } else { "evenly spaced" }
            );
            let _ = writeln!(out, "  rate stages (from {}/s):", a.start_rate);
            for (i, st) in a.stages.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "    {}. {} -> {}/s",
                    i + 1,
                    format_duration(st.duration),
                    st.target
                );
            }
            let _ = writeln!(
                out,
                "  iterations:       {:.0} expected (past --max-vus busy VUs, arrivals are dropped_iterations)\n  VUs:              {} pre-allocated, at most {}\n  total duration:   {} (+ up to {} graceful stop)",
                a.expected(),
                a.pre_allocated_vus,
                a.max_vus,
                format_duration(a.duration()),
                format_duration(s.graceful_stop),
            );
        } else {
            let _ = writeln!(out, "  start VUs:        {}", s.start_vus);
            let _ = writeln!(out, "  stages:");
            for (i, st) in s.stages.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "    {}. {} -> {} VUs",
                    i + 1,
                    format_duration(st.duration),
                    st.target
                );
            }
            let _ = writeln!(
                out,
                "  max VUs:          {}\n  total duration:   {} (+ up to {} graceful stop)\n  graceful ramp-down: {}",
                scheduler::max_vus(s.start_vus, &s.stages),
                format_duration(scheduler::total_duration(&s.stages)),
                format_duration(s.graceful_stop),
                format_duration(s.graceful_ramp_down),
            );
        }
        if let Some(shard) = &s.segment {
            let info = shard.info();
            let _ = writeln!(
                out,
                "  segment:          {} of {} (shard {} of {}): the shape above is the whole test's; this shard runs its share: at most {} VUs{}",
                info.segment,
                info.sequence,
                info.index.unwrap_or(0),
                info.count,
                s.max_vus(),
                if s.arrivals.is_some() { " and the arrivals its stripe owns" } else { "" },
            );
        }
        if let Some(at) = &self.start_at {
            let _ = writeln!(
                out,
                "  start at:         {} (the load waits for it after the guard)",
                at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            );
        }
        out.push_str(&self.journey.describe());
        if let Some(note) = self.shared_accounts_note() {
            let _ = writeln!(out, "  note:             {note}");
        }
        let _ = writeln!(out, "  scrape:");
        if self.scrape.is_empty() {
            let _ = writeln!(out, "    (none: --no-scrape)");
        }
        for e in &self.scrape {
            let _ = writeln!(
                out,
                "    GET {} every {}{}",
                e.url,
                format_duration(self.output.interval),
                if e.explicit {
                    ""
                } else {
                    " (kept if it answers with metrics before the load)"
                }
            );
        }
        if let Some(rw) = &self.remote_write {
            let labels: Vec<String> = rw.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(
                out,
                "  remote write:     POST {} every {} and at the end ({} histograms; labels {})",
                rw.endpoint.url,
                format_duration(self.output.interval),
                if rw.native { "native" } else { "classic" },
                labels.join(",")
            );
        }
        let _ = writeln!(out, "  seed:             {}", self.seed);
        let _ = writeln!(out, "  thresholds:");
        if self.thresholds.is_empty() {
            let _ = writeln!(out, "    (none)");
        }
        for t in &self.thresholds {
            let _ = writeln!(out, "    {t}");
        }
        for t in &self.skipped_thresholds {
            let _ = writeln!(out, "    skipped: {t}");
        }
        if let Some(b) = &self.baseline {
            let _ = writeln!(
                out,
                "  baseline:         {} (alpha {}; bands: {})",
                b.path.display(),
                b.options.alpha,
                b.options.tolerances.describe()
            );
        }
        out
    }
}

impl RunPlan {
    /// A note when more VUs run at once than there are accounts, so some
    /// VUs share one (the users fixture should have enough).
    pub fn shared_accounts_note(&self) -> Option<String> {
        let users = self.journey.users.len();
        let max = self.schedule.max_vus() as usize;
        (self.journey.steps.auth && users < max).then(|| {
            format!(
                "up to {max} VUs share {users} accounts; seed more users for one account per VU"
            )
        })
    }
}

impl HitPlan {
    /// The plan as `--dry-run` prints it.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "loadgen hit plan (dry run: nothing sent)");
        let _ = writeln!(out, "  url:          GET {}", self.url);
        let _ = writeln!(out, "  connections:  {}", self.connections);
        match self.requests {
            Some(n) => {
                let _ = writeln!(
                    out,
                    "  requests:     {n} (time cap {})",
                    format_duration(self.duration)
                );
            }
            None => {
                let _ = writeln!(out, "  duration:     {}", format_duration(self.duration));
            }
        }
        if let Some(rate) = self.rate {
            let _ = writeln!(
                out,
                "  rate:         {rate}/s (open model, latency from scheduled send)"
            );
        }
        let _ = writeln!(out, "  timeout:      {}", format_duration(self.timeout));
        let _ = writeln!(out, "  thresholds:");
        for t in &self.thresholds {
            let _ = writeln!(out, "    {t}");
        }
        out
    }
}
