//! The segment arithmetic: exact shares for every count and shard count,
//! k6's documented striping, the flag forms, `--start-at`'s bounds.

use super::*;
use crate::scheduler::{self, Stage};
use std::time::Duration;

fn shards(n: u64) -> Vec<Shard> {
    (1..=n)
        .map(|i| Shard::parse_index(&format!("{i}/{n}")).expect("valid segment"))
        .collect()
}

#[test]
fn shares_of_every_vu_count_add_up_exactly_over_one_to_eight_shards() {
    for n in 1..=8 {
        let all = shards(n);
        for vus in 1..=100u64 {
            let shares: Vec<u64> = all.iter().map(|s| s.scale(vus)).collect();
            assert_eq!(
                shares.iter().sum::<u64>(),
                vus,
                "{vus} VUs over {n}: {shares:?}"
            );
            // As even as integers allow.
            let (lo, hi) = (shares.iter().min(), shares.iter().max());
            assert!(
                hi.zip(lo).is_some_and(|(h, l)| h - l <= 1),
                "{vus} over {n}: {shares:?}"
            );
        }
    }
}

#[test]
fn a_share_never_drops_when_the_whole_count_grows() {
    for n in 1..=8 {
        for s in shards(n) {
            for v in 0..200 {
                assert!(s.scale(v + 1) >= s.scale(v), "{} at {v}", s.label());
            }
        }
    }
}

#[test]
fn every_index_belongs_to_exactly_one_shard() {
    for n in 1..=8 {
        let all = shards(n);
        for k in 0..1000 {
            assert_eq!(
                all.iter().filter(|s| s.owns(k)).count(),
                1,
                "index {k} of {n}"
            );
        }
    }
}

#[test]
fn unequal_sequences_share_exactly_too() {
    let sequences = [
        "0,1/3,2/3,1",
        "0,1/2,3/4,1",
        "0,3/5,1",
        "0,0.1,0.35,0.6,1",
        "0,10%,20%,70%,1",
        "0,1/7,2/5,1/2,9/10,1",
    ];
    for seq in sequences {
        let points: Vec<&str> = seq.split(',').collect();
        let all: Vec<Shard> = points
            .windows(2)
            .map(|w| Shard::parse_k6(&format!("{}:{}", w[0], w[1]), Some(seq)).expect(seq))
            .collect();
        for v in 0..500 {
            let sum: u64 = all.iter().map(|s| s.scale(v)).sum();
            assert_eq!(sum, v, "{seq} at {v}");
        }
        for k in 0..500 {
            assert_eq!(
                all.iter().filter(|s| s.owns(k)).count(),
                1,
                "{seq}: index {k}"
            );
        }
        // Each segment owns exactly its length's share of a whole period.
        for s in &all {
            let len = s.to.minus(s.from).expect("positive length");
            let v = 4200 * 7 * 3;
            assert_eq!(
                s.scale(v) * len.den(),
                v * len.num(),
                "{seq}: {}",
                s.label()
            );
        }
    }
}

#[test]
fn the_striping_is_k6s_documented_example() {
    // grafana/k6 lib/execution_segment.go, the ExecutionTuple comment:
    // 0:1/2 takes 0 2 4 6 ..., 1/2:3/4 takes 1 5 9 ..., 3/4:1 takes 3 7 11 ...
    let seq = "0,1/2,3/4,1";
    let s: Vec<Shard> = ["0:1/2", "1/2:3/4", "3/4:1"]
        .iter()
        .map(|g| Shard::parse_k6(g, Some(seq)).expect(g))
        .collect();
    let owned = |sh: &Shard| (0..12).filter(|k| sh.owns(*k)).collect::<Vec<u64>>();
    assert_eq!(owned(&s[0]), vec![0, 2, 4, 6, 8, 10]);
    assert_eq!(owned(&s[1]), vec![1, 5, 9]);
    assert_eq!(owned(&s[2]), vec![3, 7, 11]);
    let scaled = |sh: &Shard| (1..=12).map(|v| sh.scale(v)).collect::<Vec<u64>>();
    assert_eq!(scaled(&s[0]), vec![1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]);
    assert_eq!(scaled(&s[1]), vec![0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3]);
    assert_eq!(scaled(&s[2]), vec![0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3]);
}

