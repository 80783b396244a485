//! `pgtemp [--db NAME] -- COMMAND [ARGS...]`: runs a command against a
//! throwaway Postgres cluster, with `DATABASE_URL` pointing at a fresh
//! database in it, then stops and deletes the cluster. With `DATABASE_URL`
//! already set, it runs the command unchanged against that server.
//!
//! Exits with the command's exit code (or 1 when the command died of a
//! signal), or 125 when Postgres could not be started.

use std::process::{Command, ExitCode};

use pgtemp::TempPostgres;

fn usage() -> ExitCode {
    eprintln!("usage: pgtemp [--db NAME] -- COMMAND [ARGS...]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut db = "chatbench_test".to_owned();
    let mut command = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--db" => match args.next() {
                Some(name) if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                    db = name
                }
                _ => return usage(),
            },
            "--" => {
                command.extend(args.by_ref());
                break;
            }
            "-h" | "--help" => return usage(),
            _ => {
                command.push(a);
                command.extend(args.by_ref());
                break;
            }
        }
    }
    let Some((program, rest)) = command.split_first() else {
        return usage();
    };

    let mut cmd = Command::new(program);
    cmd.args(rest);
    // Keep the cluster alive in this scope; it is removed when we return.
    let _cluster = if std::env::var_os("DATABASE_URL").is_some_and(|v| !v.is_empty()) {
        None
    } else {
        eprintln!("pgtemp: starting a throwaway Postgres cluster");
        let pg = match TempPostgres::start().and_then(|pg| pg.create_database(&db).map(|()| pg)) {
            Ok(pg) => pg,
            Err(e) => {
                eprintln!("pgtemp: {e:#}");
                return ExitCode::from(125);
            }
        };
        eprintln!(
            "pgtemp: Postgres on 127.0.0.1:{} ({}), database {db}",
            pg.port(),
            pg.dir().display()
        );
        cmd.env("DATABASE_URL", pg.url(&db));
        Some(pg)
    };
    match cmd.status() {
        Ok(status) => match status.code() {
            Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            None => ExitCode::FAILURE,
        },
        Err(e) => {
            eprintln!("pgtemp: cannot run {program}: {e}");
            ExitCode::from(127)
        }
    }
}
