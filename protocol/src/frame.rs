//! Native-messaging framing, shared by the browser channel (stdin/stdout of the native host) and
//! the daemon's IPC socket, so one codec and one set of limits serve both.
//!
//! A frame is a 4-byte length in the machine's native byte order (as Chrome and Firefox send
//! it), followed by that many bytes of UTF-8 JSON. This module only moves bytes: it never reads
//! a socket or a pipe and never looks inside the JSON (see [`crate::message`] for that).
//!
//! ## Limits
//! - [`MAX_FRAME`] (1 MiB) bounds every frame in both directions. The largest legitimate
//!   request is a `sign` of `data` (base64, so at most ~750 KiB of content); nothing the agent
//!   handles needs more, and refusing early keeps a misbehaving peer from making us buffer
//!   megabytes.
//! - [`MAX_BROWSER_MESSAGE`] (1,000,000 bytes) is stricter and applies to what the native host
//!   sends *to the browser*: Chrome drops the host when a message exceeds its 1 MB cap, so
//!   responses must be checked with [`check_browser_size`] (or framed with
//!   [`encode_for_browser`]) and replaced by an error response when too big.
//! - Zero-length frames are refused ([`FrameError::Empty`]): no valid message is empty, and a
//!   stream of them would otherwise be a free busy-loop for a peer.
//!
//! ## Decoding
//! [`FrameDecoder`] is fed whatever the transport read ([`FrameDecoder::push`]) and yields
//! complete frames ([`FrameDecoder::next_frame`]). It checks the announced length against the
//! limit as soon as the 4 header bytes are in, before buffering or allocating for the body. At
//! end of input, [`FrameDecoder::finish`] tells a clean end (between frames) from a cut one.
//! After any error the stream cannot be resynchronised (the length prefix is the only
//! delimiter), so the decoder keeps returning that error and the caller should close the channel.
//! Frames carry PINs: the decoder wipes every byte it has handed out (see [`FrameDecoder`]).
//! Reading and writing the transport is the agent's (`card_agent::framed`); this crate does no
//! I/O.

use thiserror::Error;
use zeroize::Zeroize;

/// Bytes in the length prefix.
pub const HEADER_LEN: usize = 4;

/// Largest payload (JSON bytes, excluding the 4-byte header) accepted or produced on any
/// channel: 1 MiB. See the module documentation for why.
pub const MAX_FRAME: usize = 1024 * 1024;

/// Largest payload the native host may send to the browser: 1,000,000 bytes, just under
/// Chrome's 1 MB cap on host-to-browser messages (Firefox's cap is the same), so a response that
/// passes this check is delivered by both.
pub const MAX_BROWSER_MESSAGE: usize = 1_000_000;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The length is over the limit. When decoding, `announced` is the length prefix as
    /// received: nothing of that size was allocated.
    #[error("frame of {announced} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Payload length announced (decoding) or given (encoding).
        announced: u64,
        /// The limit it was checked against.
        limit: usize,
    },
    /// A zero-length frame: no message is empty.
    #[error("empty frame: a message must not be zero bytes long")]
    Empty,
    /// The input ended inside a frame. Both counts include the 4-byte header; when the header
    /// itself was cut, `expected` is 4.
    #[error("input ended inside a frame: received {received} of {expected} bytes")]
    Truncated {
        /// Bytes of the unfinished frame received.
        received: usize,
        /// Bytes the frame needed (header included).
        expected: usize,
    },
}

/// Frames `payload` for sending: the length prefix, then the payload. Refuses an empty payload
/// and one over [`MAX_FRAME`].
pub fn encode(payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    encode_with_limit(payload, MAX_FRAME)
}

/// Frames `payload` for the browser: like [`encode`], but with the stricter
/// [`MAX_BROWSER_MESSAGE`] limit.
pub fn encode_for_browser(payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    encode_with_limit(payload, MAX_BROWSER_MESSAGE)
}

/// Checks that a payload may be sent to the browser (non-empty, at most
/// [`MAX_BROWSER_MESSAGE`] bytes), without framing it.
pub fn check_browser_size(payload: &[u8]) -> Result<(), FrameError> {
    check_len(payload.len() as u64, MAX_BROWSER_MESSAGE)
}

/// The length prefix of a payload of `len` bytes, for a writer that sends the payload from
/// where it is rather than from a framed copy. Refuses an empty payload and one over `limit`.
pub fn header(len: usize, limit: usize) -> Result<[u8; HEADER_LEN], FrameError> {
    check_len(len as u64, limit)?;
    // The limit is far below u32::MAX, so the conversion cannot fail once checked; keep the
    // fallible form rather than a cast so a future limit change cannot silently truncate.
    let len = u32::try_from(len).map_err(|_| FrameError::TooLarge {
        announced: len as u64,
        limit,
    })?;
    Ok(len.to_ne_bytes())
}

pub(crate) fn encode_with_limit(payload: &[u8], limit: usize) -> Result<Vec<u8>, FrameError> {
    let header = header(payload.len(), limit)?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    Ok(out)
}

fn check_len(len: u64, limit: usize) -> Result<(), FrameError> {
    if len == 0 {
        Err(FrameError::Empty)
    } else if len > limit as u64 {
        Err(FrameError::TooLarge {
            announced: len,
            limit,
        })
    } else {
        Ok(())
    }
}

