//! Execution segments (k6's semantics): `loadgen run --segment 2/4`, or
//! k6's `--execution-segment 1/4:2/4` with an optional
//! `--execution-segment-sequence 0,1/4,2/4,3/4,1`, makes this process one
//! shard of a larger test. The shard runs its exact share of everything
//! countable, chosen by the striping of [`stripe`]:
//!
//! - closed model: at every step of the whole test's VU ramp, the shard
//!   runs its share of that step's VU count ([`Shard::share_steps`]), so at
//!   every moment the shards' VUs add up to the whole test's;
//! - open model: arrival `k` of the whole test's schedule runs in the shard
//!   that owns index `k` ([`Shard::owns`]); `--pre-allocated-vus` and
//!   `--max-vus` are shared like VU counts;
//! - accounts: the users file is striped the same way ([`Shard::pick`]), so
//!   no account is used by two shards; VU `i` of a shard takes the shard's
//!   account `i % n`.
//!
//! Shards of one test must use the same sequence (`--segment i/N` with the
//! same N does). `--start-at` ([`start`]) holds a shard until a common start.

mod ratio;
pub mod start;
mod stripe;

pub use ratio::Ratio;

use crate::scheduler::Step;

/// The most segments in a sequence (each is a pattern to compute).
pub const MAX_SEGMENTS: u64 = 1_000;

/// This process's segment of the test, with the striping of its sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// Start of the segment (exclusive).
    pub from: Ratio,
    /// End of the segment (inclusive).
    pub to: Ratio,
    /// The full sequence of points, 0 first and 1 last.
    pub sequence: Vec<Ratio>,
    /// 0-based position of the segment in the sequence.
    pub position: usize,
    /// The length of the striping pattern.
    lcd: u64,
    /// The offsets in `0..lcd` this segment owns, ascending.
    owned: Vec<u64>,
}

/// What summary.json records about the segment (`segment`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SegmentInfo {
    /// `from:to`, k6's form (`1/4:1/2`); for a merge, the union of the inputs'.
    pub segment: String,
    /// The full sequence, k6's form (`0,1/4,1/2,3/4,1`).
    pub sequence: String,
    /// 1-based position in the sequence (`--segment INDEX/COUNT`); absent
    /// for a merge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Segments in the sequence; for a merge, the shards merged.
    pub count: usize,
}

impl Shard {
    /// `--segment INDEX/COUNT`: the INDEX-th (1-based) of COUNT equal segments.
    pub fn parse_index(text: &str) -> Result<Shard, String> {
        let bad = || {
            format!("{text:?} is not INDEX/COUNT with 1 <= INDEX <= COUNT (e.g. 2/4: the second of four shards)")
        };
        let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let i: u64 = i.trim().parse().map_err(|_| bad())?;
        let n: u64 = n.trim().parse().map_err(|_| bad())?;
        if i == 0 || i > n {
            return Err(bad());
        }
        if n > MAX_SEGMENTS {
            return Err(format!("{text:?}: at most {MAX_SEGMENTS} shards"));
        }
        let points: Vec<Ratio> = (0..=n).filter_map(|k| Ratio::new(k, n)).collect();
        Shard::build(points, usize::try_from(i - 1).map_err(|_| bad())?)
    }

