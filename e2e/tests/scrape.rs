//! Scraping the real backend during a run: its own `/api/metrics` is
//! found by default, every scrape lands on the run's time axis, and the
//! server's counts agree with the client's.

mod common;

use loadgen::server::{series, totals};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_against_the_backend_charts_its_pool_cpu_and_memory_and_counts_its_provider_calls() {
    let app = common::backend(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let users = common::users(&app.base_url, 5, dir.path()).await;
    let report = common::run(&[
        "--base-url",
        &app.base_url,
        "--users-file",
        users.to_str().unwrap(),
        "--vus",
        "5",
        "--duration",
        "4s",
        "--interval",
        "500ms",
    ])
    .await;
    let server = report
        .server
        .as_ref()
        .expect("the backend's metrics were scraped");
    assert_eq!(server.targets.len(), 1);
    let t = &server.targets[0];
    assert_eq!(t.url, format!("{}/api/metrics", app.base_url));
    assert_eq!((t.failures, t.last_error.as_deref()), (0, None), "{t:?}");
    let n = t.t_ms.len();
    // The baseline, about 8 ticks at 500 ms, the last scrape.
    assert!(n >= 7, "{:?}", t.t_ms);
    assert_eq!(t.t_ms[0], 0);
    assert!(t.t_ms.windows(2).all(|w| w[1] > w[0]), "{:?}", t.t_ms);
    assert!(t.t_ms[n - 1] >= report.duration.as_millis() as u64);

    let col = |name: &str| -> Vec<Option<f64>> {
        t.series
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", t.series.keys()))
            .clone()
    };
    let max = f64::from(app.config.db_pool_size);
    assert_eq!(col(series::DB_POOL_MAX), vec![Some(max); n]);
    let ratio = col(series::DB_POOL_USAGE_RATIO);
    assert!(
        ratio
            .iter()
            .all(|r| r.is_some_and(|r| (0.0..=1.0).contains(&r))),
        "{ratio:?}"
    );
    let cpus = std::thread::available_parallelism().unwrap().get() as f64;
    assert_eq!(col(series::HOST_CPUS), vec![Some(cpus); n]);
    let cores = col(series::CPU_CORES);
    assert_eq!(cores[0], None, "no rate at the first scrape");
    assert!(
        cores[1..].iter().all(|c| c.is_some_and(|c| c >= 0.0)),
        "{cores:?}"
    );
    assert!(
        cores.iter().flatten().any(|c| *c > 0.0),
        "a loaded backend uses CPU: {cores:?}"
    );
    let rss = col(series::RSS_MIB);
    assert!(rss.iter().all(|m| m.is_some_and(|m| m > 1.0)), "{rss:?}");
    assert!(col(series::OPEN_FDS)
        .iter()
        .all(|f| f.is_some_and(|f| f >= 3.0)));
    assert!(col(series::PROVIDER_MEAN_MS)
        .iter()
        .flatten()
        .all(|ms| *ms >= 0.0));
    assert_eq!(
        col(series::HISTORY_MAX_MESSAGES),
        vec![Some(f64::from(app.config.chat_history_max_messages)); n]
    );

    // Every chat turn the client saw answered was one provider call and one
    // chat route request on the server.
    let chat: u64 = report
        .endpoint_rows()
        .iter()
        .filter(|r| r.phase.as_ref() == "chat")
        .map(|r| r.requests)
        .sum();
    assert!(chat > 0);
    assert_eq!(
        t.totals[totals::PROVIDER_CALLS],
        chat as f64,
        "{:?}",
        t.totals
    );
    assert_eq!(t.totals[totals::CHAT_TURNS], chat as f64, "{:?}", t.totals);
    assert!(t.totals[totals::PROVIDER_SECONDS] > 0.0);
    assert_eq!(t.totals[totals::PROVIDER_ERRORS], 0.0);
    assert!(t.totals[totals::CPU_SECONDS] > 0.0);
    // Each iteration logs in: one password verify per login.
    let logins: u64 = report
        .endpoint_rows()
        .iter()
        .filter(|r| r.phase.as_ref() == "auth")
        .map(|r| r.requests)
        .sum();
    assert_eq!(t.totals[totals::HASHES], logins as f64, "{:?}", t.totals);
    app.shutdown().await.unwrap();
}
