//! The server-side rules: pool, CPU, provider share, 429s, retries,
//! breaker, hashing queue, long tail with long history.

use super::*;

#[test]
fn db_pool_saturated_fires_when_sustained_with_its_usage_figure() {
    let mut t = healthy_target();
    set(&mut t, s::DB_POOL_MAX, vec![2.0; 20]);
    set(&mut t, s::DB_POOL_CHECKED_OUT, first(14, 2.0, 1.0));
    set(&mut t, s::DB_POOL_USAGE_RATIO, first(14, 1.0, 0.5));
    let f = finding(&with_server(healthy_client(), t), "db_pool_saturated");
    assert_eq!(
        f.evidence,
        "pool usage ratio 1.00 (2 of 2 connections checked out) at its peak, above 0.85 in 14 of 20 scrapes"
    );
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.advice.contains("DB_POOL_SIZE") && f.advice.contains("max_connections"));
}

#[test]
fn db_pool_saturated_ignores_a_blip_and_a_ratio_at_the_limit() {
    let mut t = healthy_target();
    set(&mut t, s::DB_POOL_USAGE_RATIO, first(2, 1.0, 0.2));
    assert!(!rules(&with_server(healthy_client(), t)).contains(&"db_pool_saturated".into()));
    let mut t = healthy_target();
    set(
        &mut t,
        s::DB_POOL_USAGE_RATIO,
        vec![POOL_RATIO_AT_LIMIT; 20],
    );
    assert!(!rules(&with_server(healthy_client(), t)).contains(&"db_pool_saturated".into()));
    // Five of twenty (25%): sustained, a warning.
    let mut t = healthy_target();
    set(&mut t, s::DB_POOL_USAGE_RATIO, first(5, 0.9, 0.2));
    let f = finding(&with_server(healthy_client(), t), "db_pool_saturated");
    assert_eq!(f.severity, Severity::Warning);
    // Without the ratio series, checked out / max stands in.
    let mut t = healthy_target();
    t.series.remove(s::DB_POOL_USAGE_RATIO);
    set(&mut t, s::DB_POOL_CHECKED_OUT, first(6, 10.0, 1.0));
    assert!(rules(&with_server(healthy_client(), t)).contains(&"db_pool_saturated".into()));
}

const POOL_RATIO_AT_LIMIT: f64 = pool::POOL_SATURATED_RATIO;

#[test]
fn cpu_saturated_needs_busy_cpus_and_an_idle_pool() {
    let mut t = healthy_target();
    set(&mut t, s::CPU_CORES, first(10, 1.9, 0.4));
    let f = finding(&with_server(healthy_client(), t.clone()), "cpu_saturated");
    assert!(
        f.evidence.starts_with("the process used 1.90 of 2 CPUs"),
        "{}",
        f.evidence
    );
    assert!(f.evidence.contains("in 10 of 20 scrapes"), "{}", f.evidence);
    assert!(f.advice.contains("WORKER_THREADS") && f.advice.contains("replicas"));
    // The pool busy: not this rule.
    set(&mut t, s::DB_POOL_USAGE_RATIO, vec![0.9; 20]);
    assert!(!rules(&with_server(healthy_client(), t)).contains(&"cpu_saturated".into()));
    // Busy hashing (hashes queued at those scrapes): hash_backlog's, not this.
    let mut t = healthy_target();
    set(&mut t, s::CPU_CORES, first(10, 1.9, 0.4));
    set(&mut t, s::HASH_QUEUE_DEPTH, first(10, 8.0, 0.0));
    let r = rules(&with_server(healthy_client(), t));
    assert!(!r.contains(&"cpu_saturated".into()), "{r:?}");
    assert!(r.contains(&"hash_backlog".into()), "{r:?}");
    // Below 85% of the CPUs.
    let mut t = healthy_target();
    set(&mut t, s::CPU_CORES, vec![1.6; 20]);
    assert!(!rules(&with_server(healthy_client(), t)).contains(&"cpu_saturated".into()));
}

fn slow_client(ms: u64) -> Report {
    let intervals = (0..20)
        .map(|_| Interval {
            vus: 5,
            records: turns(12, ms, 200),
        })
        .collect();
    report_of(intervals, 1000, &[])
}

