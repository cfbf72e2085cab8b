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

use thiserror::Error;

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

pub(crate) fn encode_with_limit(payload: &[u8], limit: usize) -> Result<Vec<u8>, FrameError> {
    check_len(payload.len() as u64, limit)?;
    // The limit is far below u32::MAX, so the conversion cannot fail once checked; keep the
    // fallible form rather than a cast so a future limit change cannot silently truncate.
    let len = u32::try_from(payload.len()).map_err(|_| FrameError::TooLarge {
        announced: payload.len() as u64,
        limit,
    })?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&len.to_ne_bytes());
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
    limit: usize,
    failed: Option<FrameError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
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
        self.buf.len()
    }

    /// Appends bytes read from the transport. Call [`next_frame`](Self::next_frame) after each
    /// push (until it returns `Ok(None)`): that is where the limit is enforced, so a caller that
    /// reads in bounded chunks never holds more than one chunk beyond a frame.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The next complete frame's payload, `Ok(None)` when more bytes are needed, or the error
    /// that makes the rest of the stream unreadable (returned again on every later call).
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let Some(header) = self.buf.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let announced = u32::from_ne_bytes(*header);
        // Checked before anything is reserved for the body: the prefix is untrusted.
        if let Err(err) = check_len(u64::from(announced), self.limit) {
            return Err(self.fail(err));
        }
        let len = announced as usize;
        let total = HEADER_LEN + len;
        if self.buf.len() < total {
            return Ok(None);
        }
        let payload = self.buf[HEADER_LEN..total].to_vec();
        self.buf.drain(..total);
        Ok(Some(payload))
    }

    /// Call at end of input: `Ok(())` if it ended cleanly between frames, otherwise
    /// [`FrameError::Truncated`] (or the error that already stopped decoding). Frames still
    /// complete in the buffer count as unread, not as truncation; drain them with
    /// [`next_frame`](Self::next_frame) first.
    pub fn finish(&self) -> Result<(), FrameError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let expected = match self.buf.first_chunk::<HEADER_LEN>() {
            Some(header) => HEADER_LEN.saturating_add(u32::from_ne_bytes(*header) as usize),
            None => HEADER_LEN,
        };
        Err(FrameError::Truncated {
            received: self.buf.len(),
            expected,
        })
    }

    fn fail(&mut self, err: FrameError) -> FrameError {
        // The buffer is useless once the stream is desynchronised; free it now.
        self.buf = Vec::new();
        self.failed = Some(err.clone());
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u32) -> [u8; 4] {
        len.to_ne_bytes()
    }

    /// A tiny deterministic generator: enough to vary chunk sizes without a dependency.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn encode_writes_native_endian_length_then_payload() {
        let wire = encode(b"{}").unwrap();
        assert_eq!(&wire[..4], &2u32.to_ne_bytes());
        assert_eq!(&wire[4..], b"{}");
    }

    #[test]
    fn encode_refuses_empty_and_oversized() {
        assert_eq!(encode(b""), Err(FrameError::Empty));
        let big = vec![b' '; MAX_FRAME + 1];
        assert_eq!(
            encode(&big),
            Err(FrameError::TooLarge {
                announced: MAX_FRAME as u64 + 1,
                limit: MAX_FRAME
            })
        );
        assert!(encode(&big[..MAX_FRAME]).is_ok());
    }

    #[test]
    fn browser_limit_is_stricter_than_frame_limit() {
        let ok = vec![b' '; MAX_BROWSER_MESSAGE];
        assert!(check_browser_size(&ok).is_ok());
        assert!(encode_for_browser(&ok).is_ok());
        let over = vec![b' '; MAX_BROWSER_MESSAGE + 1];
        let err = FrameError::TooLarge {
            announced: MAX_BROWSER_MESSAGE as u64 + 1,
            limit: MAX_BROWSER_MESSAGE,
        };
        assert_eq!(check_browser_size(&over), Err(err.clone()));
        assert_eq!(encode_for_browser(&over), Err(err));
        assert!(encode(&over).is_ok(), "the IPC channel still takes it");
        assert_eq!(check_browser_size(b""), Err(FrameError::Empty));
    }

    #[test]
    fn decodes_whole_frames_and_reports_clean_eof() {
        let mut wire = encode(b"one").unwrap();
        wire.extend(encode(b"two").unwrap());
        let mut d = FrameDecoder::new();
        d.push(&wire);
        assert_eq!(d.next_frame().unwrap().unwrap(), b"one");
        assert_eq!(d.next_frame().unwrap().unwrap(), b"two");
        assert_eq!(d.next_frame().unwrap(), None);
        assert_eq!(d.buffered(), 0);
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn nothing_received_is_a_clean_eof() {
        let d = FrameDecoder::new();
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn byte_by_byte_reads_yield_each_frame_exactly_once() {
        let payloads: [&[u8]; 3] = [b"a", br#"{"id":1,"command":"status"}"#, &[0xAB; 300]];
        let wire: Vec<u8> = payloads.iter().flat_map(|p| encode(p).unwrap()).collect();
        let mut d = FrameDecoder::new();
        let mut out = Vec::new();
        for byte in &wire {
            d.push(std::slice::from_ref(byte));
            while let Some(frame) = d.next_frame().unwrap() {
                out.push(frame);
            }
        }
        assert_eq!(out, payloads.map(<[u8]>::to_vec));
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn truncated_header_and_truncated_body_are_distinguished() {
        let mut d = FrameDecoder::new();
        d.push(&header(10)[..2]);
        assert_eq!(d.next_frame().unwrap(), None);
        assert_eq!(
            d.finish(),
            Err(FrameError::Truncated {
                received: 2,
                expected: 4
            })
        );

        let mut d = FrameDecoder::new();
        d.push(&header(10));
        d.push(b"12345");
        assert_eq!(d.next_frame().unwrap(), None);
        assert_eq!(
            d.finish(),
            Err(FrameError::Truncated {
                received: 9,
                expected: 14
            })
        );
    }

    #[test]
    fn oversized_announcement_is_refused_from_the_header_alone() {
        let mut d = FrameDecoder::new();
        d.push(&header(u32::MAX));
        let err = FrameError::TooLarge {
            announced: u64::from(u32::MAX),
            limit: MAX_FRAME,
        };
        assert_eq!(d.next_frame(), Err(err.clone()));
        // Nothing of the announced size was reserved, and the buffer was released.
        assert!(d.buf.capacity() < 1024);
        // The error sticks: the stream cannot be resynchronised.
        d.push(&encode(b"ok").unwrap());
        assert_eq!(d.next_frame(), Err(err.clone()));
        assert_eq!(d.finish(), Err(err));
    }

    #[test]
    fn limit_is_inclusive() {
        let mut d = FrameDecoder::with_limit(5);
        assert_eq!(d.limit(), 5);
        d.push(&encode(b"12345").unwrap());
        assert_eq!(d.next_frame().unwrap().unwrap(), b"12345");
        d.push(&encode(b"123456").unwrap());
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge {
                announced: 6,
                limit: 5
            })
        );
    }

    #[test]
    fn zero_length_frame_is_an_error() {
        let mut d = FrameDecoder::new();
        d.push(&header(0));
        assert_eq!(d.next_frame(), Err(FrameError::Empty));
        assert_eq!(d.finish(), Err(FrameError::Empty));
    }

    #[test]
    fn frame_followed_by_partial_frame_reports_truncation_after_draining() {
        let mut wire = encode(b"done").unwrap();
        wire.extend(&header(3));
        wire.push(b'x');
        let mut d = FrameDecoder::new();
        d.push(&wire);
        assert_eq!(d.next_frame().unwrap().unwrap(), b"done");
        assert_eq!(d.next_frame().unwrap(), None);
        assert_eq!(
            d.finish(),
            Err(FrameError::Truncated {
                received: 5,
                expected: 7
            })
        );
    }

    #[test]
    fn random_chunkings_reassemble_the_same_frames() {
        let mut rng = Lcg(0x5eed);
        for round in 0..200 {
            let count = 1 + rng.below(8);
            let payloads: Vec<Vec<u8>> = (0..count)
                .map(|_| {
                    let len = 1 + rng.below(if round % 10 == 0 { 5000 } else { 64 });
                    (0..len).map(|_| rng.next() as u8).collect()
                })
                .collect();
            let wire: Vec<u8> = payloads.iter().flat_map(|p| encode(p).unwrap()).collect();

            // Every third round, cut the stream somewhere inside the last frame (at least one
            // of its bytes received, at least one missing).
            let cut = round % 3 == 0;
            let last_len = HEADER_LEN + payloads[count - 1].len();
            let end = if cut {
                wire.len() - 1 - rng.below(last_len - 1)
            } else {
                wire.len()
            };

            let mut d = FrameDecoder::new();
            let mut got = Vec::new();
            let mut pos = 0;
            while pos < end {
                let step = (1 + rng.below(97)).min(end - pos);
                d.push(&wire[pos..pos + step]);
                pos += step;
                while let Some(frame) = d.next_frame().unwrap() {
                    got.push(frame);
                }
            }
            if cut {
                assert_eq!(got, payloads[..count - 1], "round {round}");
                assert!(
                    matches!(d.finish(), Err(FrameError::Truncated { .. })),
                    "round {round}"
                );
            } else {
                assert_eq!(got, payloads, "round {round}");
                assert_eq!(d.finish(), Ok(()), "round {round}");
            }
        }
    }

    #[test]
    fn random_garbage_never_panics_and_never_exceeds_the_limit() {
        let mut rng = Lcg(42);
        for _ in 0..500 {
            let len = rng.below(64);
            let garbage: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let mut d = FrameDecoder::with_limit(16);
            d.push(&garbage);
            while let Ok(Some(frame)) = d.next_frame() {
                assert!(!frame.is_empty() && frame.len() <= 16);
            }
            let _ = d.finish();
        }
    }
}
