//! Parsing the backend's metrics text and deriving the series: rates,
//! means, resets, missing metrics, labels.

use super::derive::{fill, Scraped};
use super::parse::{parse, Reading, SumCount};
use crate::server::{series, totals, ScrapeTarget};

/// What the backend's /api/metrics says, abridged, with the counters given.
fn backend_text(
    calls: u64,
    provider_sum: f64,
    chat: (f64, u64),
    cpu: f64,
    checked_out: u32,
) -> String {
    format!(
        r#"# HELP chatbot_db_pool_checked_out Connections in use
# TYPE chatbot_db_pool_checked_out gauge
chatbot_db_pool_checked_out {checked_out}
# TYPE chatbot_db_pool_max gauge
chatbot_db_pool_max 10
# TYPE chatbot_db_pool_size gauge
chatbot_db_pool_size 4
# TYPE chatbot_db_pool_usage_ratio gauge
chatbot_db_pool_usage_ratio {ratio}
# TYPE chatbot_http_requests_in_progress gauge
chatbot_http_requests_in_progress 3
# TYPE chatbot_http_requests_total counter
chatbot_http_requests_total{{method="GET",path="/api/chat/sessions/{{session_id}}",status_code="200"}} 7
# TYPE chatbot_http_request_latency_seconds histogram
chatbot_http_request_latency_seconds_bucket{{method="GET",path="/api/chat/sessions/{{session_id}}",le="+Inf"}} 7
chatbot_http_request_latency_seconds_sum{{method="GET",path="/api/chat/sessions/{{session_id}}"}} 0.7
chatbot_http_request_latency_seconds_count{{method="GET",path="/api/chat/sessions/{{session_id}}"}} 7
chatbot_http_request_latency_seconds_bucket{{method="POST",path="/api/chat/chat",le="0.5"}} 0
chatbot_http_request_latency_seconds_bucket{{method="POST",path="/api/chat/chat",le="+Inf"}} {chat_n}
chatbot_http_request_latency_seconds_sum{{method="POST",path="/api/chat/chat"}} {chat_sum}
chatbot_http_request_latency_seconds_count{{method="POST",path="/api/chat/chat"}} {chat_n}
chatbot_http_request_latency_seconds_bucket{{method="POST",path="/api/auth/login-json",le="+Inf"}} 50
chatbot_http_request_latency_seconds_sum{{method="POST",path="/api/auth/login-json"}} 25
chatbot_http_request_latency_seconds_count{{method="POST",path="/api/auth/login-json"}} 50
# TYPE chatbot_provider_calls_total counter
chatbot_provider_calls_total{{provider="mock"}} {calls}
# TYPE chatbot_provider_latency_seconds histogram
chatbot_provider_latency_seconds_bucket{{provider="mock",le="+Inf"}} {calls}
chatbot_provider_latency_seconds_sum{{provider="mock"}} {provider_sum}
chatbot_provider_latency_seconds_count{{provider="mock"}} {calls}
# TYPE chatbot_provider_circuit_state gauge
chatbot_provider_circuit_state{{provider="a"}} 0
chatbot_provider_circuit_state{{provider="b"}} 2
# TYPE chatbot_password_hash_queue_depth gauge
chatbot_password_hash_queue_depth 5
# TYPE chatbot_password_hash_seconds histogram
chatbot_password_hash_seconds_bucket{{le="+Inf"}} 2
chatbot_password_hash_seconds_sum 0.5
chatbot_password_hash_seconds_count 2
# TYPE chatbot_host_cpus gauge
chatbot_host_cpus 2
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total {cpu}
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 52428800
# TYPE process_open_fds gauge
process_open_fds 31
"#,
        ratio = f64::from(checked_out) / 10.0,
        chat_n = chat.1,
        chat_sum = chat.0,
    )
}

fn at(t_ms: u64, text: &str) -> Scraped {
    Scraped {
        t_ms,
        at_s: t_ms as f64 / 1000.0,
        reading: parse(text).unwrap(),
    }
}

fn derived(scraped: &[Scraped]) -> ScrapeTarget {
    let mut t = ScrapeTarget::default();
    fill(&mut t, scraped);
    t
}

