//! `--start-at TIME` (RFC 3339): shards started at different moments (pods
//! scheduled one by one, images pulled) hold until one common wall-clock
//! start, so their time series line up when `loadgen merge` adds them by
//! offset. Bounded both ways: a start more than [`MAX_AHEAD`] away is
//! refused (a typo in the date, or a clock far off, would otherwise hold a
//! pod for days), and a start already past begins at once with a note.

use chrono::{DateTime, Utc};
use std::time::Duration;

/// The furthest ahead a start may be.
pub const MAX_AHEAD: Duration = Duration::from_secs(3600);

/// Parses `--start-at` and checks it against `now`.
pub fn parse(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let at = DateTime::parse_from_rfc3339(text.trim())
        .map_err(|e| format!("{text:?} is not an RFC 3339 time such as 2026-11-27T09:30:00Z: {e}"))?
        .with_timezone(&Utc);
    let ahead = (at - now).to_std().unwrap_or_default();
    if ahead > MAX_AHEAD {
        return Err(format!(
            "{text} is {} s from now, more than the {} s allowed (check the date and this machine's clock)",
            ahead.as_secs(),
            MAX_AHEAD.as_secs()
        ));
    }
    Ok(at)
}

/// How long to hold before `at`, seen at `now` (zero once it has passed),
/// and the note to print when it has.
pub fn hold(at: DateTime<Utc>, now: DateTime<Utc>) -> (Duration, Option<String>) {
    match (at - now).to_std() {
        Ok(d) => (d, None),
        Err(_) => (
            Duration::ZERO,
            Some(format!(
                "--start-at {} passed {:.1} s ago: starting now",
                at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                (now - at).num_milliseconds() as f64 / 1000.0
            )),
        ),
    }
}
