//! Unit tests of plan resolution: conflicting flags, profiles, thresholds
//! and journey steps (kept apart from `plan/mod.rs` to keep it readable).

use super::*;
use crate::cli::{Cli, Command};
use clap::Parser;

fn run_args(extra: &[&str]) -> RunArgs {
    // Without users the journey can only run step `other`; tests that need
    // more pass their own --tags.
    let mut argv = vec!["loadgen", "run", "--users-file", "/nonexistent/users.json"];
    if !extra.contains(&"--tags") {
        argv.extend_from_slice(&["--tags", "other"]);
    }
    argv.extend_from_slice(extra);
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Run(a) => *a,
        _ => unreachable!(),
    }
}

fn resolve(extra: &[&str]) -> Result<RunPlan, Failure> {
    resolve_run(&run_args(extra), &Env::default())
}

fn usage_text(extra: &[&str]) -> String {
    match resolve(extra) {
        Err(Failure::Usage(m)) => m,
        other => panic!("{extra:?}: expected a usage error, got {other:?}"),
    }
}

#[test]
fn a_load_shape_past_the_vus_one_loadgen_runs_is_refused_before_anything_is_built() {
    // 4e9 VUs used to be planned as 4e9 steps (an allocation that aborts).
    for flags in [
        &["--stages", "1s:4000000000"][..],
        &["--vus", "4000000000", "--duration", "1s"][..],
    ] {
        let m = usage_text(flags);
        assert!(
            m.contains("1000000") && m.contains("loadgen merge"),
            "{flags:?}: {m}"
        );
    }
    assert!(resolve(&["--stages", "1s:1000000,1s:0"]).is_ok());
}

#[test]
fn conflicting_shape_flags_are_refused_naming_both_flags() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["--stages", "1s:1", "--vus", "2", "--duration", "1s"],
            "--stages cannot be combined with --vus/--duration",
        ),
        (
            &["--stages", "1s:1", "--profile", "smoke"],
            "--stages cannot be combined with --profile",
        ),
        (
            &["--vus", "2", "--duration", "1s", "--profile", "ramp"],
            "--vus/--duration cannot be combined with --profile",
        ),
        (
            &["--profile", "smoke", "--profile-file", "x.toml"],
            "--profile and --profile-file",
        ),
        (&["--vus", "3"], "--vus needs --duration"),
    ];
    for (flags, expected) in cases {
        let m = usage_text(flags);
        assert!(m.contains(expected), "{flags:?}: {m}");
    }
}

#[test]
fn bad_values_are_refused_with_a_message_naming_the_flag() {
    let cases: [(&[&str], &str); 8] = [
        (&["--profile", "nightly"], "unknown profile \"nightly\""),
        (&["--stages", "1s:x"], "--stages"),
        (&["--duration", "10"], "--duration"),
        (&["--threshold", "http_req_duration p(95)<1"], "--threshold"),
        (&["--base-url", "https://example.test"], "only http://"),
        (&["--tags", "checkout"], "unknown step \"checkout\""),
        (&["--duration", "1s", "--timeout", "0s"], "--timeout"),
        (
            &["--duration", "1s", "--other-probability", "1.5"],
            "outside 0..1",
        ),
    ];
    for (flags, expected) in cases {
        let m = usage_text(flags);
        assert!(m.contains(expected), "{flags:?}: {m}");
    }
}

#[test]
fn the_default_is_the_smoke_profile_with_its_thresholds() {
    let mut a = run_args(&[]);
    a.tags = Some("auth,session,chat".into());
    a.users_file = "defaults/profiles/smoke.toml".into(); // exists but is no users file
    assert!(
        matches!(resolve_run(&a, &Env::default()), Err(Failure::Usage(m)) if m.contains("users file"))
    );
    let plan = resolve(&["--exclude", "other", "--tags", "other"]).err();
    assert!(plan.is_some());
    let plan = resolve(&[]).unwrap();
    assert_eq!(plan.profile, "smoke");
    assert_eq!(plan.schedule.start_vus, 5);
    assert_eq!(
        plan.schedule.stages,
        vec![Stage {
            duration: Duration::from_secs(45),
            target: 5
        }]
    );
    // Only step `other` was selected, so the per-phase thresholds are skipped.
    let shown: Vec<String> = plan.thresholds.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["http_req_failed: rate<0.15"]);
    assert_eq!(plan.skipped_thresholds.len(), 5);
}

