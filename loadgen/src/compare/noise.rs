//! The significance tests behind `loadgen compare`: exact, deterministic
//! tail probabilities computed from counts (HDR bucket counts, request and
//! failure counts), so the same two summaries always give the same verdict
//! (no random bootstrap: a CI gate must be reproducible).
//!
//! - [`quantile_shift`]: Mood's quantile test. Both histograms are pooled;
//!   `q` is the pooled p-quantile; each run's values at or below `q`
//!   against above it make a 2x2 table, whose one-sided p-value is Fisher's
//!   exact test (the hypergeometric tail). Under "no change" both runs put
//!   the same share of their values at or below `q`; a slower run puts
//!   fewer. It needs nothing but bucket counts, treats ties exactly (values
//!   in one HDR bucket are equal), and at p = 0.5 it is the classic median
//!   test.
//! - [`proportion_shift`]: Fisher's exact test on failures / requests.
//! - [`rate_shift`]: request counts as Poisson over the two durations; given
//!   their sum, the new run's count is binomial with p = T_new / (T_base +
//!   T_new) (the conditional binomial test).
//!
//! - [`rank_shift`]: the Mann-Whitney test of one figure per interval of
//!   the two runs' time series (a quantile's share above the pooled
//!   quantile, the failure share, the request rate), against noise that
//!   comes in bursts.
//!
//! Every function returns both one-sided p-values: [`Tails::worse`] (the
//! new run is worse: slower, more failures, fewer requests per second) and
//! [`Tails::better`].

use crate::stats::{add_into, new_histogram};
use hdrhistogram::Histogram;

/// One-sided p-values of a comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tails {
    /// P(a result at least this bad | no change).
    pub worse: f64,
    /// P(a result at least this good | no change).
    pub better: f64,
}

impl Tails {
    const NONE: Tails = Tails {
        worse: 1.0,
        better: 1.0,
    };
}

/// Values of `h` at or below `q` (HDR buckets: `q` is a bucket's highest
/// equivalent value, as `value_at_quantile` returns, so "at or below" is
/// exact at bucket granularity).
fn count_at_or_below(h: &Histogram<u64>, q: u64) -> u64 {
    h.iter_recorded()
        .take_while(|v| v.value_iterated_to() <= q)
        .map(|v| v.count_at_value())
        .sum()
}

/// The p-quantile of both histograms pooled (a bucket's highest
/// equivalent value).
pub fn pooled_quantile(base: &Histogram<u64>, new: &Histogram<u64>, p: f64) -> u64 {
    let mut pooled = new_histogram();
    add_into(&mut pooled, base);
    add_into(&mut pooled, new);
    pooled.value_at_quantile(p)
}

/// The share of `h`'s values above `q` (`None` for an empty histogram).
pub fn share_above(h: &Histogram<u64>, q: u64) -> Option<f64> {
    (!h.is_empty()).then(|| 1.0 - count_at_or_below(h, q) as f64 / h.len() as f64)
}

/// Mood's quantile test at quantile `p` (0..1) of `new` against `base`:
/// `worse` is small when `new`'s values sit above the pooled p-quantile
/// more often than `base`'s do.
pub fn quantile_shift(base: &Histogram<u64>, new: &Histogram<u64>, p: f64) -> Tails {
    let (n1, n2) = (base.len(), new.len());
    if n1 == 0 || n2 == 0 {
        return Tails::NONE;
    }
    let q = pooled_quantile(base, new, p);
    let (a, b) = (count_at_or_below(base, q), count_at_or_below(new, q));
    // Draw the new run's n2 values from the pooled N; K are at or below q;
    // b of them landed in the new run.
    let h = Hypergeometric {
        total: n1 + n2,
        marked: a + b,
        draws: n2,
    };
    Tails {
        worse: h.cdf(b),
        better: h.sf(b),
    }
}

/// Fisher's exact test on failure counts: `worse` is small when the new
/// run's failure share is above the base run's more than chance allows.
pub fn proportion_shift(base_fail: u64, base_n: u64, new_fail: u64, new_n: u64) -> Tails {
    if base_n == 0 || new_n == 0 {
        return Tails::NONE;
    }
    let h = Hypergeometric {
        total: base_n + new_n,
        marked: base_fail.min(base_n) + new_fail.min(new_n),
        draws: new_n,
    };
    let x = new_fail.min(new_n);
    Tails {
        worse: h.sf(x),
        better: h.cdf(x),
    }
}

