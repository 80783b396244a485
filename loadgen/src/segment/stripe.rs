//! The striping of a segment sequence: which indexes (VUs, arrivals,
//! accounts) belong to which segment.
//!
//! k6's algorithm, re-implemented from its description in grafana/k6
//! `lib/execution_segment.go` (`NewExecutionSegmentSequenceWrapper`,
//! `ExecutionTuple.ScaleInt64`): bring every segment's length to the
//! sequence's least common denominator `lcd`, so segment `s` owns `n_s` of
//! every `lcd` consecutive indexes; then hand out the indexes `0..lcd` in
//! order, each to the first segment (largest first, ties in sequence order)
//! that has not yet taken its proportional share up to that index, i.e.
//! whose count of taken indexes `c` satisfies `c * lcd <= i * n_s`. The
//! pattern repeats every `lcd` indexes. This spreads each segment's indexes
//! as evenly as the counts allow, and it makes scaling exact and monotone:
//! the share of any whole count `v` is the number of owned indexes below
//! `v`, so the shares of all segments add up to `v` for every `v` (no
//! rounding drift) and a share never drops when `v` grows (a ramp never
//! stops a shard's VU to start another shard's).

use super::ratio::{gcd, Ratio};

/// The offsets in `0..lcd` owned by each segment of `points` (a full
/// sequence `0 = p_0 < p_1 < ... < p_k = 1`), and the `lcd`.
pub fn stripes(points: &[Ratio]) -> (u64, Vec<Vec<u64>>) {
    let lengths: Vec<Ratio> = points
        .windows(2)
        .map(|w| w[1].minus(w[0]).unwrap_or(Ratio::ZERO))
        .collect();
    let lcd = lengths
        .iter()
        .fold(1u64, |acc, l| acc / gcd(acc, l.den()) * l.den());
    let shares: Vec<u64> = lengths.iter().map(|l| l.num() * (lcd / l.den())).collect();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    // Stable: equal shares keep their order in the sequence.
    order.sort_by(|a, b| shares[*b].cmp(&shares[*a]));
    let mut taken = vec![0u64; shares.len()];
    let mut owned: Vec<Vec<u64>> = shares
        .iter()
        .map(|n| Vec::with_capacity(usize::try_from(*n).unwrap_or(0)))
        .collect();
    for i in 0..lcd {
        let owner = order.iter().copied().find(|&s| {
            u128::from(taken[s]) * u128::from(lcd) <= u128::from(i) * u128::from(shares[s])
                && taken[s] < shares[s]
        });
        // The shares add up to `lcd`, so some segment is always behind its
        // share; the fallback (the largest) is never reached.
        let s = owner.unwrap_or(order[0]);
        taken[s] += 1;
        owned[s].push(i);
    }
    (lcd, owned)
}
