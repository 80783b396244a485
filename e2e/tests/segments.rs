//! Execution segments end to end: one open-model run against the real
//! backend and, at the same time (one `--start-at`), the same profile as 4
//! shards (`--segment i/4`) against the same backend, the shards'
//! summary.json files written and added by `loadgen merge`'s code.
//!
//! What must hold: the shards' totals equal the single run's (the arrival
//! schedule is deterministic, so the iterations are equal exactly and the
//! requests within 2%), no account is in two shards' slices, the merged
//! percentiles agree with the single run's within the tolerance stated in
//! `consistent`, and thresholds are evaluated on the merged figures (a
//! count every shard passes fails merged, exit 99, as the single run).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clap::Parser;
use loadgen::cli::{Cli, Command};
use loadgen::plan::{self, Env, RunPlan};
use loadgen::report::Report;
use std::collections::BTreeSet;

const SHARDS: usize = 4;

fn plan(args: &[String]) -> RunPlan {
    let mut argv: Vec<&str> = vec!["loadgen", "run", "-q"];
    argv.extend(args.iter().map(String::as_str));
    match Cli::try_parse_from(argv).expect("arguments parse").command {
        Command::Run(a) => plan::resolve_run(&a, &Env::default()).expect("plan resolves"),
        _ => unreachable!("a run command"),
    }
}

async fn run(p: RunPlan) -> Report {
    loadgen::app::run_with(p, None, None)
        .await
        .expect("the run completes")
}

/// Requests of `phase` in a report.
fn requests(r: &Report, phase: &str) -> u64 {
    r.endpoint_rows()
        .iter()
        .filter(|row| &*row.phase == phase)
        .map(|row| row.requests)
        .sum()
}

/// Percentile `q` (0..100) of the phase's request durations, in µs.
fn percentile(r: &Report, phase: &str, q: f64) -> u64 {
    let (h, _) = r.aggregate.merged_where(|k| &*k.phase == phase);
    h.value_at_quantile(q / 100.0)
}

