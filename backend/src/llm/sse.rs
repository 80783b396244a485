//! The live provider's server-sent events, decoded incrementally with a cap
//! on everything it holds.
//!
//! A chunk from the network may end anywhere: inside a line, inside a CRLF,
//! inside a multi-byte character. Lines are split on bytes (LF, CRLF or CR,
//! as the SSE spec allows) and decoded as UTF-8 only once whole, so a
//! character cut in two by the network comes out whole. The decoder keeps
//! an unfinished line up to [`MAX_SSE_LINE`] and one event's data up to
//! [`MAX_SSE_EVENT`]: a provider sending more is refused ([`SseError`]),
//! never buffered without end. (This replaced `eventsource-stream`, whose
//! buffers had no bound.)

/// Longest line held while incomplete: an OpenAI chunk is a few hundred
/// bytes, a final chunk with usage and logprobs a few KiB.
pub const MAX_SSE_LINE: usize = 256 * 1024;
/// Most `data:` bytes of one event (its lines joined).
pub const MAX_SSE_EVENT: usize = 1024 * 1024;

/// Why a stream cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseError {
    /// A line passed [`MAX_SSE_LINE`] before it ended.
    LineTooLong,
    /// An event's data passed [`MAX_SSE_EVENT`].
    EventTooLarge,
    /// A line is not UTF-8.
    NotUtf8,
}

impl SseError {
    /// The `limit` label of `chatbot_provider_oversized_total`, when the
    /// error is a cap.
    pub fn limit(self) -> Option<&'static str> {
        match self {
            SseError::LineTooLong => Some("sse_line"),
            SseError::EventTooLarge => Some("sse_event"),
            SseError::NotUtf8 => None,
        }
    }
}

/// An incremental SSE decoder: feed it chunks, it yields each event's data.
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of an unfinished line.
    pending: Vec<u8>,
    /// The last line ended in CR: a LF right after it belongs to it.
    after_cr: bool,
    /// `data:` lines of the event being read, each followed by LF.
    data: String,
    /// Some `data:` line was seen since the last dispatch (an empty one too).
    has_data: bool,
}

impl SseDecoder {
    /// Bytes held (an unfinished line and an unfinished event), which a
    /// refused stream discards.
    pub fn buffered(&self) -> usize {
        self.pending.len() + self.data.len()
    }

    /// Decodes `chunk`, pushing the data of every event it completes onto
    /// `out`. After an error the decoder must not be fed again.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<String>) -> Result<(), SseError> {
        let mut rest = chunk;
        while let Some(at) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            let term = rest.get(at).copied();
            let (head, tail) = (rest.get(..at).unwrap_or_default(), rest.get(at + 1..));
            rest = tail.unwrap_or_default();
            if self.after_cr && at == 0 && self.pending.is_empty() && term == Some(b'\n') {
                // The LF of a CRLF split across chunks (or just read).
                self.after_cr = false;
                continue;
            }
            self.after_cr = term == Some(b'\r');
            if self.pending.len() + head.len() > MAX_SSE_LINE {
                return Err(SseError::LineTooLong);
            }
            if self.pending.is_empty() {
                self.line(head, out)?;
            } else {
                let mut line = std::mem::take(&mut self.pending);
                line.extend_from_slice(head);
                self.line(&line, out)?;
            }
        }
        if self.pending.len() + rest.len() > MAX_SSE_LINE {
            return Err(SseError::LineTooLong);
        }
        if !rest.is_empty() {
            // A byte other than LF came: a CR before it ended its line alone.
            self.after_cr = false;
            self.pending.extend_from_slice(rest);
        }
        Ok(())
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<String>) -> Result<(), SseError> {
        if line.is_empty() {
            if std::mem::take(&mut self.has_data) {
                let mut data = std::mem::take(&mut self.data);
                data.pop(); // the LF after the last line
                out.push(data);
            }
            return Ok(());
        }
        if line.first() == Some(&b':') {
            return Ok(()); // a comment: keep-alive
        }
        let line = std::str::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        if field == "data" {
            let value = value.strip_prefix(' ').unwrap_or(value);
            if self.data.len() + value.len() + 1 > MAX_SSE_EVENT {
                return Err(SseError::EventTooLarge);
            }
            self.data.push_str(value);
            self.data.push('\n');
            self.has_data = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn decode(parts: &[&[u8]]) -> Result<Vec<String>, SseError> {
        let mut d = SseDecoder::default();
        let mut out = Vec::new();
        for p in parts {
            d.feed(p, &mut out)?;
        }
        Ok(out)
    }

    #[test]
    fn events_end_at_a_blank_line_whatever_the_line_endings() {
        let body =
            b": ping\n\ndata: a\n\ndata:b\r\ndata:  c\r\n\r\nevent: x\rdata: d\r\rdata: [DONE]\n\n";
        let whole = decode(&[body]).unwrap();
        assert_eq!(whole, ["a", "b\n c", "d", "[DONE]"]);
        for i in 0..body.len() {
            let (a, b) = body.split_at(i);
            assert_eq!(decode(&[a, b]).unwrap(), whole, "split at {i}");
        }
    }

    #[test]
    fn a_character_cut_by_the_network_comes_out_whole() {
        let body = "data: 🦀é\n\n".as_bytes();
        for i in 0..body.len() {
            let (a, b) = body.split_at(i);
            assert_eq!(decode(&[a, b]).unwrap(), ["🦀é"], "split at {i}");
        }
    }

    #[test]
    fn a_line_or_an_event_past_its_cap_is_refused_however_it_arrives() {
        let long = vec![b'x'; MAX_SSE_LINE + 1];
        assert_eq!(decode(&[&long]), Err(SseError::LineTooLong));
        let mut whole = long.clone();
        whole.push(b'\n');
        assert_eq!(decode(&[&whole]), Err(SseError::LineTooLong));
        let pieces: Vec<&[u8]> = whole.chunks(1000).collect();
        assert_eq!(decode(&pieces), Err(SseError::LineTooLong));
        // Many lines of one event, each within the line cap.
        let line = format!("data: {}\n", "y".repeat(MAX_SSE_LINE - 16));
        let event = line.repeat(MAX_SSE_EVENT / MAX_SSE_LINE + 1);
        assert_eq!(decode(&[event.as_bytes()]), Err(SseError::EventTooLarge));
        // Exactly at the line cap is fine.
        let mut at_cap = vec![b'x'; MAX_SSE_LINE];
        at_cap.push(b'\n');
        assert_eq!(decode(&[&at_cap]), Ok(vec![]));
    }
}