/// An incremental, allocation-bounded frame decoder. Feed it bytes as they arrive, in any
/// chunking; take frames out as they complete.
///
/// Frames carry PINs, so the decoder keeps no copy of a byte it has handed out: a frame
/// returned by [`next_frame_ref`](Self::next_frame_ref) is wiped (overwritten with zeros) on
/// the next call to any method that takes `&mut self`, and when the decoder is dropped. Its
/// buffer never reallocates behind its back (growing copies into a new buffer and wipes the
/// old one), and bytes moved to the front are wiped where they were.
///
/// ```
/// use card_agent_protocol::frame::{encode, FrameDecoder};
///
/// let wire = encode(br#"{"id":1,"command":"version"}"#).unwrap();
/// let mut decoder = FrameDecoder::new();
/// decoder.push(&wire[..3]); // a partial read
/// assert_eq!(decoder.next_frame().unwrap(), None);
/// decoder.push(&wire[3..]);
/// assert_eq!(decoder.next_frame().unwrap().unwrap(), br#"{"id":1,"command":"version"}"#);
/// decoder.finish().unwrap(); // clean end of input
/// ```
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Where the unread bytes start: everything before has been handed out.
    start: usize,
    /// Everything before this offset is already zero (`clean <= start`).
    clean: usize,
    limit: usize,
    failed: Option<FrameError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for FrameDecoder {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

impl FrameDecoder {
    /// A decoder with the [`MAX_FRAME`] limit.
    pub fn new() -> Self {
        Self::with_limit(MAX_FRAME)
    }

    /// A decoder with a custom payload limit (tests, or a channel that wants less than
    /// [`MAX_FRAME`]). A limit above `u32::MAX` is the same as `u32::MAX`: the prefix cannot
    /// announce more.
    pub fn with_limit(limit: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            clean: 0,
            limit,
            failed: None,
        }
    }

    /// The payload limit in force.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes received but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends bytes read from the transport. Call [`next_frame`](Self::next_frame) after each
    /// push (until it returns `Ok(None)`): that is where the limit is enforced, so a caller that
    /// reads in bounded chunks never holds more than one chunk beyond a frame.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        self.compact();
        let needed = self.buf.len() + bytes.len();
        if needed > self.buf.capacity() {
            // Grow by hand: a Vec that reallocates itself frees the old buffer unwiped.
            let mut bigger = Vec::with_capacity(needed.max(2 * self.buf.capacity()));
            bigger.extend_from_slice(&self.buf);
            self.buf.zeroize();
            self.buf = bigger;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame's payload, `Ok(None)` when more bytes are needed, or the error
    /// that makes the rest of the stream unreadable (returned again on every later call). The
    /// returned copy is the caller's to wipe; [`next_frame_ref`](Self::next_frame_ref) lends
    /// the frame without copying it.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        self.next_frame_ref().map(|frame| frame.map(<[u8]>::to_vec))
    }

    /// Like [`next_frame`](Self::next_frame), but lends the payload from the decoder's buffer:
    /// no allocation, and the bytes are wiped on the next call that takes `&mut self`.
    pub fn next_frame_ref(&mut self) -> Result<Option<&[u8]>, FrameError> {
        if !self.frame_ready()? {
            return Ok(None);
        }
        let len = self.announced().unwrap_or(0);
        let frame = self.start + HEADER_LEN..self.start + HEADER_LEN + len;
        self.start = frame.end;
        Ok(Some(&self.buf[frame]))
    }

    /// Whether a whole frame is buffered, so that [`next_frame_ref`](Self::next_frame_ref)
    /// returns it; the error that stops decoding when its header breaks the rules. Wipes the
    /// frame handed out last.
    pub fn frame_ready(&mut self) -> Result<bool, FrameError> {
        self.wipe_consumed();
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let Some(announced) = self.announced() else {
            return Ok(false);
        };
        // Checked before anything is reserved for the body: the prefix is untrusted.
        if let Err(err) = check_len(announced as u64, self.limit) {
            return Err(self.fail(err));
        }
        Ok(self.buffered() >= HEADER_LEN + announced)
    }

    /// Call at end of input: `Ok(())` if it ended cleanly between frames, otherwise
    /// [`FrameError::Truncated`] (or the error that already stopped decoding). Frames still
    /// complete in the buffer count as unread, not as truncation; drain them with
    /// [`next_frame`](Self::next_frame) first.
    pub fn finish(&self) -> Result<(), FrameError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.buffered() == 0 {
            return Ok(());
        }
        let expected = match self.announced() {
            Some(len) => HEADER_LEN.saturating_add(len),
            None => HEADER_LEN,
        };
        Err(FrameError::Truncated {
            received: self.buffered(),
            expected,
        })
    }

    /// The payload length the unread bytes' header announces, once the header is in.
    fn announced(&self) -> Option<usize> {
        let header = self.buf[self.start..].first_chunk::<HEADER_LEN>()?;
        Some(u32::from_ne_bytes(*header) as usize)
    }

    /// Wipes the frames already handed out.
    fn wipe_consumed(&mut self) {
        self.buf[self.clean..self.start].zeroize();
        self.clean = self.start;
    }

    /// Moves the unread bytes to the front and wipes everything behind them.
    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        let unread = self.buffered();
        self.buf.copy_within(self.start.., 0);
        self.buf[unread..].zeroize();
        self.buf.truncate(unread);
        self.start = 0;
        self.clean = 0;
    }

    fn fail(&mut self, err: FrameError) -> FrameError {
        // The buffer is useless once the stream is desynchronised; wipe and free it now.
        self.buf.zeroize();
        self.buf = Vec::new();
        self.start = 0;
        self.clean = 0;
        self.failed = Some(err.clone());
        err
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
