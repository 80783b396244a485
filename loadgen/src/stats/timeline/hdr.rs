//! A histogram kept encoded: the time series holds thousands of small
//! per-interval histograms, and a decoded `Histogram<u64>` allocates its
//! whole counts array (about 100 KB at three significant figures up to a
//! few seconds), so 2,000 points of a few endpoints would take gigabytes.
//! Encoded in HdrHistogram's V2 format (zero runs compressed) a narrow
//! interval histogram takes tens to hundreds of bytes. On the wire it is the
//! summary's `$defs/hdr`: the same bytes, base64.

use super::super::aggregate::{add_into, new_histogram};
use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// One HDR histogram (µs, or milli-tokens/s), V2-encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hdr(Vec<u8>);

impl Default for Hdr {
    fn default() -> Self {
        Hdr::encode(&new_histogram())
    }
}

impl Hdr {
    /// Encodes `h`. Serializing into memory cannot fail (the errors of
    /// `V2Serializer` are I/O and 32-bit overflow); if it ever did, the
    /// empty encoding stands for an empty histogram.
    pub fn encode(h: &Histogram<u64>) -> Hdr {
        let mut buf = Vec::new();
        if V2Serializer::new().serialize(h, &mut buf).is_err() {
            buf.clear();
        }
        Hdr(buf)
    }

    /// The histogram, auto-resizing (so that `add` never overflows a range).
    pub fn decode(&self) -> Result<Histogram<u64>, String> {
        if self.0.is_empty() {
            return Ok(new_histogram());
        }
        let mut h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut self.0.as_slice())
            .map_err(|e| format!("bad HDR histogram: {e:?}"))?;
        h.auto(true);
        Ok(h)
    }

    /// Adds `other` into this one (decoded, added, encoded again).
    pub fn add(&mut self, other: &Hdr) -> Result<(), String> {
        let mut sum = self.decode()?;
        add_into(&mut sum, &other.decode()?);
        *self = Hdr::encode(&sum);
        Ok(())
    }

    /// Base64 of the V2 bytes (the summary's `$defs/hdr`).
    pub fn to_base64(&self) -> String {
        let bytes = if self.0.is_empty() {
            Hdr::default().0
        } else {
            self.0.clone()
        };
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Reads [`Hdr::to_base64`]'s text, and checks that it decodes into a
    /// histogram recorded as loadgen records (3 significant figures, lowest
    /// discernible value 1), since only those add exactly.
    pub fn from_base64(text: &str) -> Result<Hdr, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("bad base64: {e}"))?;
        let hdr = Hdr(bytes);
        let h = hdr.decode()?;
        let reference = new_histogram();
        if h.sigfig() != reference.sigfig() || h.low() != reference.low() {
            return Err(format!(
                "mismatched histogram settings: {} significant figures and lowest discernible \
                 value {}, where loadgen records {} and {}",
                h.sigfig(),
                h.low(),
                reference.sigfig(),
                reference.low()
            ));
        }
        Ok(hdr)
    }

    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        self.0.len()
    }
}

impl Serialize for Hdr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Hdr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Hdr::from_base64(&text).map_err(serde::de::Error::custom)
    }
}