/// The conditional binomial test of two Poisson counts over their
/// durations: `worse` is small when the new run did fewer requests per
/// second than chance allows.
pub fn rate_shift(base_count: u64, base_secs: f64, new_count: u64, new_secs: f64) -> Tails {
    let n = base_count + new_count;
    if n == 0 || base_secs <= 0.0 || new_secs <= 0.0 {
        return Tails::NONE;
    }
    let b = Binomial {
        n,
        p: new_secs / (base_secs + new_secs),
    };
    Tails {
        worse: b.cdf(new_count),
        better: b.sf(new_count),
    }
}

/// The Mann-Whitney rank test of per-interval figures (one value per
/// interval of each run's time series): `worse` is small when the new
/// run's intervals rank above the base run's. Normal approximation with
/// the tie and continuity corrections (intervals are few and their values
/// often tied, e.g. many intervals with no value above a p99).
///
/// Why intervals: requests close in time share the machine's mood (another
/// build, a pause), so a burst of slow requests is one event, not many;
/// counted per request it looks overwhelming, counted per interval it is
/// a few intervals out of many. A change in the code moves every interval.
pub fn rank_shift(base: &[f64], new: &[f64]) -> Tails {
    let (n1, n2) = (base.len() as f64, new.len() as f64);
    if base.is_empty() || new.is_empty() {
        return Tails::NONE;
    }
    let mut all: Vec<(f64, bool)> = base
        .iter()
        .map(|&v| (v, false))
        .chain(new.iter().map(|&v| (v, true)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len();
    let (mut rank_sum_new, mut ties) = (0.0, 0.0);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        let rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_new += rank * all[i..=j].iter().filter(|x| x.1).count() as f64;
        ties += t * t * t - t;
        i = j + 1;
    }
    let nn = n as f64;
    let u = rank_sum_new - n2 * (n2 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let var = n1 * n2 / 12.0 * ((nn + 1.0) - ties / (nn * (nn - 1.0)).max(1.0));
    if var <= 0.0 {
        // Every value tied: nothing moved.
        return Tails::NONE;
    }
    let sd = var.sqrt();
    Tails {
        worse: normal_sf((u - mean - 0.5) / sd),
        better: normal_sf((mean - u - 0.5) / sd),
    }
}

/// P(Z > z) for a standard normal Z (erfc after Numerical Recipes'
/// Chebyshev fit: relative error under 1.2e-7, plenty against 0.01).
fn normal_sf(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.5 * a);
    let poly = -a * a - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    let erfc = if x >= 0.0 { erfc } else { 2.0 - erfc };
    (0.5 * erfc).clamp(0.0, 1.0)
}

/// ln Γ(x) for x >= 0.5 (Lanczos, g = 7, nine coefficients: about 15
/// significant digits, plenty for tail probabilities compared with 0.01).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

fn ln_choose(n: u64, k: u64) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// A discrete distribution on lo..=hi, unimodal, whose successive
/// probability ratios are cheap: tails are summed from the given point
/// away from the mode (terms only shrink there), in O(terms that matter).
trait Discrete {
    fn lo(&self) -> u64;
    fn hi(&self) -> u64;
    fn mode(&self) -> u64;
    fn ln_pmf(&self, k: u64) -> f64;
    /// pmf(k + 1) / pmf(k).
    fn ratio(&self, k: u64) -> f64;

    /// Sum of pmf over k..=hi (upward) or lo..=k (downward), for k on the
    /// far side of the mode in that direction.
    fn sum_away(&self, k: u64, upward: bool) -> f64 {
        let first = self.ln_pmf(k).exp();
        let (mut sum, mut term, mut at) = (first, first, k);
        loop {
            if upward {
                if at >= self.hi() {
                    break;
                }
                term *= self.ratio(at);
                at += 1;
            } else {
                if at <= self.lo() {
                    break;
                }
                at -= 1;
                term /= self.ratio(at);
            }
            sum += term;
            if term <= sum * 1e-17 || !term.is_finite() {
                break;
            }
        }
        sum.min(1.0)
    }

    /// P(X <= k).
    fn cdf(&self, k: u64) -> f64 {
        if k >= self.hi() {
            return 1.0;
        }
        if k < self.lo() {
            return 0.0;
        }
        if k < self.mode() {
            self.sum_away(k, false)
        } else {
            (1.0 - self.sum_away(k + 1, true)).clamp(0.0, 1.0)
        }
    }

    /// P(X >= k).
    fn sf(&self, k: u64) -> f64 {
        if k <= self.lo() {
            return 1.0;
        }
        if k > self.hi() {
            return 0.0;
        }
        if k > self.mode() {
            self.sum_away(k, true)
        } else {
            (1.0 - self.sum_away(k - 1, false)).clamp(0.0, 1.0)
        }
    }
}

/// Draws `draws` of `total` items, `marked` of which are marked: X is the
/// marked ones drawn.
struct Hypergeometric {
    total: u64,
    marked: u64,
    draws: u64,
}

impl Discrete for Hypergeometric {
    fn lo(&self) -> u64 {
        (self.draws + self.marked).saturating_sub(self.total)
    }
    fn hi(&self) -> u64 {
        self.draws.min(self.marked)
    }
    fn mode(&self) -> u64 {
        let m = ((self.draws + 1) as f64 * (self.marked + 1) as f64 / (self.total + 2) as f64)
            .floor() as u64;
        m.clamp(self.lo(), self.hi())
    }
    fn ln_pmf(&self, k: u64) -> f64 {
        ln_choose(self.marked, k) + ln_choose(self.total - self.marked, self.draws - k)
            - ln_choose(self.total, self.draws)
    }
    fn ratio(&self, k: u64) -> f64 {
        let (n, kk, d) = (self.total as f64, self.marked as f64, self.draws as f64);
        let k = k as f64;
        ((kk - k) * (d - k)) / ((k + 1.0) * (n - kk - d + k + 1.0))
    }
}

/// X ~ Binomial(n, p).
struct Binomial {
    n: u64,
    p: f64,
}

impl Discrete for Binomial {
    fn lo(&self) -> u64 {
        0
    }
    fn hi(&self) -> u64 {
        self.n
    }
    fn mode(&self) -> u64 {
        (((self.n + 1) as f64 * self.p).floor() as u64).min(self.n)
    }
    fn ln_pmf(&self, k: u64) -> f64 {
        ln_choose(self.n, k) + k as f64 * self.p.ln() + (self.n - k) as f64 * (-self.p).ln_1p()
    }
    fn ratio(&self, k: u64) -> f64 {
        (self.n - k) as f64 / (k + 1) as f64 * self.p / (1.0 - self.p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::new_histogram;

    /// `n` values per step of a staircase from `lo_ms` to `hi_ms` (an even
    /// spread, deterministic), scaled by `scale`, in µs.
    fn spread(samples: u64, lo_ms: f64, hi_ms: f64, scale: f64) -> Histogram<u64> {
        let mut h = new_histogram();
        for i in 0..samples {
            let f = if samples == 1 {
                0.5
            } else {
                i as f64 / (samples - 1) as f64
            };
            let ms = (lo_ms + f * (hi_ms - lo_ms)) * scale;
            h.record((ms * 1000.0).round() as u64).unwrap();
        }
        h
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut f = 1.0_f64;
        for n in 1..30u32 {
            f *= f64::from(n);
            let got = ln_gamma(f64::from(n) + 1.0);
            assert!((got - f.ln()).abs() < 1e-10 * f.ln().max(1.0), "{n}");
        }
    }

    #[test]
    fn hypergeometric_tails_match_a_hand_computed_table() {
        // 5 of 10 marked, 5 drawn: P(X = 0) = 1/252.
        let h = Hypergeometric {
            total: 10,
            marked: 5,
            draws: 5,
        };
        assert!((h.cdf(0) - 1.0 / 252.0).abs() < 1e-12);
        assert!((h.sf(5) - 1.0 / 252.0).abs() < 1e-12);
        // P(X <= 2) = (1 + 25 + 100) / 252.
        assert!((h.cdf(2) - 126.0 / 252.0).abs() < 1e-12);
        assert!((h.sf(3) - 126.0 / 252.0).abs() < 1e-12);
        assert_eq!((h.cdf(5), h.sf(0)), (1.0, 1.0));
    }

    #[test]
    fn binomial_tails_match_the_exact_sum() {
        let b = Binomial { n: 20, p: 0.3 };
        let exact = |k: u64| -> f64 {
            (0..=k)
                .map(|i| {
                    ln_choose(20, i).exp() * 0.3f64.powi(i as i32) * 0.7f64.powi(20 - i as i32)
                })
                .sum()
        };
        for k in 0..20 {
            assert!((b.cdf(k) - exact(k)).abs() < 1e-12, "cdf {k}");
            if k > 0 {
                assert!((b.sf(k) - (1.0 - exact(k - 1))).abs() < 1e-12, "sf {k}");
            }
        }
    }

    #[test]
    fn identical_histograms_show_nothing() {
        let h = spread(5000, 50.0, 150.0, 1.0);
        for p in [0.5, 0.95, 0.99] {
            let t = quantile_shift(&h, &h, p);
            assert!(t.worse > 0.4 && t.better > 0.4, "{p}: {t:?}");
        }
    }

    #[test]
    fn a_30_percent_shift_with_thousands_of_samples_is_significant_and_slower() {
        let base = spread(3000, 50.0, 150.0, 1.0);
        let new = spread(3000, 50.0, 150.0, 1.3);
        for p in [0.5, 0.95, 0.99] {
            let t = quantile_shift(&base, &new, p);
            assert!(t.worse < 1e-6, "{p}: {t:?}");
            assert!(t.better > 0.99, "{p}: {t:?}");
        }
        // The other way round it is an improvement, never a regression.
        let t = quantile_shift(&new, &base, 0.5);
        assert!(t.better < 1e-6 && t.worse > 0.99, "{t:?}");
    }

    #[test]
    fn a_30_percent_shift_with_5_samples_is_not_significant() {
        let base = spread(5, 60.0, 140.0, 1.0);
        let new = spread(5, 60.0, 140.0, 1.3);
        for p in [0.5, 0.95, 0.99] {
            let t = quantile_shift(&base, &new, p);
            assert!(t.worse > 0.01, "{p}: {t:?}");
        }
    }

    #[test]
    fn a_3_percent_shift_with_a_huge_sample_is_significant_but_small() {
        // Significance alone would flag it; the tolerance band (tested in
        // the compare module) is what keeps it within noise.
        let base = spread(200_000, 50.0, 150.0, 1.0);
        let new = spread(200_000, 50.0, 150.0, 1.03);
        assert!(quantile_shift(&base, &new, 0.5).worse < 1e-6);
    }

    #[test]
    fn failure_shares_are_compared_exactly() {
        // 1% vs 5% of 2000: clearly worse.
        let t = proportion_shift(20, 2000, 100, 2000);
        assert!(t.worse < 1e-9 && t.better > 0.99, "{t:?}");
        // 0 vs 1 failure of 50: nothing to say.
        assert!(proportion_shift(0, 50, 1, 50).worse > 0.4);
        // No failures on either side.
        assert_eq!(proportion_shift(0, 100, 0, 100), Tails::NONE);
    }

    #[test]
    fn request_rates_are_compared_over_their_durations() {
        // Same rate, different durations: nothing.
        let t = rate_shift(1000, 10.0, 2000, 20.0);
        assert!(t.worse > 0.3 && t.better > 0.3, "{t:?}");
        // 1000 vs 800 over the same 10 s: fewer per second.
        let t = rate_shift(1000, 10.0, 800, 10.0);
        assert!(t.worse < 1e-4 && t.better > 0.99, "{t:?}");
        // 10 vs 8: could be chance.
        assert!(rate_shift(10, 10.0, 8, 10.0).worse > 0.1);
    }

    #[test]
    fn the_normal_tail_matches_known_values() {
        for (z, p) in [
            (0.0, 0.5),
            (1.0, 0.158_655_25),
            (2.326_347_87, 0.01),
            (-1.0, 0.841_344_75),
        ] {
            assert!((normal_sf(z) - p).abs() < 1e-6, "{z}: {}", normal_sf(z));
        }
    }

    #[test]
    fn intervals_that_all_moved_are_a_shift_a_burst_in_a_few_is_not() {
        let base: Vec<f64> = (0..10).map(|i| 0.40 + 0.01 * f64::from(i)).collect();
        // Every interval of the new run is slower.
        let moved: Vec<f64> = base.iter().map(|v| v + 0.3).collect();
        let t = rank_shift(&base, &moved);
        assert!(t.worse < 0.001 && t.better > 0.99, "{t:?}");
        assert!(rank_shift(&moved, &base).better < 0.001);
        // Two intervals of ten hit by a noisy neighbour.
        let mut burst = base.clone();
        burst[3] = 0.95;
        burst[4] = 0.97;
        assert!(rank_shift(&base, &burst).worse > 0.1);
        // Everything tied (no value above a p99 in any interval).
        assert_eq!(rank_shift(&[0.0; 8], &[0.0; 8]), Tails::NONE);
        // Three intervals a side can never reach 0.01.
        assert!(rank_shift(&[0.1, 0.2, 0.3], &[0.7, 0.8, 0.9]).worse > 0.01);
    }

    #[test]
    fn huge_counts_stay_finite_and_fast() {
        let t = rate_shift(5_000_000, 600.0, 5_000_000, 600.0);
        assert!(t.worse > 0.4 && t.worse <= 1.0, "{t:?}");
        let t = proportion_shift(50_000, 5_000_000, 60_000, 5_000_000);
        assert!(t.worse < 1e-12, "{t:?}");
    }
}