#[test]
fn provider_dominates_fires_only_when_chat_latency_is_a_problem() {
    // A healthy mock run: 95% provider, but fast: nothing (the healthy test).
    // Slow: p95 above the mock's slow level.
    let f = finding(
        &with_server(slow_client(2000), healthy_target()),
        "provider_dominates",
    );
    assert!(f.evidence.starts_with("provider calls took 95% of the server's chat time (a provider call 333 ms, a chat turn 350 ms on average), and chat p95 is 20"), "{}", f.evidence);
    assert!(f
        .evidence
        .contains("above the 1500 ms a mock provider should take"));
    assert!(f.advice.contains("PROVIDER_TIMEOUT_SECONDS") && f.advice.contains("PROVIDER_CB_"));
    // Just under the slow level: no problem, no finding.
    assert!(diagnose(&with_server(slow_client(1300), healthy_target())).is_empty());
    // Under a live latency profile 2 s is normal.
    let mut live = slow_client(2000);
    live.latency_profile = Some(crate::profile::LatencyProfile::Live);
    assert!(diagnose(&with_server(live, healthy_target())).is_empty());
    // Without totals, the medians of the per-interval means stand in.
    let mut t = healthy_target();
    t.totals.clear();
    set(&mut t, s::PROVIDER_MEAN_MS, vec![1950.0; 20]);
    set(&mut t, s::CHAT_MEAN_MS, vec![2000.0; 20]);
    let f = finding(&with_server(slow_client(2000), t), "provider_dominates");
    assert!(f.evidence.starts_with("provider calls took 98% of the server's chat time (a provider call 1950 ms, a chat turn 2000 ms on average)"), "{}", f.evidence);
    // Slow, but the provider is only half the chat time: not the provider.
    let mut t = healthy_target();
    t.totals.insert(tt::PROVIDER_SECONDS.into(), 240.0 * 0.175);
    assert!(!rules(&with_server(slow_client(2000), t)).contains(&"provider_dominates".into()));
}

#[test]
fn provider_dominates_counts_a_failed_chat_threshold_and_growth_under_load() {
    let intervals = (0..20)
        .map(|_| Interval {
            vus: 5,
            records: turns(12, 350, 200),
        })
        .collect();
    let r = report_of(
        intervals,
        1000,
        &["http_req_duration{phase:chat}: p(95)<300"],
    );
    let f = finding(&with_server(r, healthy_target()), "provider_dominates");
    assert!(
        f.evidence
            .contains("the threshold http_req_duration{phase:chat}: p(95)<300 failed"),
        "{}",
        f.evidence
    );
    // A ramp whose chat p50 goes from 350 ms at 1 VU to 700 ms at 20.
    let ramp = |top: u64| {
        (0..20)
            .map(|i| Interval {
                vus: if i < 10 { 1 } else { 20 },
                records: turns(12, if i < 10 { 350 } else { top }, 200),
            })
            .collect()
    };
    let f = finding(
        &with_server(report_of(ramp(700), 1000, &[]), healthy_target()),
        "provider_dominates",
    );
    assert!(
        f.evidence
            .contains("chat p50 grew from 349 ms at 1 VUs to 697 ms at 20 VUs"),
        "{}",
        f.evidence
    );
    // 1.3× is within what load may cost.
    assert!(diagnose(&with_server(
        report_of(ramp(455), 1000, &[]),
        healthy_target()
    ))
    .is_empty());
}