#[test]
fn the_k6_forms_and_the_index_form_name_the_same_segment() {
    let seq = "0,1/4,1/2,3/4,1";
    let by_index = Shard::parse_index("2/4").expect("index form");
    for form in ["1/4:2/4", "25%:50%", "0.25:0.5", "1/4:1/2"] {
        assert_eq!(
            Shard::parse_k6(form, Some(seq)).expect(form),
            by_index,
            "{form}"
        );
    }
    assert_eq!(by_index.label(), "1/4:1/2");
    assert_eq!(by_index.info().sequence, seq);
    assert_eq!((by_index.info().index, by_index.info().count), (Some(2), 4));
    // No colon: from 0, as k6.
    let first = Shard::parse_k6("1/4", None).expect("to only");
    assert_eq!(first.label(), "0:1/4");
    assert_eq!(crate::segment::join(&first.sequence), "0,1/4,1");
}

#[test]
fn bad_segments_are_refused_with_the_reason() {
    for (index, why) in [
        ("0/4", "INDEX/COUNT"),
        ("5/4", "INDEX/COUNT"),
        ("2", "INDEX/COUNT"),
        ("a/b", "INDEX/COUNT"),
        ("1/100000", "at most"),
    ] {
        let e = Shard::parse_index(index).expect_err(index);
        assert!(e.contains(why), "{index}: {e}");
    }
    for (seg, seq, why) in [
        ("1/2:1/4", None, "must be below"),
        ("1/4:1/2", Some("0,1/3,1"), "not one of the sequence"),
        ("0:1/2", Some("0,1/2,1/4,1"), "must increase"),
        ("0:3/2", None, "between 0 and 1"),
        ("0:x", None, "not a fraction"),
    ] {
        let e = Shard::parse_k6(seg, seq).expect_err(seg);
        assert!(e.contains(why), "{seg} {seq:?}: {e}");
    }
}

#[test]
fn the_shards_vu_steps_add_up_to_the_whole_ramp_at_every_moment() {
    let stages = [
        Stage {
            duration: Duration::from_secs(10),
            target: 37,
        },
        Stage {
            duration: Duration::from_secs(5),
            target: 37,
        },
        Stage {
            duration: Duration::from_secs(7),
            target: 3,
        },
    ];
    let whole = scheduler::steps(2, &stages);
    for n in [2, 3, 4, 7] {
        let parts: Vec<Vec<scheduler::Step>> = shards(n)
            .iter()
            .map(|s| s.share_steps(whole.clone()))
            .collect();
        let at = |steps: &[scheduler::Step], t: Duration| {
            steps
                .iter()
                .take_while(|s| s.at <= t)
                .last()
                .map_or(0, |s| s.vus)
        };
        for w in &whole {
            let sum: u32 = parts.iter().map(|p| at(p, w.at)).sum();
            assert_eq!(sum, at(&whole, w.at), "{n} shards at {:?}", w.at);
        }
    }
}

#[test]
fn accounts_are_split_without_overlap_or_loss() {
    let users: Vec<u32> = (0..10).collect();
    let parts: Vec<Vec<u32>> = shards(4).iter().map(|s| s.pick(&users)).collect();
    let mut all: Vec<u32> = parts.concat();
    all.sort_unstable();
    assert_eq!(all, users);
    assert_eq!(
        parts.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![3, 3, 2, 2]
    );
}

#[test]
fn start_at_is_bounded_and_a_past_start_begins_now() {
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-27T09:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let soon = start::parse("2026-11-27T09:00:30Z", now).expect("30 s ahead");
    assert_eq!(start::hold(soon, now), (Duration::from_secs(30), None));
    let e = start::parse("2026-11-27T10:00:01Z", now).expect_err("past an hour");
    assert!(e.contains("3601 s from now"), "{e}");
    assert!(start::parse("tomorrow", now)
        .expect_err("not a time")
        .contains("RFC 3339"));
    let past = start::parse("2026-11-27T08:59:58+00:00", now).expect("a past start");
    let (d, note) = start::hold(past, now);
    assert_eq!(d, Duration::ZERO);
    assert!(note.is_some_and(|n| n.contains("passed 2.0 s ago")));
}
