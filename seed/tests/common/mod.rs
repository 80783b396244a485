//! Shared by the seed tool's tests: run the binary with a clean environment.

use std::process::{Command, Output};

/// Runs `seed` with `args` and `env`, with none of the caller's
/// `DATABASE_URL`, `BASE_URL` or `APP_ENV` leaking in.
pub fn seed(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_seed"));
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("BASE_URL")
        .env_remove("APP_ENV");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
