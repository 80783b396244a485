//! The read buffer of both hand-written HTTP/1.1 clients: `hit`'s
//! connection (`wire/mod.rs`) and the journey's (`http/conn.rs`).
//!
//! `buf[start..filled]` is read but not yet parsed. Before a read the
//! unparsed rest moves to the front, and a full buffer grows (doubling, up
//! to the head limit while a head is read, the body limit otherwise); a
//! body read that filled the buffer doubles it up to the body limit, so a
//! large body costs fewer reads while many slow streams stay small.
//!
//! No I/O here: the caller reads into [`ReadBuf::spare`] and reports the
//! count with [`ReadBuf::advance`], so each client keeps its one `read` per
//! fill, its own socket and its own byte counter (no extra call, no dynamic
//! dispatch). The limits are const parameters because they are each
//! client's own (a journey head may be as large as hyper accepts; `hit`'s
//! are wrk-sized): one monomorphic type per client, as the hand-copied
//! code was.
//!
//! Each caller checks its limit ([`ReadBuf::head_full`] for a head, its own
//! line limit for chunk-size and trailer lines) before it reads more, so the
//! unparsed rest is always below the limit when a read starts: a full
//! buffer then always grows, and a read of 0 bytes always means the peer
//! closed. (The two copies this replaces differed only outside that
//! invariant: one grew a buffer already at its limit by a byte, the other
//! did not grow it; `tests` checks both against this type within it.)

/// Read buffer of a new connection: a response head and a small JSON body,
/// or a burst of SSE events, fit.
pub(crate) const INITIAL_BUF: usize = 1024;

/// A connection's read buffer; `MAX_HEAD` bounds it while a response head
/// is read, `MAX_READ` while a body is.
#[derive(Debug, Default)]
pub(crate) struct ReadBuf<const MAX_HEAD: usize, const MAX_READ: usize> {
    buf: Vec<u8>,
    /// `buf[start..filled]` is read but not yet parsed.
    start: usize,
    filled: usize,
}

impl<const MAX_HEAD: usize, const MAX_READ: usize> ReadBuf<MAX_HEAD, MAX_READ> {
    /// Growth clamps to at least [`INITIAL_BUF`]: each limit must allow it.
    const LIMITS_HOLD: () = assert!(INITIAL_BUF <= MAX_HEAD && INITIAL_BUF <= MAX_READ);

    /// Gives a connection its first buffer (kept across reconnects).
    #[inline]
    pub(crate) fn allocate(&mut self) {
        let () = Self::LIMITS_HOLD;
        if self.buf.is_empty() {
            self.buf = vec![0; INITIAL_BUF];
        }
    }

    /// The bytes read but not yet parsed.
    #[inline]
    pub(crate) fn unparsed(&self) -> &[u8] {
        &self.buf[self.start..self.filled]
    }

    /// How many bytes are read but not yet parsed.
    #[inline]
    pub(crate) fn pending(&self) -> usize {
        self.filled - self.start
    }

    /// The unparsed rest is as large as a head may be: reading on for a
    /// head would pass [`MAX_HEAD`](Self).
    #[inline]
    pub(crate) fn head_full(&self) -> bool {
        self.pending() >= MAX_HEAD
    }

