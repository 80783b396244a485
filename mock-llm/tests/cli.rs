//! The `mock-llm` binary's contract: `--help` lists every flag with its
//! variable, a bad flag or variable exits 2 naming it, an empty variable is
//! unset, an address that cannot be bound exits 1, SIGTERM exits 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn mock_llm(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mock-llm"));
    cmd.args(args).env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    mock_llm(args, env).output().expect("mock-llm runs")
}

#[test]
fn help_lists_every_variable_and_exits_0() {
    let out = run(&["--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "BIND_ADDR",
        "MOCK_LLM_MODEL",
        "MOCK_LLM_SEED",
        "MOCK_LLM_TTFT_MS",
        "MOCK_LLM_ITL_MS",
        "MOCK_LLM_JITTER",
        "MOCK_LLM_TOKENS",
        "MOCK_LLM_RPM",
        "MOCK_LLM_TPM",
        "MOCK_LLM_ERROR_RATE",
        "MOCK_LLM_429_RATE",
        "MOCK_LLM_HANG_RATE",
        "MOCK_LLM_HANG_MS",
        "MOCK_LLM_MIDSTREAM_ERROR_RATE",
        "MOCK_LLM_CUT_RATE",
        "MOCK_LLM_EMBEDDING_DIM",
        "MOCK_LLM_PROFILE",
        "MOCK_LLM_PREFILL_US_PER_TOKEN",
        "MOCK_LLM_MAX_NUM_SEQS",
        "MOCK_LLM_MAX_WAITING",
        "MOCK_LLM_LOAD_FACTOR",
        "MOCK_LLM_TOKENS_SPREAD",
    ] {
        assert!(help.contains(&format!("[env: {var}=")), "{var}: {help}");
    }
}

#[test]
fn a_bad_flag_or_variable_exits_2_naming_it() {
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        (&["--jitter", "2"], &[], "--jitter"),
        (&["--frobnicate"], &[], "--frobnicate"),
        (&[], &[("MOCK_LLM_JITTER", "2")], "MOCK_LLM_JITTER"),
        (&[], &[("MOCK_LLM_HANG_MS", "600001")], "MOCK_LLM_HANG_MS"),
    ];
    for (args, env, name) in cases {
        let out = run(args, env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(name), "{args:?} {env:?}: {stderr}");
    }
}

#[test]
fn an_address_in_use_exits_1_and_an_empty_variable_is_unset() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    // `MOCK_LLM_JITTER=` would not parse as a number: it must be skipped,
    // so start-up gets as far as binding.
    let out = run(
        &["--bind", &addr],
        &[("MOCK_LLM_JITTER", ""), ("MOCK_LLM_MODEL", "")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot bind"), "{stderr}");
}

#[test]
fn sigterm_stops_it_cleanly_with_0() {
    let mut child = mock_llm(&["--bind", "127.0.0.1:0"], &[("RUST_LOG", "info")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the start-up line (it carries `addr=`), then signal.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("addr=") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("mock-llm logs its address");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0));
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("mock-llm did not stop within 10 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    // Without the NO_COLOR the other tests set: a pipe alone must do.
    let mut child = mock_llm(&["--bind", "127.0.0.1:0"], &[("RUST_LOG", "info")])
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("mock-llm logs its start-up line");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    child.wait().unwrap();
    let out: Vec<u8> = std::iter::once(first)
        .chain(rx.iter())
        .collect::<Vec<_>>()
        .concat();
    let text = String::from_utf8_lossy(&out);
    assert!(!out.is_empty());
    assert!(
        !out.contains(&0x1b),
        "ANSI escape in logs written to a pipe: {text:?}"
    );
}

#[test]
fn list_profiles_prints_every_profile_and_a_bad_name_lists_the_valid_ones() {
    let out = run(&["--list-profiles"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let list = String::from_utf8_lossy(&out.stdout);
    let names = [
        "default",
        "8b-h100",
        "70b-h100-tp8",
        "small-cpu",
        "azure-gpt-4o-mini",
    ];
    for name in names {
        assert!(list.contains(name), "{name}: {list}");
    }
    assert!(list.contains("MOCK_LLM_PREFILL_US_PER_TOKEN=200"), "{list}");
    for (args, env, blamed) in [
        (&["--profile", "gpt-9"][..], &[][..], "--profile"),
        (
            &[][..],
            &[("MOCK_LLM_PROFILE", "gpt-9")][..],
            "MOCK_LLM_PROFILE",
        ),
    ] {
        let out = run(args, env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(blamed), "{stderr}");
        for name in names {
            assert!(stderr.contains(name), "{name}: {stderr}");
        }
    }
}