/// The tolerance: the merged and the single run's percentile differ by at
/// most 35% of the larger or 15 ms, whichever is more. Two concurrent runs
/// of 120 iterations on a 2-core machine (backend, Postgres and loadgen on
/// the same cores) differ by that much; what this catches is a merge that
/// is wrong in kind (a shard's percentile taken for the whole, averaged
/// percentiles, a histogram lost or added twice).
fn consistent(single: u64, merged: u64) -> bool {
    let diff = single.abs_diff(merged) as f64;
    diff <= (0.35 * single.max(merged) as f64).max(15_000.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shards_add_up_to_one_run_of_the_same_profile() {
    let app = common::backend(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let users = common::users(&app.base_url, 40, dir.path()).await;
    // 15 arrivals/s for 8 s: 120 iterations of login, session, chat (30/s
    // on the backend while the single run and the shards overlap).
    let profile: Vec<String> = [
        "--base-url",
        &app.base_url,
        "--users-file",
        users.to_str().unwrap(),
        "--rate",
        "15/s",
        "--duration",
        "8s",
        "--pre-allocated-vus",
        "20",
        "--max-vus",
        "200",
        "--seed",
        "7",
        "--no-scrape",
        // Every shard does about 90 requests, the whole test 360: only a
        // global evaluation fails this.
        "--threshold",
        "http_reqs: count<200",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();

    // The single run and the shards run at the same time, from one
    // --start-at, against the same backend: both see the same machine (on a
    // shared 2-core box, runs minutes apart differ more than any merge
    // error), so their percentiles are comparable.
    let start = (chrono::Utc::now() + chrono::Duration::milliseconds(2000))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let single_plan = {
        let mut args = profile.clone();
        args.extend(["--start-at".into(), start.clone()]);
        plan(&args)
    };
    let plans: Vec<RunPlan> = (1..=SHARDS)
        .map(|i| {
            let mut args = profile.clone();
            args.extend(["--segment".into(), format!("{i}/{SHARDS}")]);
            args.extend(["--start-at".into(), start.clone()]);
            plan(&args)
        })
        .collect();
    // No account in two shards' slices, and every account in one.
    let slices: Vec<BTreeSet<String>> = plans
        .iter()
        .map(|p| p.journey.users.iter().map(|u| u.username.clone()).collect())
        .collect();
    for (i, a) in slices.iter().enumerate() {
        for b in &slices[i + 1..] {
            assert!(a.is_disjoint(b), "{a:?} and {b:?} share accounts");
        }
    }
    assert_eq!(slices.iter().map(BTreeSet::len).sum::<usize>(), 40);

    let single = tokio::spawn(run(single_plan));
    let shards = futures_join(plans).await;
    let single = single.await.expect("the single run's task");
    let mut files = Vec::new();
    for (i, r) in shards.iter().enumerate() {
        let seg = r.segment.as_ref().expect("a shard records its segment");
        assert_eq!((seg.index, seg.count), (Some(i + 1), SHARDS));
        assert_eq!(r.exit_code().code(), 0, "shard {} alone passes", i + 1);
        let out = dir.path().join(format!("shard-{i}"));
        loadgen::app::write_results(r, &out).unwrap();
        files.push(out.join("summary.json"));
    }
    let merged = loadgen::merge::merge_files(&files, &Default::default()).unwrap();
    // A shard given twice would count its share twice: refused.
    let twice = [files[0].clone(), files[1].clone(), files[0].clone()];
    match loadgen::merge::merge_files(&twice, &Default::default()) {
        Err(loadgen::exit::Failure::Usage(m)) => assert!(m.contains("overlaps"), "{m}"),
        other => panic!("a shard merged twice: {:?}", other.map(|r| r.exit_code())),
    }

    // Totals: the schedule is the same, so iterations are equal exactly.
    let (one, all) = (&single.aggregate, &merged.aggregate);
    assert_eq!(one.dropped_iterations + all.dropped_iterations, 0);
    assert_eq!(one.iterations.len(), 120);
    assert_eq!(all.iterations.len(), one.iterations.len());
    let total = |r: &Report| {
        r.endpoint_rows()
            .iter()
            .map(|row| row.requests)
            .sum::<u64>()
    };
    let (t1, t4) = (total(&single), total(&merged));
    assert!(
        t1.abs_diff(t4) as f64 <= 0.02 * t1 as f64,
        "single {t1} vs 4 shards {t4}"
    );
    let shard_totals: Vec<u64> = shards.iter().map(total).collect();
    assert_eq!(shard_totals.iter().sum::<u64>(), t4);
    // The shards' VU bounds add up to the single run's.
    assert_eq!(
        shards.iter().map(|r| r.vus_max_planned).sum::<u32>(),
        single.vus_max_planned
    );
    let seg = merged
        .segment
        .as_ref()
        .expect("the merge records the union");
    assert_eq!((seg.segment.as_str(), seg.count), ("0:1", SHARDS));

    let mut figures = Vec::new();
    for phase in ["auth", "session", "chat"] {
        assert_eq!(
            requests(&single, phase),
            requests(&merged, phase),
            "{phase}"
        );
        for q in [50.0, 95.0] {
            let (s, m) = (percentile(&single, phase, q), percentile(&merged, phase, q));
            figures.push(format!("{phase} p{q}: single {s} us, merged {m} us"));
            assert!(
                consistent(s, m),
                "{phase} p{q}: single {s} us, merged {m} us"
            );
        }
    }
    // Thresholds on the merged figures: what each shard passed fails merged,
    // as it fails the single run.
    assert_eq!(single.exit_code().code(), 99);
    assert_eq!(merged.exit_code().code(), 99);
    eprintln!(
        "segments: single run {t1} requests, 4 shards {t4} ({shard_totals:?}); {}",
        figures.join("; ")
    );
    app.shutdown().await.unwrap();
}

/// Runs the shards' plans concurrently.
async fn futures_join(plans: Vec<RunPlan>) -> Vec<Report> {
    let handles: Vec<_> = plans.into_iter().map(|p| tokio::spawn(run(p))).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("a shard's task"));
    }
    out
}
