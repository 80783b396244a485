//! The engine against a counting server: request counts equal the server's,
//! percentiles match known server delays, stages ramp the concurrency the
//! server sees, and a lowered stage lets in-flight iterations finish.

#![allow(clippy::unwrap_used)]

mod common;

use common::{counting_server, hit_plan, run_plan, Behaviour};
use loadgen::stats::{StatusClass, Summary};
use std::sync::atomic::Ordering;
use std::time::Duration;

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hit_with_a_request_count_sends_exactly_that_many_and_records_every_one() {
    let (addr, seen) = counting_server(Behaviour::default()).await;
    let url = format!("http://{addr}/work");
    let report = loadgen::app::hit(hit_plan(&[&url, "-c", "4", "-n", "300"])).await;
    let agg = &report.aggregate;
    assert_eq!(seen.arrived.load(Ordering::SeqCst), 300);
    assert_eq!(seen.answered.load(Ordering::SeqCst), 300);
    assert_eq!(agg.total_requests(), 300);
    assert_eq!(agg.failed_requests(), 0);
    assert_eq!(agg.iterations.len(), 300);
    let only: Vec<StatusClass> = agg.requests.keys().map(|k| k.class).collect();
    assert_eq!(only, [StatusClass::Success]);
    assert_eq!(report.vus_max, 4);
    assert!(seen.max_in_flight.load(Ordering::SeqCst) <= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hit_for_a_duration_records_every_answered_request_and_only_those() {
    let b = Behaviour {
        delay: Duration::from_millis(2),
        ..Behaviour::default()
    };
    let (addr, seen) = counting_server(b).await;
    let url = format!("http://{addr}/work");
    let report = loadgen::app::hit(hit_plan(&[&url, "-c", "3", "-d", "700ms"])).await;
    let recorded = report.aggregate.total_requests();
    let arrived = seen.arrived.load(Ordering::SeqCst);
    // Requests still in flight at the deadline are dropped, not recorded
    // (as wrk and oha do): at most one per connection.
    assert!(recorded > 50, "recorded {recorded}");
    assert!(
        recorded <= arrived && arrived <= recorded + 3,
        "recorded {recorded}, server saw {arrived}"
    );
    assert!(
        report.duration >= Duration::from_millis(700) && report.duration < Duration::from_secs(3)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_are_counted_on_the_wire_headers_included() {
    let b = Behaviour {
        body_len: 1000,
        ..Behaviour::default()
    };
    let (addr, _) = counting_server(b).await;
    let url = format!("http://{addr}/work");
    let report = loadgen::app::hit(hit_plan(&[&url, "-c", "1", "-n", "10"])).await;
    let (sent, received) = report.aggregate.bytes();
    // Each response is the 1000-byte body plus a status line and headers;
    // each request a request line plus a Host header.
    assert!(
        (10 * 1_050..10 * 1_300).contains(&received),
        "received {received}"
    );
    assert!((10 * 30..10 * 200).contains(&sent), "sent {sent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percentiles_match_a_known_server_delay() {
    let b = Behaviour {
        delay: Duration::from_millis(20),
        ..Behaviour::default()
    };
    let (addr, _) = counting_server(b).await;
    let url = format!("http://{addr}/work");
    let report = loadgen::app::hit(hit_plan(&[&url, "-c", "2", "-n", "60"])).await;
    let (d, w) = report.aggregate.merged_where(|_| true);
    let (d, w) = (Summary::of(&d), Summary::of(&w));
    assert_eq!(d.count, 60);
    assert!(ms(d.min) >= 19.9, "min {}", ms(d.min));
    assert!((20.0..=28.0).contains(&ms(d.med)), "p50 {}", ms(d.med));
    // Headers come after the delay too: waiting is nearly all of the duration.
    assert!(
        (20.0..=28.0).contains(&ms(w.med)),
        "waiting p50 {}",
        ms(w.med)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_tenth_of_requests_shows_in_the_tail_percentiles_and_not_the_median() {
    let b = Behaviour {
        delay: Duration::from_millis(5),
        slow_every: 10,
        slow_delay: Duration::from_millis(80),
        ..Behaviour::default()
    };
    let (addr, _) = counting_server(b).await;
    let url = format!("http://{addr}/work");
    let report = loadgen::app::hit(hit_plan(&[&url, "-c", "1", "-n", "100"])).await;
    let (d, _) = report.aggregate.merged_where(|_| true);
    let s = Summary::of(&d);
    // p90 sits on the boundary between the fast 90% and the slow 10%, so
    // the tests look at p80 and p95, either side of it.
    let p80 = ms(d.value_at_quantile(0.80));
    assert!((5.0..=12.0).contains(&ms(s.med)), "p50 {}", ms(s.med));
    assert!(p80 < 20.0, "p80 {p80}");
    assert!((80.0..=110.0).contains(&ms(s.p95)), "p95 {}", ms(s.p95));
    // An average would say ~12.5 ms: percentiles are not averaged.
    assert!(
        (11.0..=22.0).contains(&ms(s.avg.round() as u64)),
        "avg {}",
        s.avg
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_ramp_the_concurrency_the_server_sees_as_planned() {
    let b = Behaviour {
        delay: Duration::from_millis(40),
        ..Behaviour::default()
    };
    let (addr, seen) = counting_server(b).await;
    let base = format!("http://{addr}");
    let plan = run_plan(&[
        "--base-url",
        &base,
        "--stages",
        "800ms:4,800ms:4,400ms:0",
        "--tags",
        "other",
        "--other-probability",
        "1",
        "--think",
        "0s",
        "--graceful-ramp-down",
        "1s",
        "--graceful-stop",
        "1s",
        "--guard-interval",
        "10s",
    ]);
    // The journey's `other` step picks one of health/stats/metrics; point all
    // three at the counting endpoint.
    let mut plan = plan;
    for o in &mut plan.journey.paths.other {
        o.path = "/health".into();
    }
    let report = loadgen::app::run(plan).await.unwrap();
    assert_eq!(seen.max_in_flight.load(Ordering::SeqCst), 4);
    assert_eq!(report.vus_max, 4);
    assert_eq!(report.aggregate.failed_requests(), 0);
    assert_eq!(
        report.aggregate.total_requests(),
        seen.answered.load(Ordering::SeqCst)
    );
    // Arrival times count from the first request, which VU 1 sends when
    // the ramp reaches 1 (at 200 ms). The next 600 ms run 1, 2, then 3 VUs
    // (2 on average); from 700 ms on (900 ms into the run) all 4 hold.
    let arrivals = seen.arrivals_ms.lock().unwrap().clone();
    let window = |from: u64, to: u64| arrivals.iter().filter(|t| (from..to).contains(t)).count();
    let (ramp, hold) = (window(0, 600), window(700, 1300));
    assert!(hold as f64 > 1.5 * ramp as f64, "ramp {ramp}, hold {hold}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vu_retired_by_a_lower_stage_finishes_its_iteration_within_the_grace() {
    let b = Behaviour {
        delay: Duration::from_millis(300),
        ..Behaviour::default()
    };
    let (addr, seen) = counting_server(b).await;
    let base = format!("http://{addr}");
    let mut plan = run_plan(&[
        "--base-url",
        &base,
        "--stages",
        "0s:3,450ms:3,10ms:0",
        "--tags",
        "other",
        "--other-probability",
        "1",
        "--think",
        "0s",
        "--graceful-ramp-down",
        "2s",
    ]);
    for o in &mut plan.journey.paths.other {
        o.path = "/health".into();
    }
    let report = loadgen::app::run(plan).await.unwrap();
    // Each VU was mid-request when the stage dropped to 0; all were let
    // finish, so every request the server took was answered and recorded.
    let answered = seen.answered.load(Ordering::SeqCst);
    assert_eq!(answered, 6, "two 300 ms requests per VU");
    assert_eq!(report.aggregate.total_requests(), answered);
    assert_eq!(report.aggregate.failed_requests(), 0);
    assert_eq!(report.aggregate.iterations.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_grace_a_lowered_stage_interrupts_and_records_nothing_made_up() {
    let b = Behaviour {
        delay: Duration::from_millis(300),
        ..Behaviour::default()
    };
    let (addr, seen) = counting_server(b).await;
    let base = format!("http://{addr}");
    let mut plan = run_plan(&[
        "--base-url",
        &base,
        "--stages",
        "0s:2,450ms:2,10ms:0",
        "--tags",
        "other",
        "--other-probability",
        "1",
        "--think",
        "0s",
        "--graceful-ramp-down",
        "0s",
    ]);
    for o in &mut plan.journey.paths.other {
        o.path = "/health".into();
    }
    let report = loadgen::app::run(plan).await.unwrap();
    // First requests (0-300 ms) complete; second ones are cut at ~455 ms.
    assert_eq!(seen.arrived.load(Ordering::SeqCst), 4);
    assert_eq!(report.aggregate.total_requests(), 2);
    assert_eq!(report.aggregate.failed_requests(), 0);
    assert!(
        report.duration < Duration::from_millis(900),
        "{:?}",
        report.duration
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_model_rate_sends_the_asked_number_of_requests_per_second() {
    let (addr, seen) = counting_server(Behaviour::default()).await;
    let url = format!("http://{addr}/work");
    let report =
        loadgen::app::hit(hit_plan(&[&url, "-c", "2", "-d", "1s", "--rate", "100/s"])).await;
    let sent = seen.arrived.load(Ordering::SeqCst);
    assert!(
        (90..=102).contains(&sent),
        "asked 100 in 1 s, server saw {sent}"
    );
    // As with -d in the closed model, a request in flight at the deadline
    // is dropped unrecorded: at most one per connection.
    let recorded = report.aggregate.total_requests();
    let answered = seen.answered.load(Ordering::SeqCst);
    assert!(
        recorded <= answered && answered <= recorded + 2,
        "recorded {recorded}, answered {answered}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_model_counts_latency_from_the_scheduled_send_time() {
    // One connection, a 50 ms server, 100 requests/s asked: the server can
    // only take 20/s, so requests queue and their latency grows well past
    // the 50 ms service time; a closed-model measure would say ~50 ms.
    let b = Behaviour {
        delay: Duration::from_millis(50),
        ..Behaviour::default()
    };
    let (addr, _) = counting_server(b).await;
    let url = format!("http://{addr}/work");
    let report = loadgen::app::hit(hit_plan(&[&url, "-c", "1", "-n", "15", "--rate", "100"])).await;
    let (d, w) = report.aggregate.merged_where(|_| true);
    let (d, w) = (Summary::of(&d), Summary::of(&w));
    assert_eq!(d.count, 15);
    assert!(
        ms(d.min) >= 49.0 && ms(d.min) < 70.0,
        "first request: {}",
        ms(d.min)
    );
    // The 15th was due at 140 ms and sent at ~700 ms: ~610 ms of latency.
    assert!(ms(d.max) > 500.0, "max {}", ms(d.max));
    assert!(ms(d.med) > 200.0, "p50 {}", ms(d.med));
    assert!(ms(w.max) > 500.0, "waiting max {}", ms(w.max));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_model_that_falls_behind_counts_the_sends_it_never_made() {
    // One connection, a 50 ms server, 100 requests/s for 1 s: about 20 can
    // be made; the sends due before the deadline but never made are
    // dropped_iterations, so made + dropped (+ the one in flight at the
    // end) is the 100 the schedule asked for.
    let b = Behaviour {
        delay: Duration::from_millis(50),
        ..Behaviour::default()
    };
    let (addr, seen) = counting_server(b).await;
    let url = format!("http://{addr}/work");
    let report =
        loadgen::app::hit(hit_plan(&[&url, "-c", "1", "-d", "1s", "--rate", "100/s"])).await;
    let sent = seen.arrived.load(Ordering::SeqCst);
    let dropped = report.aggregate.dropped_iterations;
    assert!((15..=25).contains(&sent), "sent {sent}");
    assert!(
        (98..=101).contains(&(sent + dropped)),
        "sent {sent} + dropped {dropped}: the schedule asked for 100"
    );
    let t = loadgen::threshold::parse("dropped_iterations: count<1").unwrap();
    assert!(!loadgen::threshold::evaluate(&t, &report.aggregate, report.duration).passed);
    // Keeping up: nothing dropped.
    let (addr, _) = counting_server(Behaviour::default()).await;
    let url = format!("http://{addr}/work");
    let report =
        loadgen::app::hit(hit_plan(&[&url, "-c", "2", "-d", "1s", "--rate", "50/s"])).await;
    assert_eq!(report.aggregate.dropped_iterations, 0);
    // With -n the budget ends the sends: what is left is not owed.
    let b = Behaviour {
        delay: Duration::from_millis(50),
        ..Behaviour::default()
    };
    let (addr, _) = counting_server(b).await;
    let url = format!("http://{addr}/work");
    let report = loadgen::app::hit(hit_plan(&[&url, "-c", "1", "-n", "5", "--rate", "100"])).await;
    assert_eq!(report.aggregate.dropped_iterations, 0);
}