#[test]
fn provider_429_and_retries_fire_on_any() {
    let mut t = healthy_target();
    t.totals.insert(tt::PROVIDER_429.into(), 30.0);
    t.totals.insert(tt::PROVIDER_RETRIES.into(), 30.0);
    let r = with_server(healthy_client(), t);
    let f = finding(&r, "provider_429");
    assert_eq!(
        f.evidence,
        "the provider answered 429 (rate limited) 30 times of 240 provider calls (12.5%)"
    );
    assert_eq!(f.severity, Severity::Critical);
    let f = finding(&r, "provider_retries");
    assert!(
        f.evidence.starts_with(
            "the backend retried provider calls 30 times of 240 provider calls (12.5%); chat p50"
        ),
        "{}",
        f.evidence
    );
    assert_eq!(f.severity, Severity::Warning);
    // One 429 in 240: a warning; one retry in 240 (0.4%): information.
    let mut t = healthy_target();
    t.totals.insert(tt::PROVIDER_429.into(), 1.0);
    t.totals.insert(tt::PROVIDER_RETRIES.into(), 1.0);
    let r = with_server(healthy_client(), t);
    assert_eq!(finding(&r, "provider_429").severity, Severity::Warning);
    assert_eq!(finding(&r, "provider_retries").severity, Severity::Info);
    // Without totals, the per-second series are summed.
    let mut t = healthy_target();
    t.totals.clear();
    set(&mut t, s::PROVIDER_429_PER_S, first(3, 2.0, 0.0));
    let f = finding(&with_server(healthy_client(), t), "provider_429");
    assert_eq!(
        f.evidence,
        "the provider answered 429 (rate limited) 4 times"
    );
}

#[test]
fn breaker_opened_fires_on_any_scrape_not_closed() {
    let mut t = healthy_target();
    let mut v = vec![0.0; 20];
    v[12] = 2.0;
    v[13] = 2.0;
    v[14] = 1.0;
    set(&mut t, s::BREAKER_STATE, v);
    t.totals.insert(tt::PROVIDER_ERRORS.into(), 25.0);
    let f = finding(&with_server(healthy_client(), t), "breaker_opened");
    assert_eq!(
        f.evidence,
        "the provider's circuit breaker was not closed in 3 of 20 scrapes (2 open), first at t=12 s; 25 provider errors in the run"
    );
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.advice.contains("PROVIDER_CB_OPEN_SECONDS"));
}

#[test]
fn breaker_opened_fires_on_its_counter_when_no_scrape_caught_it_open() {
    // Opened and closed again between scrapes: the gauge read 0 each time.
    let mut t = healthy_target();
    t.totals.insert(tt::BREAKER_OPENED.into(), 2.0);
    let f = finding(&with_server(healthy_client(), t), "breaker_opened");
    assert_eq!(
        f.evidence,
        "the provider's circuit breaker opened 2 times; closed again at every scrape"
    );
    // Both: the count first, then the scrapes.
    let mut t = healthy_target();
    let mut v = vec![0.0; 20];
    v[3] = 2.0;
    set(&mut t, s::BREAKER_STATE, v);
    t.totals.insert(tt::BREAKER_OPENED.into(), 1.0);
    let f = finding(&with_server(healthy_client(), t), "breaker_opened");
    assert_eq!(
        f.evidence,
        "the provider's circuit breaker opened 1 time; it was not closed in 1 of 20 scrapes (1 open), first at t=3 s"
    );
    // A count of zero and a closed gauge: nothing.
    let mut t = healthy_target();
    t.totals.insert(tt::BREAKER_OPENED.into(), 0.0);
    assert!(diagnose(&with_server(healthy_client(), t)).is_empty());
}

#[test]
fn hash_backlog_fires_on_a_sustained_queue_or_a_slowdown() {
    let mut t = healthy_target();
    set(&mut t, s::HASH_QUEUE_DEPTH, first(10, 6.0, 0.0));
    let f = finding(&with_server(healthy_client(), t), "hash_backlog");
    assert!(
        f.evidence
            .starts_with("hash queue depth up to 6 (median 6 when queued) in 10 of 20 scrapes"),
        "{}",
        f.evidence
    );
    assert!(f.advice.contains("HASH_CONCURRENCY") && f.advice.contains("ARGON2_"));
    // These clients log in at every turn: logging in once is advice for them.
    assert!(f.advice.contains("--login once"), "{}", f.advice);
    // Clients that log in once per user (5 logins, 240 turns) are not told to.
    let mut t = healthy_target();
    set(&mut t, s::HASH_QUEUE_DEPTH, first(10, 6.0, 0.0));
    let once = {
        let intervals = (0..20)
            .map(|i| Interval {
                vus: 5,
                records: (0..12)
                    .flat_map(|j| {
                        let login = (i == 0 && j < 5).then(|| request("auth", "login", 200, 40));
                        [Some(request("chat", "chat", 200, 350)), login]
                    })
                    .flatten()
                    .collect(),
            })
            .collect();
        report_of(intervals, 1000, &[])
    };
    let f = finding(&with_server(once, t), "hash_backlog");
    assert!(!f.advice.contains("--login once"), "{}", f.advice);
    // A blip in the queue, hashes at their own cost: nothing.
    let mut t = healthy_target();
    set(&mut t, s::HASH_QUEUE_DEPTH, first(2, 3.0, 0.0));
    assert!(diagnose(&with_server(healthy_client(), t)).is_empty());
    // The gauge never caught a queue, but hashes took 5× the quietest
    // interval's time.
    let mut t = healthy_target();
    t.totals.insert(tt::HASH_SECONDS.into(), 240.0 * 0.2);
    let f = finding(&with_server(healthy_client(), t), "hash_backlog");
    assert!(f.evidence.contains("a hash took 200 ms on average, queueing included, against 40 ms in the quietest interval (240 hashes)"), "{}", f.evidence);
    // 2.5×: not yet.
    let mut t = healthy_target();
    t.totals.insert(tt::HASH_SECONDS.into(), 240.0 * 0.1);
    assert!(diagnose(&with_server(healthy_client(), t)).is_empty());
}

