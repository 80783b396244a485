//! `--segment`, `--execution-segment[-sequence]` and `--start-at` resolved:
//! the shard ([`crate::segment::Shard`]) the schedule runs a share of, the
//! shard's slice of the users file, and the common start.

use super::usage;
use crate::cli::RunArgs;
use crate::exit::Failure;
use crate::segment::{start, Shard};
use crate::users::User;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The shard this run is, if any.
pub(super) fn shard(args: &RunArgs) -> Result<Option<Arc<Shard>>, Failure> {
    let shard = match (&args.segment, &args.execution_segment) {
        (Some(index), _) => {
            Shard::parse_index(index).map_err(|e| usage(format!("--segment {e}")))?
        }
        (None, Some(seg)) => Shard::parse_k6(seg, args.execution_segment_sequence.as_deref())
            .map_err(|e| usage(format!("--execution-segment: {e}")))?,
        (None, None) => return Ok(None),
    };
    Ok(Some(Arc::new(shard)))
}

/// The shard's accounts: the users file striped like the VUs, so no
/// account is used by two shards of the test.
pub(super) fn users(shard: Option<&Shard>, all: Vec<User>) -> Result<Vec<User>, Failure> {
    let Some(shard) = shard else {
        return Ok(all);
    };
    let mine = shard.pick(&all);
    if mine.is_empty() {
        return Err(usage(format!(
            "--segment {}: the users file has {} accounts, too few to give this shard one of its own \
             (seed at least one account per shard, better one per VU)",
            shard.label(),
            all.len()
        )));
    }
    Ok(mine)
}

/// `--start-at`, checked against the clock now.
pub(super) fn start_at(args: &RunArgs) -> Result<Option<DateTime<Utc>>, Failure> {
    args.start_at
        .as_deref()
        .map(|t| start::parse(t, Utc::now()).map_err(|e| usage(format!("--start-at {e}"))))
        .transpose()
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use crate::exit::Failure;
    use crate::plan::{resolve_run, Env, RunPlan};
    use clap::Parser;

    fn resolve(users: &std::path::Path, extra: &[&str]) -> Result<RunPlan, Failure> {
        let users = users.to_string_lossy();
        let mut argv = vec!["loadgen", "run", "--users-file", &users, "--tags", "auth"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).map(|c| c.command) {
            Ok(Command::Run(a)) => resolve_run(&a, &Env::default()),
            other => panic!("{extra:?}: {other:?}"),
        }
    }

    fn users_file(n: usize) -> tempfile::NamedTempFile {
        let users: Vec<_> = (0..n)
            .map(|i| serde_json::json!({"username": format!("u{i}"), "password": "p"}))
            .collect();
        let f = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(f.path(), serde_json::json!({ "users": users }).to_string())
            .expect("write users");
        f
    }

    fn names(p: &RunPlan) -> Vec<String> {
        p.journey.users.iter().map(|u| u.username.clone()).collect()
    }

    #[test]
    fn each_shard_takes_a_disjoint_slice_of_the_accounts() {
        let f = users_file(10);
        let mut seen = Vec::new();
        for i in 1..=4 {
            let seg = format!("{i}/4");
            let p = resolve(
                f.path(),
                &["--vus", "8", "--duration", "1s", "--segment", &seg],
            )
            .expect("plan");
            assert_eq!(p.schedule.max_vus(), 2, "{seg}");
            seen.extend(names(&p));
        }
        seen.sort();
        let mut all: Vec<String> = (0..10).map(|i| format!("u{i}")).collect();
        all.sort();
        assert_eq!(seen, all);
        let whole = resolve(f.path(), &["--vus", "8", "--duration", "1s"]).expect("plan");
        assert_eq!(names(&whole).len(), 10);
        assert!(whole.schedule.segment.is_none());
    }

    #[test]
    fn the_dry_run_names_the_segment_and_the_start() {
        let f = users_file(4);
        let at = (chrono::Utc::now() + chrono::Duration::minutes(5))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let p = resolve(
            f.path(),
            &[
                "--vus",
                "10",
                "--duration",
                "1s",
                "--execution-segment",
                "1/4:2/4",
                "--execution-segment-sequence",
                "0,1/4,2/4,3/4,1",
                "--start-at",
                &at,
            ],
        )
        .expect("plan");
        let text = p.describe();
        assert!(
            text.contains("segment:          1/4:1/2 of 0,1/4,1/2,3/4,1 (shard 2 of 4)"),
            "{text}"
        );
        assert!(text.contains("at most 3 VUs"), "{text}");
        assert!(text.contains("start at:"), "{text}");
    }

    #[test]
    fn bad_segment_flags_are_usage_errors_naming_the_flag() {
        let f = users_file(2);
        let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
        for (flags, why) in [
            (&["--segment", "3/2"][..], "--segment"),
            (&["--segment", "3/4"][..], "too few to give this shard one"),
            (
                &["--execution-segment", "1/2:1/3"][..],
                "--execution-segment",
            ),
            (&["--start-at", "soon"][..], "--start-at"),
            (
                &["--start-at", later.as_str()][..],
                "more than the 3600 s allowed",
            ),
        ] {
            let mut args = vec!["--vus", "4", "--duration", "1s"];
            args.extend_from_slice(flags);
            match resolve(f.path(), &args) {
                Err(Failure::Usage(m)) => assert!(m.contains(why), "{flags:?}: {m}"),
                other => panic!("{flags:?}: {other:?}"),
            }
        }
        let conflict = Cli::try_parse_from([
            "loadgen",
            "run",
            "--segment",
            "1/2",
            "--execution-segment",
            "0:1/2",
        ]);
        assert!(conflict.is_err());
    }
}
