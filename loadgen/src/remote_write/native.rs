//! An HDR histogram (microseconds) as a Prometheus native histogram
//! (seconds): each HDR bucket's count goes to the exponential bucket that
//! holds its value. Schema 3 (8 buckets per power of two, ~9% wide) is
//! finer than most dashboards need and keeps a latency histogram at a few
//! dozen buckets; Prometheus can lower the resolution, never raise it.

use super::proto::{BucketSpan, Histogram};
use std::collections::BTreeMap;

/// Buckets per power of two: 2^SCHEMA.
pub const SCHEMA: i32 = 3;

/// The index of the schema-[`SCHEMA`] bucket holding `v` (> 0):
/// the smallest `i` with `v <= 2^(i / 2^SCHEMA)`.
pub fn bucket_index(v: f64) -> i32 {
    let scaled = v.log2() * f64::from(1 << SCHEMA);
    let mut i = scaled.ceil() as i32;
    // log2 rounding: keep the bucket's bounds exact at its edges.
    let upper = |i: i32| 2f64.powf(f64::from(i) / f64::from(1 << SCHEMA));
    if v > upper(i) {
        i += 1;
    } else if i > i32::MIN && v <= upper(i - 1) {
        i -= 1;
    }
    i
}

/// `h` (values in `unit_per_second` units, e.g. 1e6 for microseconds) as
/// a native histogram stamped `timestamp` (ms).
pub fn from_hdr(
    h: &hdrhistogram::Histogram<u64>,
    unit_per_second: f64,
    timestamp: i64,
) -> Histogram {
    let mut buckets: BTreeMap<i32, u64> = BTreeMap::new();
    let mut zero = 0u64;
    for v in h.iter_recorded() {
        let value = h.median_equivalent(v.value_iterated_to()) as f64 / unit_per_second;
        let n = v.count_at_value();
        if value <= 0.0 {
            zero += n;
        } else {
            *buckets.entry(bucket_index(value)).or_default() += n;
        }
    }
    let mut spans: Vec<BucketSpan> = Vec::new();
    let mut deltas = Vec::with_capacity(buckets.len());
    let (mut prev_index, mut prev_count): (Option<i32>, i64) = (None, 0);
    for (&index, &count) in &buckets {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        match (prev_index, spans.last_mut()) {
            (Some(p), Some(span)) if index == p + 1 => span.length += 1,
            (Some(p), _) => spans.push(BucketSpan {
                offset: index - p - 1,
                length: 1,
            }),
            (None, _) => spans.push(BucketSpan {
                offset: index,
                length: 1,
            }),
        }
        deltas.push(count - prev_count);
        prev_index = Some(index);
        prev_count = count;
    }
    Histogram {
        count_int: h.len(),
        sum: h.mean() * h.len() as f64 / unit_per_second,
        schema: SCHEMA,
        zero_threshold: 0.0,
        zero_count_int: zero,
        positive_spans: spans,
        positive_deltas: deltas,
        reset_hint: 2,
        timestamp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_bounds_are_exact_at_powers_of_two() {
        // Bucket 0 is (2^-1/8, 1], bucket 8 is (2^7/8, 2].
        assert_eq!(bucket_index(1.0), 0);
        assert_eq!(bucket_index(1.0001), 1);
        assert_eq!(bucket_index(2.0), 8);
        assert_eq!(bucket_index(0.5), -8);
        assert_eq!(bucket_index(0.25), -16);
    }

    #[test]
    fn counts_land_in_their_buckets_as_spans_and_deltas() {
        let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
        // 1 ms x3, 2 ms x1 (one power of two apart: 8 buckets), 0 x2.
        for v in [1000, 1000, 1000, 2000, 0, 0] {
            h.record(v).unwrap();
        }
        let n = from_hdr(&h, 1e6, 7);
        assert_eq!((n.count_int, n.zero_count_int), (6, 2));
        // One span of one bucket (1 ms), then 7 empty buckets (a power of
        // two is 8 of them), then the 2 ms bucket.
        assert_eq!(
            n.positive_spans,
            [
                BucketSpan {
                    offset: bucket_index(0.001),
                    length: 1
                },
                BucketSpan {
                    offset: 7,
                    length: 1
                },
            ]
        );
        assert_eq!(n.positive_deltas, [3, -2]);
        assert_eq!((n.schema, n.timestamp, n.reset_hint), (SCHEMA, 7, 2));
        assert!((n.sum - 0.005).abs() < 0.00001, "sum {}", n.sum);
    }
}
