//! Human durations as k6 writes them: `45s`, `2m`, `1m30s`, `500ms`, `2h`,
//! `1.5s`. A bare number is refused: a unit is always required, so `30`
//! cannot silently mean seconds to one reader and milliseconds to another.
//! The one exception is a bare `0` (k6's `sleep(0)`, `--think 0`): zero is
//! zero in every unit, so there is nothing to misread.

use std::time::Duration;

/// Parses `1h30m`, `2m`, `45s`, `250ms`, `1.5s`, `0s`, and a bare `0`.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if s.chars().all(|c| c.is_ascii_digit() || c == '.') && s.parse::<f64>() == Ok(0.0) {
        return Ok(Duration::ZERO);
    }
    // Exact decimal arithmetic in nanoseconds: through f64, `17637364.9s`
    // came back as 17637364.899999999 s, so a formatted duration did not
    // parse back to itself (found by the property tests in `fuzz.rs`).
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("duration {input:?} needs a unit (ms, s, m or h)"))?;
        if num_len == 0 {
            return Err(format!("duration {input:?}: expected a number at {rest:?}"));
        }
        let (num, after) = rest.split_at(num_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            other => {
                return Err(format!(
                    "duration {input:?}: unknown unit {other:?} (use ms, s, m or h)"
                ))
            }
        };
        let nanos = scaled(num, unit_nanos)
            .ok_or_else(|| format!("duration {input:?}: {num:?} is not a number"))?;
        total = total.saturating_add(nanos);
        rest = next;
    }
    if total > MAX_NANOS {
        return Err(format!("duration {input:?} is out of range"));
    }
    Ok(Duration::from_nanos(
        u64::try_from(total).unwrap_or(u64::MAX),
    ))
}

/// The longest duration accepted: 10^9 seconds (about 31 years).
const MAX_NANOS: u128 = 1_000_000_000 * 1_000_000_000;

/// `num` (digits with at most one `.`) times `unit_nanos`, rounded to the
/// nearest nanosecond; `None` when `num` is not a number. Saturates far past
/// [`MAX_NANOS`], so a huge value is "out of range", not an overflow.
fn scaled(num: &str, unit_nanos: u128) -> Option<u128> {
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
        return None;
    }
    let digits = |t: &str| -> u128 {
        t.bytes().fold(0u128, |acc, b| {
            acc.saturating_mul(10)
                .saturating_add(u128::from(b.wrapping_sub(b'0')))
        })
    };
    // Past 20 fractional digits a digit is worth under 10^-20 of an hour:
    // far below a nanosecond.
    let frac = frac.get(..frac.len().min(20)).unwrap_or(frac);
    let scale = 10u128.pow(u32::try_from(frac.len()).unwrap_or(20));
    let frac_nanos = (digits(frac) * unit_nanos + scale / 2) / scale;
    Some(
        digits(int)
            .saturating_mul(unit_nanos)
            .saturating_add(frac_nanos),
    )
}

/// Formats a duration the way it is parsed: `2m30s`, `45s`, `500ms`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if ms % 1000 != 0 {
        if ms < 1000 {
            return format!("{ms}ms");
        }
        let secs = format!("{}.{:03}", ms / 1000, ms % 1000);
        return format!("{}s", secs.trim_end_matches('0'));
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// A duration that (de)serializes as a human string in profile files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> serde::Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(HumanDuration)
            .map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for HumanDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k6_style_durations_parse_to_the_expected_length() {
        let cases = [
            ("45s", 45_000),
            ("2m", 120_000),
            ("1m30s", 90_000),
            ("500ms", 500),
            ("2h", 7_200_000),
            ("1.5s", 1_500),
            ("0s", 0),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_duration(text).unwrap(),
                Duration::from_millis(ms),
                "{text}"
            );
        }
    }

    #[test]
    fn a_bare_zero_is_zero_as_k6_sleep_0_is() {
        for zero in ["0", " 0 ", "00", "0.0"] {
            assert_eq!(parse_duration(zero).unwrap(), Duration::ZERO, "{zero:?}");
        }
    }

    #[test]
    fn durations_without_a_known_unit_are_refused_with_a_reason() {
        for bad in ["", "30", "1", "0.5", "10x", "s", "1m30", "-5s", "0m30"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(!err.is_empty(), "{bad}");
        }
    }

    #[test]
    fn formatting_round_trips_through_parsing() {
        for text in ["2m30s", "45s", "500ms", "0s", "2h", "1.5s"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(format_duration(d), text);
        }
    }
}