#[test]
fn the_backend_text_gives_gauges_labelled_sums_and_the_worst_breaker() {
    let r = parse(&backend_text(12, 6.0, (3.0, 4), 1.5, 7)).unwrap();
    assert_eq!(r.db_pool_checked_out, Some(7.0));
    assert_eq!(r.db_pool_max, Some(10.0));
    assert_eq!(r.db_pool_size, Some(4.0));
    assert_eq!(r.db_pool_usage_ratio, Some(0.7));
    assert_eq!(r.http_in_flight, Some(3.0));
    // Only the chat routes: login-json and the templated route are left out
    // (the line with `{session_id}` in a label is skipped by the parser, the
    // other lines still read).
    assert_eq!(
        r.chat,
        Some(SumCount {
            sum: 3.0,
            count: 4.0
        })
    );
    assert_eq!(r.provider_calls, Some(12.0));
    assert_eq!(
        r.provider_latency,
        Some(SumCount {
            sum: 6.0,
            count: 12.0
        })
    );
    assert_eq!(r.breaker_state, Some(2.0));
    assert_eq!(r.hash_queue_depth, Some(5.0));
    assert_eq!(
        r.hash,
        Some(SumCount {
            sum: 0.5,
            count: 2.0
        })
    );
    assert_eq!(r.host_cpus, Some(2.0));
    assert_eq!(r.cpu_seconds, Some(1.5));
    assert_eq!(r.rss_bytes, Some(52_428_800.0));
    assert_eq!(r.open_fds, Some(31.0));
    // A backend leaves a labelled counter out until its first event: 0.
    assert_eq!(r.provider_errors, Some(0.0));
    assert_eq!(r.provider_429, Some(0.0));
    assert_eq!(r.rate_limited, Some(0.0));
    // Not in this text and not a counter: unknown.
    assert_eq!(r.history, None);
    assert_eq!(r.hash_in_flight, None);
}

#[test]
fn another_exporter_gives_its_process_metrics_and_nothing_else() {
    let text = "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 3.25\n\
                process_resident_memory_bytes 1.048576e+07\nnode_load1 0.5\n";
    let r = parse(text).unwrap();
    assert_eq!(
        r,
        Reading {
            cpu_seconds: Some(3.25),
            rss_bytes: Some(10_485_760.0),
            ..Reading::default()
        }
    );
}

#[test]
fn text_without_samples_is_not_a_metrics_endpoint() {
    for text in [
        "",
        "<html><body>Not found</body></html>",
        "# HELP x y\n",
        "hello world",
    ] {
        assert!(parse(text).is_err(), "{text:?}");
    }
}

#[test]
fn rates_and_means_come_from_increases_over_the_seconds_between_scrapes() {
    let t = derived(&[
        at(0, &backend_text(0, 0.0, (0.0, 0), 1.0, 0)),
        at(1000, &backend_text(10, 5.0, (6.0, 10), 1.5, 4)),
        at(3000, &backend_text(30, 9.0, (6.0, 10), 3.5, 9)),
    ]);
    assert_eq!(t.t_ms, vec![0, 1000, 3000]);
    let s = |name: &str| {
        t.series
            .get(name)
            .unwrap_or_else(|| panic!("{name}"))
            .clone()
    };
    assert_eq!(
        s(series::PROVIDER_CALLS_PER_S),
        vec![None, Some(10.0), Some(10.0)]
    );
    assert_eq!(
        s(series::PROVIDER_MEAN_MS),
        vec![None, Some(500.0), Some(200.0)]
    );
    // No chat turn between the last two scrapes: no mean, not a zero.
    assert_eq!(s(series::CHAT_MEAN_MS), vec![None, Some(600.0), None]);
    assert_eq!(s(series::CPU_CORES), vec![None, Some(0.5), Some(1.0)]);
    assert_eq!(
        s(series::PROVIDER_ERRORS_PER_S),
        vec![None, Some(0.0), Some(0.0)]
    );
    assert_eq!(
        s(series::DB_POOL_CHECKED_OUT),
        vec![Some(0.0), Some(4.0), Some(9.0)]
    );
    assert_eq!(
        s(series::DB_POOL_USAGE_RATIO),
        vec![Some(0.0), Some(0.4), Some(0.9)]
    );
    assert_eq!(s(series::DB_POOL_MAX), vec![Some(10.0); 3]);
    assert_eq!(s(series::RSS_MIB), vec![Some(50.0); 3]);
    assert_eq!(s(series::HOST_CPUS), vec![Some(2.0); 3]);
    assert_eq!(s(series::BREAKER_STATE), vec![Some(2.0); 3]);
    // Never exported by this text: no column at all.
    assert!(!t.series.contains_key(series::HISTORY_MESSAGES_MEAN));
    assert!(!t.series.contains_key(series::HASH_IN_FLIGHT));
    assert_eq!(t.totals[totals::PROVIDER_CALLS], 30.0);
    assert_eq!(t.totals[totals::PROVIDER_SECONDS], 9.0);
    assert_eq!(t.totals[totals::CHAT_TURNS], 10.0);
    assert_eq!(t.totals[totals::CHAT_SECONDS], 6.0);
    assert_eq!(t.totals[totals::CPU_SECONDS], 2.5);
    assert_eq!(t.totals[totals::PROVIDER_ERRORS], 0.0);
    // The hash histogram did not move.
    assert_eq!(t.totals[totals::HASHES], 0.0);
}

