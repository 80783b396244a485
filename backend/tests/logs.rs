//! The `backend` binary's logs: written to a pipe or a file (as
//! `scripts/bench` does), they carry no ANSI colour codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use backend::testing::TestDatabase;

#[tokio::test]
async fn logs_to_a_pipe_have_no_colour_codes() {
    // Dropped with the guard, at the end of the test.
    let db = TestDatabase::create().await.unwrap();
    let url = db.url().to_owned();
    // An empty directory: no `.env` file of the checkout's is read.
    let dir = std::env::temp_dir().join(format!("chatbench-logs-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_backend"))
        .current_dir(&dir)
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .env("APP_ENV", "test")
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("DATABASE_URL", &url)
        .env(
            "SECRET_KEY",
            "test-secret-key-for-chatbench-tests-0123456789",
        )
        .env("LLM_PROVIDER", "mock")
        .env("RETRIEVER_PROVIDER", "mock")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
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
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        let listening = String::from_utf8_lossy(&line).contains("backend listening");
        lines.push(line);
        if listening {
            break;
        }
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    child.wait().unwrap();
    let _ = std::fs::remove_dir(&dir);
    lines.extend(rx.iter());
    let out: Vec<u8> = lines.concat();
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("backend listening"), "{text}");
    assert!(
        !out.contains(&0x1b),
        "ANSI escape in logs written to a pipe: {text:?}"
    );
}