    /// `--execution-segment FROM:TO` (or `TO`, from 0) with an optional
    /// `--execution-segment-sequence P0,P1,...`. Without a sequence the
    /// segment is filled around with the rest of 0..1, as k6 does; shards
    /// of one test then stripe alike only if they give the same sequence.
    pub fn parse_k6(segment: &str, sequence: Option<&str>) -> Result<Shard, String> {
        let (from, to) = match segment.split_once(':') {
            Some((f, t)) => (Ratio::parse(f)?, Ratio::parse(t)?),
            None => (Ratio::ZERO, Ratio::parse(segment)?),
        };
        if from >= to {
            return Err(format!(
                "{segment:?}: the start {from} must be below the end {to}"
            ));
        }
        let mut points = match sequence {
            Some(seq) => {
                let points = seq
                    .split(',')
                    .map(Ratio::parse)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("--execution-segment-sequence: {e}"))?;
                if points.len() < 2 {
                    return Err("--execution-segment-sequence needs at least 2 points".into());
                }
                if points.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(format!(
                        "--execution-segment-sequence {seq:?}: the points must increase"
                    ));
                }
                points
            }
            None => vec![from, to],
        };
        if points.first() != Some(&Ratio::ZERO) {
            points.insert(0, Ratio::ZERO);
        }
        if points.last() != Some(&Ratio::ONE) {
            points.push(Ratio::ONE);
        }
        if points.len() as u64 > MAX_SEGMENTS + 1 {
            return Err(format!("at most {MAX_SEGMENTS} segments in a sequence"));
        }
        let position = points
            .windows(2)
            .position(|w| w[0] == from && w[1] == to)
            .ok_or_else(|| {
                format!(
                    "the segment {from}:{to} is not one of the sequence's {}",
                    join(&points)
                )
            })?;
        Shard::build(points, position)
    }

    fn build(sequence: Vec<Ratio>, position: usize) -> Result<Shard, String> {
        let lcd = sequence
            .iter()
            .fold(1u64, |acc, p| acc / ratio::gcd(acc, p.den()) * p.den());
        if lcd > ratio::MAX_DENOMINATOR {
            return Err(format!(
                "the sequence {} repeats only every {lcd} indexes, past {} (use coarser fractions)",
                join(&sequence),
                ratio::MAX_DENOMINATOR
            ));
        }
        let (lcd, mut stripes) = stripe::stripes(&sequence);
        let owned = stripes
            .get_mut(position)
            .map(std::mem::take)
            .ok_or_else(|| "the segment is not in its sequence".to_string())?;
        Ok(Shard {
            from: sequence[position],
            to: sequence[position + 1],
            sequence,
            position,
            lcd,
            owned,
        })
    }

    /// This shard's share of a whole count `v` (VUs): the owned indexes
    /// below `v`. The shares of a sequence's segments add up to `v`.
    pub fn scale(&self, v: u64) -> u64 {
        let full = v / self.lcd * self.owned.len() as u64;
        let rest = v % self.lcd;
        full + self.owned.partition_point(|o| *o < rest) as u64
    }

    /// [`Shard::scale`] of a VU count.
    pub fn scale_u32(&self, v: u32) -> u32 {
        u32::try_from(self.scale(u64::from(v))).unwrap_or(v)
    }

    /// Whether index `k` (an arrival, an account) is this shard's.
    pub fn owns(&self, k: u64) -> bool {
        self.owned.binary_search(&(k % self.lcd)).is_ok()
    }

    /// The items whose index this shard owns, in order.
    pub fn pick<T: Clone>(&self, items: &[T]) -> Vec<T> {
        items
            .iter()
            .zip(0u64..)
            .filter(|(_, k)| self.owns(*k))
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// The whole test's VU steps reduced to this shard's: its share of each
    /// step's count, a step kept only where the share changes (the first,
    /// at 0, always).
    pub fn share_steps(&self, steps: Vec<Step>) -> Vec<Step> {
        let mut out: Vec<Step> = Vec::with_capacity(steps.len());
        for s in steps {
            let vus = self.scale_u32(s.vus);
            if out.last().is_none_or(|l| l.vus != vus) {
                out.push(Step { at: s.at, vus });
            }
        }
        out
    }

    /// `from:to`, k6's form.
    pub fn label(&self) -> String {
        format!("{}:{}", self.from, self.to)
    }

    /// The summary's record of it.
    pub fn info(&self) -> SegmentInfo {
        SegmentInfo {
            segment: self.label(),
            sequence: join(&self.sequence),
            index: Some(self.position + 1),
            count: self.sequence.len() - 1,
        }
    }
}

/// `0,1/4,1/2`.
pub fn join(points: &[Ratio]) -> String {
    points
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The summary's line about a segment.
pub fn describe(info: &SegmentInfo) -> String {
    match info.index {
        Some(i) => format!(
            "segment: {} of {} (shard {i} of {})",
            info.segment, info.sequence, info.count
        ),
        None => format!(
            "segment: {} ({} shards merged{})",
            info.segment,
            info.count,
            if info.segment == "0:1" {
                ": the whole test"
            } else {
                ""
            }
        ),
    }
}

/// A VU count shared by `shard` (the whole count without one).
pub fn share(shard: Option<&Shard>, v: u32) -> u32 {
    shard.map_or(v, |s| s.scale_u32(v))
}

#[cfg(test)]
mod tests;