#[test]
fn long_tail_long_history_needs_both() {
    // 96% of turns ~200 ms, 4% at 3 s.
    let tail = || {
        let intervals = (0..20)
            .map(|i| {
                let mut records = turns(12, 200, 200);
                if i % 2 == 0 {
                    records.extend(turns(1, 3000, 200).into_iter().take(1));
                }
                Interval { vus: 5, records }
            })
            .collect();
        report_of(intervals, 1000, &[])
    };
    let mut t = healthy_target();
    set(&mut t, s::HISTORY_MESSAGES_MEAN, vec![36.0; 20]);
    let f = finding(&with_server(tail(), t.clone()), "long_tail_long_history");
    assert!(
        f.evidence
            .starts_with("chat p99 2927 ms is 14.6× its p50 200 ms"),
        "{}",
        f.evidence
    );
    assert!(f.evidence.contains("turns carried up to 36.0 history messages on average (CHAT_HISTORY_MAX_MESSAGES is 40)"), "{}", f.evidence);
    assert!(f.advice.contains("CHAT_HISTORY_MAX_MESSAGES"));
    // Short histories: the tail is somebody else's.
    assert!(
        !rules(&with_server(tail(), healthy_target())).contains(&"long_tail_long_history".into())
    );
    // Long histories, no tail.
    assert!(diagnose(&with_server(healthy_client(), t)).is_empty());
}

#[test]
fn model_saturated_reads_the_engine_queue_on_any_endpoint() {
    // The backend's own (in-process mock) gauges.
    let mut t = healthy_target();
    set(&mut t, s::MODEL_RUNNING, vec![32.0; 20]);
    set(&mut t, s::MODEL_WAITING, first(12, 30.0, 0.0));
    let f = finding(&with_server(healthy_client(), t), "model_saturated");
    assert!(
        f.evidence.starts_with(
            "the model's queue held up to 30 requests while 32 ran in its batch, with requests waiting in 12 of 20 scrapes"
        ),
        "{}",
        f.evidence
    );
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.advice.contains("max-num-seqs") && f.advice.contains("CHAT_HISTORY_MAX_MESSAGES"));
    // A scraped vLLM (or mock-llm) beside a backend without the gauges.
    let mut engine = healthy_target();
    engine.url = "http://127.0.0.1:8001/metrics".into();
    engine.series.remove(s::DB_POOL_MAX);
    set(&mut engine, s::MODEL_WAITING, first(5, 3.0, 0.0));
    let mut r = with_server(healthy_client(), healthy_target());
    if let Some(server) = r.server.as_mut() {
        server.targets.push(engine);
    }
    let f = finding(&r, "model_saturated");
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.evidence.ends_with("(http://127.0.0.1:8001/metrics)"),
        "{}",
        f.evidence
    );
    // A blip is not a saturated model.
    let mut t = healthy_target();
    set(&mut t, s::MODEL_WAITING, first(2, 5.0, 0.0));
    assert!(!rules(&with_server(healthy_client(), t)).contains(&"model_saturated".into()));
}
