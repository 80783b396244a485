//! `--prometheus-rw URL`, `--prometheus-rw-native`, `--tag NAME=VALUE`:
//! resolved into [`crate::remote_write::Config`].

use super::{usage, Failure};
use crate::cli::RunArgs;
use crate::remote_write::Config;
use crate::scrape::Endpoint;

/// Labels loadgen sets itself: a `--tag` may not take them.
const RESERVED: [&str; 7] = [
    "phase", "endpoint", "status", "check", "result", "le", "shard",
];

/// The writer's settings, or `None` without `--prometheus-rw`. `shard`
/// names this process among the shards of one run (its execution segment,
/// `0:1` for a whole test).
pub fn resolve(args: &RunArgs, shard: &str) -> Result<Option<Config>, Failure> {
    // Empty (compose passes K6_PROMETHEUS_RW_SERVER_URL= when unset): none.
    let Some(url) = args
        .prometheus_rw
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    else {
        return Ok(None);
    };
    let endpoint =
        Endpoint::parse(url, true).map_err(|e| usage(format!("--prometheus-rw: {e}")))?;
    let mut labels = vec![("shard".to_string(), shard.to_string())];
    for tag in &args.rw_tags {
        let (name, value) = tag
            .split_once('=')
            .ok_or_else(|| usage(format!("--tag {tag:?}: expected NAME=VALUE")))?;
        if !is_label_name(name) || name.starts_with("__") {
            return Err(usage(format!(
                "--tag {tag:?}: {name:?} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
            )));
        }
        if RESERVED.contains(&name) {
            return Err(usage(format!(
                "--tag {tag:?}: loadgen sets the label {name:?} itself"
            )));
        }
        if labels.iter().any(|(n, _)| n == name) {
            return Err(usage(format!("--tag {name}: given twice")));
        }
        labels.push((name.to_string(), value.to_string()));
    }
    labels.sort();
    Ok(Some(Config {
        endpoint,
        labels,
        native: args.prometheus_rw_native,
    }))
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