#[test]
fn a_counter_that_goes_down_was_reset_and_never_gives_a_negative_rate() {
    let t = derived(&[
        at(0, &backend_text(100, 50.0, (10.0, 100), 20.0, 0)),
        at(1000, &backend_text(110, 55.0, (11.0, 110), 21.0, 0)),
        // The backend restarted: its counters began again from 0.
        at(2000, &backend_text(4, 1.0, (2.0, 4), 0.5, 0)),
    ]);
    let s = |name: &str| t.series[name].clone();
    assert_eq!(
        s(series::PROVIDER_CALLS_PER_S),
        vec![None, Some(10.0), Some(4.0)]
    );
    assert_eq!(
        s(series::PROVIDER_MEAN_MS),
        vec![None, Some(500.0), Some(250.0)]
    );
    assert_eq!(s(series::CPU_CORES), vec![None, Some(1.0), Some(0.5)]);
    assert_eq!(t.totals[totals::PROVIDER_CALLS], 14.0);
    assert_eq!(t.totals[totals::CHAT_TURNS], 14.0);
    assert_eq!(t.totals[totals::CPU_SECONDS], 1.5);
}

#[test]
fn one_scrape_gives_gauges_but_no_rate_and_no_total() {
    let t = derived(&[at(0, &backend_text(5, 1.0, (1.0, 1), 1.0, 2))]);
    assert_eq!(t.series[series::DB_POOL_CHECKED_OUT], vec![Some(2.0)]);
    assert!(!t.series.contains_key(series::PROVIDER_CALLS_PER_S));
    assert!(t.totals.is_empty(), "{:?}", t.totals);
}

#[test]
fn the_usage_ratio_is_computed_when_the_endpoint_does_not_export_it() {
    let t = derived(&[at(
        0,
        "chatbot_db_pool_checked_out 3\nchatbot_db_pool_max 4\n",
    )]);
    assert_eq!(t.series[series::DB_POOL_USAGE_RATIO], vec![Some(0.75)]);
}

#[test]
fn the_server_block_names_the_peaks_and_the_failures() {
    let mut t = derived(&[
        at(0, &backend_text(0, 0.0, (0.0, 0), 1.0, 0)),
        at(1000, &backend_text(10, 5.0, (6.0, 10), 1.5, 4)),
        at(3000, &backend_text(30, 9.0, (6.0, 10), 3.5, 9)),
    ]);
    t.url = "http://h/api/metrics".into();
    t.scrapes = 4;
    t.failures = 1;
    t.last_error = Some("answered 503".into());
    let text = super::text::render(Some(&crate::server::ServerSeries { targets: vec![t] }));
    assert_eq!(
        text,
        "  server: http://h/api/metrics   scrapes: 3 ok, 1 failed (last error: answered 503)\n    \
         db pool peak usage 0.90 (9/10 checked out)   cpu peak 1.00 of 2 cores   rss peak 50.0 MiB   \
         provider mean 300 ms over 30 calls\n"
    );
    assert_eq!(super::text::render(None), "");
}

