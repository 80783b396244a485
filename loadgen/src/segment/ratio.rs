//! Exact fractions for execution segments: `1/4`, `0.25` and `25%` are the
//! same point, as in k6's `--execution-segment` syntax. Kept as reduced
//! `u64` pairs: segment arithmetic must never round (a rounding drift is a
//! VU or an account counted by two shards, or by none).

use std::cmp::Ordering;

/// The largest denominator accepted: the striping pattern repeats every
/// LCD of the segments' denominators and is computed once, element by
/// element, so it must stay small enough to build at start-up.
pub const MAX_DENOMINATOR: u64 = 100_000;

/// A fraction in [0, 1], reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ratio {
    num: u64,
    den: u64,
}

pub(crate) fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Ratio {
    /// 0.
    pub const ZERO: Ratio = Ratio { num: 0, den: 1 };
    /// 1.
    pub const ONE: Ratio = Ratio { num: 1, den: 1 };

    /// `num/den` reduced; `None` for a zero denominator or a value past 1.
    pub fn new(num: u64, den: u64) -> Option<Ratio> {
        if den == 0 || num > den {
            return None;
        }
        let g = gcd(num, den).max(1);
        Some(Ratio {
            num: num / g,
            den: den / g,
        })
    }

    /// Numerator (reduced).
    pub fn num(self) -> u64 {
        self.num
    }

    /// Denominator (reduced).
    pub fn den(self) -> u64 {
        self.den
    }

    /// `self - other` (`None` when negative).
    pub fn minus(self, other: Ratio) -> Option<Ratio> {
        let l = self.den / gcd(self.den, other.den) * other.den;
        let a = self.num * (l / self.den);
        let b = other.num * (l / other.den);
        a.checked_sub(b).and_then(|n| Ratio::new(n, l))
    }

    /// Parses `1/4`, `0.25`, `25%` or `1` (k6's forms).
    pub fn parse(text: &str) -> Result<Ratio, String> {
        let t = text.trim();
        let bad = || format!("{t:?} is not a fraction, decimal or percentage between 0 and 1");
        let r = if let Some(pct) = t.strip_suffix('%') {
            let (n, d) = decimal(pct.trim()).ok_or_else(bad)?;
            Ratio::new(n, d.checked_mul(100).ok_or_else(bad)?)
        } else if let Some((n, d)) = t.split_once('/') {
            let n = n.trim().parse::<u64>().map_err(|_| bad())?;
            let d = d.trim().parse::<u64>().map_err(|_| bad())?;
            Ratio::new(n, d)
        } else {
            let (n, d) = decimal(t).ok_or_else(bad)?;
            Ratio::new(n, d)
        }
        .ok_or_else(bad)?;
        if r.den > MAX_DENOMINATOR {
            return Err(format!(
                "{t:?}: denominator {} is past {MAX_DENOMINATOR} (use a coarser fraction)",
                r.den
            ));
        }
        Ok(r)
    }
}

/// `12.5` as `(125, 10)`; at most 9 decimals.
fn decimal(t: &str) -> Option<(u64, u64)> {
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty() || frac.len() > 9 {
        return None;
    }
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !digits(int) || !digits(frac) {
        return None;
    }
    let den = 10u64.pow(u32::try_from(frac.len()).ok()?);
    let int: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    Some((int.checked_mul(den)?.checked_add(frac)?, den))
}

impl Ord for Ratio {
    fn cmp(&self, other: &Ratio) -> Ordering {
        (u128::from(self.num) * u128::from(other.den))
            .cmp(&(u128::from(other.num) * u128::from(self.den)))
    }
}

impl PartialOrd for Ratio {
    fn partial_cmp(&self, other: &Ratio) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for Ratio {
    /// k6's `RatString`: `0`, `1`, `1/4`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}
