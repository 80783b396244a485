//! Reads the few fields a journey step checks (`csrf_token`, `id`,
//! `assistant_message.content`) straight out of a response body, without
//! building the whole document as a `serde_json::Value`.
//!
//! The profile of the journey showed parsing replies into `Value` (every
//! key and string allocated, the login's token twice) as the largest item
//! of its own code. Here a `DeserializeSeed` walks the dotted paths as the
//! parser meets them: members off every path are skipped (validated, not
//! kept), and only a path's end is built as a `Value`. The paths mean what
//! [`super::vu::lookup`] gives them (object keys, array indices); a body
//! that is not JSON yields nothing, as before.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// The values at `paths` (dotted) in `body`, in order; `None` where a path
/// is absent or the body is not JSON.
pub fn extract<const N: usize>(body: &[u8], paths: [&str; N]) -> [Option<Value>; N] {
    let mut out: [Option<Value>; N] = std::array::from_fn(|_| None);
    let split: Vec<Vec<&str>> = paths.iter().map(|p| p.split('.').collect()).collect();
    let wanted: Vec<(usize, &[&str])> = split
        .iter()
        .enumerate()
        .map(|(i, p)| (i, p.as_slice()))
        .collect();
    let mut de = serde_json::Deserializer::from_slice(body);
    let seed = Seek {
        wanted: &wanted,
        depth: 0,
        out: &mut out,
    };
    if seed.deserialize(&mut de).is_err() || de.end().is_err() {
        // Not JSON (or trailing garbage): nothing, as a failed parse to
        // `Value` gave before.
        return std::array::from_fn(|_| None);
    }
    out
}

/// A member's key, read as the paths that go through it.
struct Key<'p> {
    wanted: &'p [(usize, &'p [&'p str])],
    depth: usize,
}

impl<'de, 'p> DeserializeSeed<'de> for Key<'p> {
    type Value = Vec<(usize, &'p [&'p str])>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'p> Visitor<'_> for Key<'p> {
    type Value = Vec<(usize, &'p [&'p str])>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self
            .wanted
            .iter()
            .filter(|(_, p)| p.get(self.depth) == Some(&key))
            .copied()
            .collect())
    }
}

/// Looks for `wanted` paths (index into `out`, components) below `depth`.
struct Seek<'p, 'o, const N: usize> {
    wanted: &'p [(usize, &'p [&'p str])],
    depth: usize,
    out: &'o mut [Option<Value>; N],
}

impl<'de, const N: usize> DeserializeSeed<'de> for Seek<'_, '_, N> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        // A path that ends here takes the whole value (then the other paths
        // below it are read from that value).
        let ends: Vec<usize> = self
            .wanted
            .iter()
            .filter(|(_, p)| p.len() == self.depth)
            .map(|(i, _)| *i)
            .collect();
        if !ends.is_empty() {
            let v = <Value as serde::Deserialize>::deserialize(d)?;
            for (i, p) in self.wanted {
                if let Some(found) = lookup_parts(&v, p.get(self.depth..).unwrap_or_default()) {
                    if let Some(slot) = self.out.get_mut(*i) {
                        *slot = Some(found.clone());
                    }
                }
            }
            return Ok(());
        }
        d.deserialize_any(self)
    }
}

fn lookup_parts<'v>(value: &'v Value, parts: &[&str]) -> Option<&'v Value> {
    parts.iter().try_fold(value, |v, key| match v {
        Value::Object(m) => m.get(*key),
        Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

impl<'de, const N: usize> Visitor<'de> for Seek<'_, '_, N> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // The key is compared where the parser holds it: no allocation.
        while let Some(below) = map.next_key_seed(Key {
            wanted: self.wanted,
            depth: self.depth,
        })? {
            if below.is_empty() {
                map.next_value::<IgnoredAny>()?;
            } else {
                map.next_value_seed(Seek {
                    wanted: &below,
                    depth: self.depth + 1,
                    out: &mut *self.out,
                })?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            let below: Vec<(usize, &[&str])> = self
                .wanted
                .iter()
                .filter(|(_, p)| {
                    p.get(self.depth)
                        .and_then(|k| k.parse::<usize>().ok())
                        .is_some_and(|i| i == index)
                })
                .copied()
                .collect();
            let more = if below.is_empty() {
                seq.next_element::<IgnoredAny>()?.is_some()
            } else {
                seq.next_element_seed(Seek {
                    wanted: &below,
                    depth: self.depth + 1,
                    out: &mut *self.out,
                })?
                .is_some()
            };
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }

    // Scalars: no path goes below them.
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_paths_are_read_as_a_full_parse_would() {
        let body = json!({
            "csrf_token": "c", "access_token": "t\"x",
            "assistant_message": {"content": "hi", "metadata": {"sources": [1, 2]}},
            "items": [{"id": 7}, {"id": 8}], "n": null
        });
        let bytes = body.to_string().into_bytes();
        let paths = [
            "csrf_token",
            "access_token",
            "assistant_message.content",
            "items.1.id",
            "assistant_message.metadata",
            "assistant_message.missing",
            "n",
            "csrf_token.deeper",
        ];
        let got = extract(&bytes, paths);
        for (p, g) in paths.iter().zip(got.iter()) {
            assert_eq!(g.as_ref(), super::super::vu::lookup(&body, p), "{p}");
        }
    }

    #[test]
    fn a_body_that_is_not_json_yields_nothing() {
        assert_eq!(extract(b"<html>", ["id"]), [None]);
        assert_eq!(extract(b"{\"id\":1} trailing", ["id"]), [None]);
        assert_eq!(extract(b"", ["id"]), [None]);
        assert_eq!(extract(b"[1,2]", ["1"]), [Some(json!(2))]);
    }
}