#[test]
fn the_latency_profile_picks_the_ramp_thresholds_and_k6_names_are_honoured() {
    let mock = resolve(&["--profile", "ramp", "--tags", "other,chat"]);
    // chat needs auth which needs the users file: refused clearly.
    assert!(matches!(mock, Err(Failure::Usage(m)) if m.contains("users file")));
    let args = run_args(&["--profile", "ramp"]);
    let env = Env {
        k6_latency_profile: Some("live".into()),
        ..Env::default()
    };
    let live = resolve_run(&args, &env).unwrap();
    assert_eq!(live.latency_profile, LatencyProfile::Live);
    let mock = resolve_run(&args, &Env::default()).unwrap();
    assert_eq!(mock.latency_profile, LatencyProfile::Mock);
    let shown: Vec<String> = mock.thresholds.iter().map(ToString::to_string).collect();
    assert!(
        shown.contains(&"http_req_duration: p(95)<1200".to_string()),
        "{shown:?}"
    );
    assert!(
        shown.contains(&"http_req_duration: p(99)<2500".to_string()),
        "{shown:?}"
    );
    assert_eq!(mock.schedule.graceful_ramp_down, Duration::from_secs(30));
    let bad = Env {
        k6_latency_profile: Some("fast".into()),
        ..Env::default()
    };
    assert!(
        matches!(resolve_run(&args, &bad), Err(Failure::Usage(m)) if m.contains("K6_LATENCY_PROFILE"))
    );
    let env = Env {
        k6_allow_non_test: true,
        ..Env::default()
    };
    assert!(resolve_run(&args, &env).unwrap().allow_non_test);
}

#[test]
fn a_cli_threshold_overrides_the_profile_threshold_with_the_same_selector() {
    let plan = resolve(&[
        "--threshold",
        "http_req_failed: rate<0.5",
        "--threshold",
        "http_reqs: count>3",
    ])
    .unwrap();
    let shown: Vec<String> = plan.thresholds.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["http_req_failed: rate<0.5", "http_reqs: count>3"]);
}

#[test]
fn stages_and_constant_vus_become_the_schedule() {
    let plan = resolve(&["--stages", "30s:20,1m:50,30s:0"]).unwrap();
    assert_eq!(plan.profile, "custom");
    assert_eq!(plan.schedule.start_vus, 0);
    assert_eq!(plan.schedule.stages.len(), 3);
    assert!(plan.thresholds.is_empty());
    let plan = resolve(&["--vus", "7", "--duration", "2m"]).unwrap();
    assert_eq!(
        (plan.schedule.start_vus, plan.schedule.stages[0].target),
        (7, 7)
    );
    assert_eq!(
        usage_text(&["--stages", "10s:0"]),
        "the load shape never starts a VU (every target is 0)"
    );
}

#[test]
fn steps_gain_their_prerequisites_unless_those_are_excluded() {
    let s = resolve_steps(&[], Some("chat"), None).unwrap();
    assert!(s.auth && s.chat && !s.session);
    let s = resolve_steps(&[], Some("history"), None).unwrap();
    assert!(s.auth && s.session && s.history);
    let s = resolve_steps(&[], Some("all"), Some("other,list")).unwrap();
    assert!(s.auth && s.session && s.chat && s.history && !s.other && !s.list);
    for (tags, exclude, expected) in [
        ("chat", "auth", "need step auth"),
        ("history", "session", "needs step session"),
        ("other", "other", "no journey step"),
    ] {
        match resolve_steps(&[], Some(tags), Some(exclude)) {
            Err(Failure::Usage(m)) => assert!(m.contains(expected), "{m}"),
            other => panic!("{tags}/{exclude}: {other:?}"),
        }
    }
}

#[test]
fn the_dry_run_description_names_target_stages_vus_and_thresholds() {
    let text = resolve(&[
        "--stages",
        "30s:20,1m:50,30s:0",
        "--threshold",
        "http_req_failed: rate<0.01",
    ])
    .unwrap()
    .describe();
    for expected in [
        "http://127.0.0.1:8000",
        "30s -> 20 VUs",
        "1m -> 50 VUs",
        "max VUs:          50",
        "total duration:   2m",
        "http_req_failed: rate<0.01",
        "app_env test",
    ] {
        assert!(text.contains(expected), "{expected} missing in\n{text}");
    }
}

#[test]
fn hit_accepts_only_http_urls_and_sensible_counts() {
    let hit = |argv: &[&str]| {
        let mut v = vec!["loadgen", "hit"];
        v.extend_from_slice(argv);
        match Cli::try_parse_from(v).unwrap().command {
            Command::Hit(a) => resolve_hit(&a, &Env::default()),
            _ => unreachable!(),
        }
    };
    let p = hit(&["http://127.0.0.1:9/x?y=1", "-c", "3", "-n", "50"]).unwrap();
    assert_eq!(
        (p.path.as_str(), p.connections, p.requests),
        ("/x?y=1", 3, Some(50))
    );
    assert_eq!(
        hit(&["http://127.0.0.1:9/"]).unwrap().duration,
        Duration::from_secs(10)
    );
    for (argv, expected) in [
        (&["https://127.0.0.1/"][..], "only http://"),
        (&["ftp://127.0.0.1/"][..], "only http://"),
        (&["http://127.0.0.1/", "-c", "0"][..], "at least 1"),
        (&["http://127.0.0.1/", "-n", "0"][..], "at least 1"),
        (&["http://127.0.0.1/", "--rate", "0"][..], "positive number"),
        (
            &["http://127.0.0.1/", "--rate", "fast"][..],
            "positive number",
        ),
    ] {
        match hit(argv) {
            Err(Failure::Usage(m)) => assert!(m.contains(expected), "{argv:?}: {m}"),
            other => panic!("{argv:?}: {other:?}"),
        }
    }
}

