//! The shards' execution segments when merging: shards that overlap would
//! count a share of the test twice (refused, exit 2, naming both files);
//! shards that leave a gap give that share of the test only (a note); the
//! merged summary records the union.

use super::read::{bad, Input};
use crate::exit::Failure;
use crate::segment::{Ratio, SegmentInfo};

fn bounds(i: &Input, info: &SegmentInfo) -> Result<(Ratio, Ratio), Failure> {
    let parsed = info
        .segment
        .split_once(':')
        .map(|(f, t)| (Ratio::parse(f), Ratio::parse(t)));
    match parsed {
        Some((Ok(f), Ok(t))) if f < t => Ok((f, t)),
        _ => Err(bad(
            &i.path,
            format!("segment {:?} is not FROM:TO", info.segment),
        )),
    }
}

/// The merged summary's segment: `None` when no input is a shard.
pub(super) fn union(inputs: &[Input]) -> Result<Option<SegmentInfo>, Failure> {
    if let [one] = inputs {
        return Ok(one.segment.clone());
    }
    let shards: Vec<(&Input, &SegmentInfo)> = inputs
        .iter()
        .filter_map(|i| i.segment.as_ref().map(|s| (i, s)))
        .collect();
    if shards.is_empty() {
        return Ok(None);
    }
    if shards.len() < inputs.len() {
        eprintln!(
            "loadgen: note: some inputs are shards (--segment) and some whole runs: merged as given, no segment recorded"
        );
        return Ok(None);
    }
    let mut spans = shards
        .iter()
        .map(|(i, s)| bounds(i, s).map(|b| (b, *i)))
        .collect::<Result<Vec<_>, _>>()?;
    spans.sort_by_key(|s| s.0 .0);
    for w in spans.windows(2) {
        let ((_, end), first) = w[0];
        let ((start, _), second) = w[1];
        if start < end {
            return Err(bad(
                &second.path,
                format!(
                    "its segment overlaps that of {} (a shard given twice, or shards of different sequences): \
                     that share of the test would be counted twice",
                    first.path.display()
                ),
            ));
        }
    }
    // Adjacent spans joined; what remains apart is listed.
    let mut joined: Vec<(Ratio, Ratio)> = Vec::new();
    for ((from, to), _) in &spans {
        match joined.last_mut() {
            Some(last) if last.1 == *from => last.1 = *to,
            _ => joined.push((*from, *to)),
        }
    }
    let label = joined
        .iter()
        .map(|(f, t)| format!("{f}:{t}"))
        .collect::<Vec<_>>()
        .join(",");
    if joined != [(Ratio::ZERO, Ratio::ONE)] {
        eprintln!(
            "loadgen: note: the shards cover {label} of the test, not all of it: the merged figures are that share"
        );
    }
    let first = &shards[0].1.sequence;
    let sequence = if shards.iter().all(|(_, s)| &s.sequence == first) {
        first.clone()
    } else {
        eprintln!("loadgen: note: the shards used different segment sequences: their shares may not add up exactly");
        String::new()
    };
    Ok(Some(SegmentInfo {
        segment: label,
        sequence,
        index: None,
        count: shards.len(),
    }))
}