    /// Marks the first `n` unparsed bytes as parsed.
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.pending());
        self.start += n;
    }

    /// Marks everything read as parsed (a body counted and dropped).
    #[inline]
    pub(crate) fn consume_all(&mut self) {
        self.start = self.filled;
    }

    /// Forgets what was read: a closed connection, or a response parsed to
    /// its last byte.
    #[inline]
    pub(crate) fn clear(&mut self) {
        self.start = 0;
        self.filled = 0;
    }

    /// Between responses (nothing unparsed): a buffer a large head grew
    /// past the body limit goes back to it, not kept for the connection's
    /// life.
    pub(crate) fn shrink(&mut self) {
        debug_assert_eq!(self.filled, 0, "shrink between responses only");
        if self.buf.len() > MAX_READ {
            self.buf.truncate(MAX_READ);
            self.buf.shrink_to_fit();
        }
    }

    /// Where the next read goes: first moves the unparsed rest to the
    /// front, then grows a full buffer (`for_head`: up to [`MAX_HEAD`](Self),
    /// else up to [`MAX_READ`](Self)). Never empty: the caller checked its
    /// limit, so the rest is below it (see the module doc).
    #[inline]
    pub(crate) fn spare(&mut self, for_head: bool) -> &mut [u8] {
        if self.start == self.filled {
            self.clear();
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.start = 0;
        }
        let limit = if for_head { MAX_HEAD } else { MAX_READ };
        debug_assert!(self.filled < limit, "the caller checks its limit first");
        if self.filled == self.buf.len() {
            let grown = (self.buf.len() * 2).clamp(INITIAL_BUF, limit.max(self.filled + 1));
            self.buf.resize(grown, 0);
        }
        &mut self.buf[self.filled..]
    }

    /// `n` bytes were read into [`spare`](Self::spare). A body read that
    /// filled the buffer doubles it, up to [`MAX_READ`](Self).
    #[inline]
    pub(crate) fn advance(&mut self, n: usize, for_head: bool) {
        debug_assert!(self.filled + n <= self.buf.len());
        self.filled += n;
        if self.filled == self.buf.len() && !for_head && self.buf.len() < MAX_READ {
            let grown = (self.buf.len() * 2).min(MAX_READ);
            self.buf.resize(grown, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::fuzz::config;
    use proptest::prelude::*;

    /// Journey-shaped limits (a head may grow past the body limit), small.
    type Journey = ReadBuf<4096, 2048>;
    /// `hit`-shaped limits (head and body alike), small.
    type Hit = ReadBuf<2048, 2048>;

    /// A read of `n` bytes, numbered from `from`, into the spare room.
    fn read<const H: usize, const R: usize>(
        b: &mut ReadBuf<H, R>,
        for_head: bool,
        n: usize,
        from: u8,
    ) -> usize {
        let spare = b.spare(for_head);
        let room = spare.len();
        let n = n.min(room);
        for (i, byte) in spare[..n].iter_mut().enumerate() {
            *byte = from.wrapping_add(i as u8);
        }
        b.advance(n, for_head);
        room
    }

    #[test]
    fn a_connection_gets_its_first_buffer_once() {
        let mut b = Journey::default();
        assert!(b.buf.is_empty());
        b.allocate();
        assert_eq!(b.buf.len(), INITIAL_BUF);
        read(&mut b, true, INITIAL_BUF, 0);
        assert_eq!(b.buf.len(), INITIAL_BUF, "a head read does not grow it");
        b.clear();
        b.allocate();
        assert_eq!(b.buf.len(), INITIAL_BUF);
        assert_eq!(b.unparsed(), b"");
    }

    #[test]
    fn the_unparsed_rest_moves_to_the_front_before_a_read() {
        let mut b = Hit::default();
        b.allocate();
        read(&mut b, true, 6, b'a');
        assert_eq!(b.unparsed(), b"abcdef");
        b.consume(4);
        assert_eq!((b.unparsed(), b.pending()), (&b"ef"[..], 2));
        let room = read(&mut b, true, 2, b'g');
        assert_eq!(room, INITIAL_BUF - 2);
        assert_eq!((b.start, b.filled), (0, 4));
        assert_eq!(b.unparsed(), b"efgh");
        // Parsed to the end: the next read starts at the front.
        b.consume(4);
        read(&mut b, false, 1, b'x');
        assert_eq!((b.start, b.filled, b.unparsed()), (0, 1, &b"x"[..]));
        b.consume_all();
        assert_eq!(b.pending(), 0);
    }

    #[test]
    fn a_head_grows_the_buffer_up_to_the_head_limit_and_no_further() {
        let mut b = Journey::default();
        b.allocate();
        let mut sizes = Vec::new();
        while !b.head_full() {
            read(&mut b, true, usize::MAX, 0);
            sizes.push(b.buf.len());
        }
        assert_eq!(sizes, [1024, 2048, 4096]);
        assert_eq!(b.pending(), 4096);
        // One byte short of the limit: one more read, into the last byte.
        b.consume(1);
        assert!(!b.head_full());
        assert_eq!(read(&mut b, true, usize::MAX, 0), 1);
        assert_eq!(b.buf.len(), 4096);
        assert!(b.head_full());
    }

    #[test]
    fn a_full_buffer_grows_for_a_body_only_up_to_the_body_limit() {
        let mut b = Journey::default();
        b.allocate();
        // A head read fills the buffer (and does not grow it)...
        read(&mut b, true, usize::MAX, 0);
        assert_eq!((b.buf.len(), b.pending()), (INITIAL_BUF, INITIAL_BUF));
        // ...and its rest is a chunk-size line still unparsed: the body read
        // grows the full buffer, to the body limit.
        assert_eq!(read(&mut b, false, 1, 0), 2048 - INITIAL_BUF);
        assert_eq!(b.buf.len(), 2048);
        read(&mut b, false, usize::MAX, 0);
        assert_eq!((b.buf.len(), b.pending()), (2048, 2048));
        // One byte short of the limit: the last byte is read, no more.
        b.consume(1);
        assert_eq!(read(&mut b, false, usize::MAX, 0), 1);
        assert_eq!(b.buf.len(), 2048, "never past the body limit");
    }

    #[test]
    fn a_body_read_that_fills_the_buffer_doubles_it_up_to_the_body_limit() {
        let mut b = Journey::default();
        b.allocate();
        // A read that does not fill it does not grow it.
        read(&mut b, false, INITIAL_BUF - 1, 0);
        b.consume_all();
        assert_eq!(b.buf.len(), INITIAL_BUF);
        let mut sizes = Vec::new();
        for _ in 0..4 {
            read(&mut b, false, usize::MAX, 0);
            b.consume_all();
            sizes.push(b.buf.len());
        }
        assert_eq!(sizes, [2048, 2048, 2048, 2048]);
        // A head read that fills it does not.
        let mut b = Hit::default();
        b.allocate();
        read(&mut b, true, usize::MAX, 0);
        assert_eq!(b.buf.len(), INITIAL_BUF);
    }

    #[test]
    fn shrink_gives_back_what_a_large_head_grew() {
        let mut b = Journey::default();
        b.allocate();
        while !b.head_full() {
            read(&mut b, true, usize::MAX, 0);
        }
        assert_eq!(b.buf.len(), 4096);
        b.clear();
        b.shrink();
        assert_eq!(b.buf.len(), 2048);
        b.shrink();
        assert_eq!(b.buf.len(), 2048);
        let mut b = Hit::default();
        b.allocate();
        b.shrink();
        assert_eq!(
            b.buf.len(),
            INITIAL_BUF,
            "a buffer within the limit is kept"
        );
    }

    /// The two hand-copied `fill`s this type replaced, minus their read:
    /// `buf`, `start`, `filled` as they left them.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Old {
        buf: Vec<u8>,
        start: usize,
        filled: usize,
    }

    impl Old {
        /// `wire/mod.rs` (`hit`): moves even an empty rest, grows only
        /// below the limit.
        fn hit_spare(&mut self, limit: usize) -> usize {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.filled, 0);
                self.filled -= self.start;
                self.start = 0;
            }
            if self.filled == self.buf.len() && self.buf.len() < limit {
                let grown = (self.buf.len() * 2).clamp(INITIAL_BUF, limit);
                self.buf.resize(grown, 0);
            }
            self.buf.len() - self.filled
        }

        /// `http/conn.rs` (journey): restarts a drained buffer at the
        /// front, grows a full one by at least a byte.
        fn journey_spare(&mut self, limit: usize) -> usize {
            if self.start == self.filled {
                self.start = 0;
                self.filled = 0;
            } else if self.start > 0 {
                self.buf.copy_within(self.start..self.filled, 0);
                self.filled -= self.start;
                self.start = 0;
            }
            if self.filled == self.buf.len() {
                let grown = (self.buf.len() * 2).clamp(INITIAL_BUF, limit.max(self.filled + 1));
                self.buf.resize(grown, 0);
            }
            self.buf.len() - self.filled
        }

        /// Both copies alike after the read.
        fn advance(&mut self, n: usize, room: usize, for_head: bool, max_read: usize) {
            self.filled += n;
            if n == room && !for_head && self.buf.len() < max_read {
                let grown = (self.buf.len() * 2).min(max_read);
                self.buf.resize(grown, 0);
            }
        }
    }

    /// Runs `ops` (head or body read, bytes read, bytes then parsed) on the
    /// type and on both old copies, as their callers do: a rest at the
    /// limit is refused (the connection closed) instead of read on.
    fn same_as_both_old_copies<const H: usize, const R: usize>(
        ops: &[(bool, usize, usize)],
    ) -> Result<(), TestCaseError> {
        let mut new = ReadBuf::<H, R>::default();
        new.allocate();
        let fresh = Old {
            buf: vec![0; INITIAL_BUF],
            start: 0,
            filled: 0,
        };
        let (mut hit, mut journey) = (fresh.clone(), fresh);
        for (i, &(for_head, read, parse)) in ops.iter().enumerate() {
            let limit = if for_head { H } else { R };
            if new.pending() >= limit {
                new.clear();
                for old in [&mut hit, &mut journey] {
                    old.start = 0;
                    old.filled = 0;
                }
            }
            let spare = new.spare(for_head);
            let room = spare.len();
            prop_assert!(room > 0);
            let n = read.min(room);
            for (j, byte) in spare[..n].iter_mut().enumerate() {
                *byte = (i + j) as u8;
            }
            new.advance(n, for_head);
            let room_hit = hit.hit_spare(limit);
            let room_journey = journey.journey_spare(limit);
            prop_assert_eq!((room_hit, room_journey), (room, room));
            for old in [&mut hit, &mut journey] {
                let filled = old.filled;
                for (j, byte) in old.buf[filled..filled + n].iter_mut().enumerate() {
                    *byte = (i + j) as u8;
                }
                old.advance(n, room, for_head, R);
            }
            let parse = parse.min(new.pending());
            new.consume(parse);
            hit.start += parse;
            journey.start += parse;
            let now = Old {
                buf: new.buf.clone(),
                start: new.start,
                filled: new.filled,
            };
            prop_assert_eq!(&now, &hit);
            prop_assert_eq!(&now, &journey);
        }
        Ok(())
    }

    fn ops() -> impl Strategy<Value = Vec<(bool, usize, usize)>> {
        let read = prop_oneof![Just(usize::MAX), 0usize..3000];
        let parse = prop_oneof![Just(usize::MAX), Just(0usize), 0usize..3000];
        proptest::collection::vec((any::<bool>(), read, parse), 0..40)
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn within_its_callers_limits_it_is_both_old_copies(ops in ops()) {
            same_as_both_old_copies::<4096, 2048>(&ops)?;
            same_as_both_old_copies::<2048, 2048>(&ops)?;
        }
    }
}