fn merge(argv: &[&str]) -> Result<MergePlan, Failure> {
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Merge(a) => resolve_merge(a),
        _ => unreachable!(),
    }
}

#[test]
fn merge_refuses_a_single_input_before_reading_its_other_flags() {
    match merge(&["loadgen", "merge", "a.json", "--threshold", "nonsense"]) {
        Err(Failure::Usage(m)) => assert!(m.contains("two or more"), "{m}"),
        other => panic!("expected a usage error, got {other:?}"),
    }
}

#[test]
fn merge_resolves_its_flags_into_typed_options() {
    let plan = merge(&[
        "loadgen",
        "merge",
        "a.json",
        "b.json",
        "--profile",
        "ramp",
        "--latency-profile",
        "live",
        "--threshold",
        "http_req_failed: rate<0.5",
        "--out",
        "merged",
    ])
    .unwrap();
    assert_eq!(
        plan.files,
        [PathBuf::from("a.json"), PathBuf::from("b.json")]
    );
    assert_eq!(plan.options.latency_profile, Some(LatencyProfile::Live));
    assert_eq!(
        plan.options.profile.as_ref().map(|p| p.name.as_str()),
        Some("ramp")
    );
    assert_eq!(plan.options.overrides.len(), 1);
    assert_eq!(plan.output.out, Some(PathBuf::from("merged")));
    assert!(matches!(plan.output.live, LiveMode::Off));
    assert!(!plan.output.dry_run);
}

#[test]
fn dashboard_defaults_to_k6s_loopback_port_and_takes_an_address() {
    let addr = |extra: &[&str]| resolve(extra).unwrap().dashboard.map(|a| a.to_string());
    assert_eq!(addr(&[]), None);
    assert_eq!(addr(&["--dashboard"]).as_deref(), Some("127.0.0.1:5665"));
    // A flag right after it is not taken for its address.
    assert_eq!(
        addr(&["--dashboard", "--seed", "1"]).as_deref(),
        Some("127.0.0.1:5665")
    );
    assert_eq!(
        addr(&["--dashboard", "0.0.0.0:8080"]).as_deref(),
        Some("0.0.0.0:8080")
    );
    assert_eq!(
        addr(&["--dashboard=127.0.0.1:0"]).as_deref(),
        Some("127.0.0.1:0")
    );
    for bad in ["localhost", "127.0.0.1", "127.0.0.1:99999"] {
        let m = usage_text(&["--dashboard", bad]);
        assert!(
            m.starts_with(&format!("--dashboard {bad}: expected an address")),
            "{m}"
        );
    }
}

#[test]
fn a_web_form_resolves_as_the_same_run_command_line() {
    let users = std::path::Path::new("/nonexistent/users.json");
    let form = |vus: &str, duration: &str, stages: &str| RunForm {
        target: "http://127.0.0.1:9".into(),
        vus: vus.into(),
        duration: duration.into(),
        stages: stages.into(),
        ..RunForm::default()
    };
    let message = |f: &RunForm| match resolve_form(f, users, &Env::default()) {
        Err(Failure::Usage(m)) => m,
        other => panic!("expected a usage error, got {other:?}"),
    };
    // The same checks and messages as the flags.
    assert_eq!(
        message(&form("2", "1s", "1s:1")),
        usage_text(&[
            "--tags",
            "auth",
            "--vus",
            "2",
            "--duration",
            "1s",
            "--stages",
            "1s:1"
        ])
    );
    assert!(message(&form("many", "1s", "")).contains("invalid value 'many' for '--vus"));
    assert!(message(&RunForm::default()).starts_with("target: a base URL is required"));
    // A good form is a quiet run; the guard's override is the form's box.
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("users.json");
    std::fs::write(&fixture, r#"{"users":[{"username":"u","password":"p"}]}"#).unwrap();
    let mut f = form("3", "2s", "");
    let plan = resolve_form(&f, &fixture, &Env::default()).unwrap();
    assert_eq!(plan.target.display(), "http://127.0.0.1:9");
    assert_eq!(plan.profile, "custom");
    assert_eq!(
        plan.schedule.stages,
        vec![Stage {
            duration: Duration::from_secs(2),
            target: 3
        }]
    );
    assert_eq!(plan.output.live, LiveMode::Off);
    assert!(!plan.allow_non_test);
    f.allow_non_test_backend = true;
    assert!(
        resolve_form(&f, &fixture, &Env::default())
            .unwrap()
            .allow_non_test
    );
}