#[test]
fn a_long_run_keeps_at_most_the_cap_evenly_and_scrapes_less_often() {
    let mut state = super::State {
        cap: 8,
        ..super::State::default()
    };
    let t0 = tokio::time::Instant::now();
    let reading = |k: u64| parse(&format!("chatbot_db_pool_checked_out {k}\n")).unwrap();
    for k in 0..9 {
        state.record(t0 + std::time::Duration::from_secs(k), Ok(reading(k)));
    }
    // The 9th point thinned them to the baseline and every other one.
    assert_eq!(state.stride, 2);
    assert_eq!(state.scrapes, 9);
    let t = state.target("u", t0);
    assert_eq!(t.t_ms, vec![0, 2000, 4000, 6000, 8000]);
    assert_eq!(
        t.series[series::DB_POOL_CHECKED_OUT],
        vec![Some(0.0), Some(2.0), Some(4.0), Some(6.0), Some(8.0)]
    );
}

#[test]
fn mock_llm_metrics_give_the_upstream_series() {
    let text = |k: u64| {
        format!(
            "# TYPE mock_llm_requests_total counter\n\
             mock_llm_requests_total{{route=\"chat_completions\"}} {}\n\
             mock_llm_requests_total{{route=\"embeddings\"}} 99\n\
             mock_llm_rate_limited_total{{reason=\"rpm\"}} {k}\n\
             mock_llm_rate_limited_total{{reason=\"injected\"}} {k}\n\
             mock_llm_errors_total{{kind=\"error_500\"}} 0\n\
             mock_llm_tokens_total{{kind=\"prompt\"}} 5000\n\
             mock_llm_tokens_total{{kind=\"completion\"}} {}\n",
            10 * k,
            100 * k
        )
    };
    let t = derived(&[at(0, &text(0)), at(2000, &text(4))]);
    assert_eq!(
        t.series[series::UPSTREAM_REQUESTS_PER_S],
        vec![None, Some(20.0)]
    );
    assert_eq!(t.series[series::UPSTREAM_429_PER_S], vec![None, Some(4.0)]);
    assert_eq!(
        t.series[series::UPSTREAM_ERRORS_PER_S],
        vec![None, Some(0.0)]
    );
    assert_eq!(
        t.series[series::UPSTREAM_TOKENS_PER_S],
        vec![None, Some(200.0)]
    );
    assert_eq!(t.totals[totals::UPSTREAM_REQUESTS], 40.0);
    assert_eq!(t.totals[totals::UPSTREAM_429], 8.0);
    // Not the backend: none of its series.
    assert!(!t.series.contains_key(series::PROVIDER_CALLS_PER_S));
}

#[test]
fn a_serving_engines_batch_gauges_are_read_by_their_vllm_names_or_the_backends() {
    let vllm = "# TYPE vllm:num_requests_running gauge\n\
                vllm:num_requests_running{model_name=\"m\"} 32\n\
                # TYPE vllm:num_requests_waiting gauge\n\
                vllm:num_requests_waiting{model_name=\"m\"} 7\n";
    let t = derived(&[at(0, vllm), at(1000, vllm)]);
    assert_eq!(
        t.series[series::MODEL_RUNNING],
        vec![Some(32.0), Some(32.0)]
    );
    assert_eq!(t.series[series::MODEL_WAITING], vec![Some(7.0), Some(7.0)]);
    let backend = "chatbot_mock_llm_requests_running 4\nchatbot_mock_llm_requests_waiting 1\n";
    let t = derived(&[at(0, backend)]);
    assert_eq!(t.series[series::MODEL_WAITING], vec![Some(1.0)]);
    // Neither: no such series.
    let t = derived(&[at(0, "process_open_fds 3\n")]);
    assert!(!t.series.contains_key(series::MODEL_WAITING));
}
