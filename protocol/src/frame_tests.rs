//! Unit tests of the frame codec (`frame.rs`).

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

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_frame_handed_out_is_wiped_from_the_buffer() {
    let pin = br#""pin":"918273""#;
    let first = [
        &br#"{"id":1,"command":"verify-pin","arguments":{"#[..],
        pin,
        b"}}",
    ]
    .concat();
    let mut wire = encode(&first).unwrap();
    let second = encode(b"{\"id\":2}").unwrap();
    wire.extend_from_slice(&second[..5]);

    let mut d = FrameDecoder::new();
    d.push(&wire);
    assert_eq!(d.next_frame_ref().unwrap().unwrap(), &first[..]);
    // The next call wipes the frame lent by the last one, in place.
    assert_eq!(d.next_frame_ref().unwrap(), None);
    assert!(!contains(&d.buf, pin), "the PIN is still in the decoder");
    assert_eq!(d.buffered(), 5);

    // Moving the unread rest to the front leaves no copy of anything behind it.
    d.push(&second[5..]);
    assert_eq!(d.buf.len(), second.len());
    assert_eq!(d.next_frame_ref().unwrap().unwrap(), b"{\"id\":2}");
    assert_eq!(d.next_frame_ref().unwrap(), None);
    assert!(d.buf.iter().all(|b| *b == 0));
    assert_eq!(d.finish(), Ok(()));
}

#[test]
fn next_frame_copies_and_the_decoder_still_wipes_its_own_bytes() {
    let mut d = FrameDecoder::new();
    d.push(&encode(b"123456").unwrap());
    assert_eq!(d.next_frame().unwrap().unwrap(), b"123456");
    assert_eq!(d.next_frame().unwrap(), None);
    assert!(!contains(&d.buf, b"123456"));
}

#[test]
fn a_failed_decoder_wipes_what_it_held() {
    let mut d = FrameDecoder::with_limit(8);
    d.push(&encode(b"654321").unwrap());
    d.push(&header(9));
    assert_eq!(d.next_frame().unwrap().unwrap(), b"654321");
    assert!(d.next_frame().is_err());
    assert!(d.buf.is_empty() && d.buf.capacity() == 0);
}
