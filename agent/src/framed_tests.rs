//! The framed connection on in-memory streams: clean end against a cut frame, refusals with
//! the catalogue's words, the frame deadline on the paused clock, cancel safety, wiping.

// In tests a panic is the failure report; unwrap keeps the arrange/act/assert steps readable.
#![allow(clippy::unwrap_used)]

use std::io::Cursor;

use card_agent_protocol::frame::encode;
use card_agent_protocol::ErrorCode;
use tokio::io::AsyncWriteExt as _;

use super::*;

const PIN_REQUEST: &[u8] =
    br#"{"id":1,"command":"verify-pin","origin":"https://a.gov.tw","arguments":{"pin":"918273"}}"#;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn frames_then_a_clean_end_between_frames() {
    let wire = [encode(b"one").unwrap(), encode(b"two").unwrap()].concat();
    let mut frames = FrameReader::new(&wire[..]);
    assert_eq!(frames.read_frame().await.unwrap().unwrap(), b"one");
    assert_eq!(frames.read_frame().await.unwrap().unwrap(), b"two");
    assert!(frames.read_frame().await.unwrap().is_none());
}

#[tokio::test]
async fn an_end_inside_a_frame_is_a_cut_frame_that_nobody_is_told_about() {
    let whole = encode(b"{\"id\":1}").unwrap();
    for cut in [2, 4, whole.len() - 1] {
        let mut frames = FrameReader::new(&whole[..cut]);
        let err = frames.read_frame().await.unwrap_err();
        assert!(
            matches!(err, ReadError::Frame(FrameError::Truncated { received, .. }) if received == cut),
            "{err:?}"
        );
        assert!(err.refusal(Language::En).is_none(), "the peer has gone");
        assert_eq!(Error::from(err).code(), ErrorCode::BadRequest);
    }
}

#[tokio::test]
async fn a_frame_the_codec_refuses_is_answered_in_both_languages() {
    let huge = u32::MAX.to_ne_bytes();
    let mut frames = FrameReader::new(&huge[..]);
    let err = frames.read_frame().await.unwrap_err();
    let en = err.refusal(Language::En).unwrap();
    let zh = err.refusal(Language::ZhTw).unwrap();
    assert_eq!(en.code, ErrorCode::BadRequest);
    assert!(en.message.contains("4294967295 bytes"), "{}", en.message);
    assert!(en
        .message
        .starts_with(ErrorCode::BadRequest.message(Language::En)));
    assert!(zh.message.contains("4294967295 位元組"), "{}", zh.message);

    let empty = 0u32.to_ne_bytes();
    let mut frames = FrameReader::new(&empty[..]);
    let en = frames
        .read_frame()
        .await
        .unwrap_err()
        .refusal(Language::En)
        .unwrap();
    assert!(en.message.contains("must not be empty"), "{}", en.message);
}

#[tokio::test(start_paused = true)]
async fn a_frame_that_stalls_past_the_deadline_is_refused_but_an_idle_stream_is_not() {
    let (mut client, server) = tokio::io::duplex(1024);
    let mut frames = FrameReader::new(server).with_deadline(Duration::from_secs(10));

    // Idle between frames: no deadline (the paused clock jumps a whole hour ahead).
    let idle = tokio::time::timeout(Duration::from_secs(3600), frames.read_frame()).await;
    assert!(idle.is_err(), "an idle connection was closed");

    client
        .write_all(&encode(b"{}").unwrap()[..3])
        .await
        .unwrap();
    let err = frames.read_frame().await.unwrap_err();
    assert!(
        matches!(err, ReadError::Deadline(d) if d.as_secs() == 10),
        "{err:?}"
    );
    let zh = err.refusal(Language::ZhTw).unwrap();
    assert!(zh.message.contains("10 秒"), "{}", zh.message);
    let en = err.refusal(Language::En).unwrap();
    assert!(en.message.contains("within 10 seconds"), "{}", en.message);
}

#[tokio::test(start_paused = true)]
async fn a_read_dropped_in_the_middle_of_a_frame_loses_nothing() {
    let (mut client, server) = tokio::io::duplex(1024);
    let mut frames = FrameReader::new(server);
    let wire = encode(PIN_REQUEST).unwrap();
    client.write_all(&wire[..10]).await.unwrap();
    // As a `select!` does when its other branch wins.
    let dropped = tokio::time::timeout(Duration::from_secs(1), frames.read_frame()).await;
    assert!(dropped.is_err());
    assert_eq!(frames.buffered(), 10);
    client.write_all(&wire[10..]).await.unwrap();
    assert_eq!(frames.read_frame().await.unwrap().unwrap(), PIN_REQUEST);
}

#[tokio::test]
async fn the_read_buffer_keeps_no_pin() {
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let mut frames = FrameReader::new(server);
    client
        .write_all(&encode(PIN_REQUEST).unwrap())
        .await
        .unwrap();
    assert_eq!(frames.read_frame().await.unwrap().unwrap(), PIN_REQUEST);
    assert!(!contains(&frames.buf, b"918273"));
    // The frame itself is wiped from the decoder when the next read starts; the protocol
    // crate's tests look inside the decoder.
    drop(client);
    assert!(frames.read_frame().await.unwrap().is_none());
    assert!(frames.buf.iter().all(|b| *b == 0));
}

#[tokio::test]
async fn what_the_writer_writes_the_reader_reads() {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let mut writer = FrameWriter::new(client);
    writer.write_frame(PIN_REQUEST).await.unwrap();
    writer.write_frame(b"{}").await.unwrap();
    writer.shutdown().await.unwrap();
    let mut frames = FrameReader::new(server);
    assert_eq!(frames.read_frame().await.unwrap().unwrap(), PIN_REQUEST);
    assert_eq!(frames.read_frame().await.unwrap().unwrap(), b"{}");
    assert!(frames.read_frame().await.unwrap().is_none());
}

#[tokio::test]
async fn the_writer_refuses_what_the_codec_refuses_and_writes_nothing() {
    let mut out = Vec::new();
    let mut writer = FrameWriter::with_limit(&mut out, 4);
    let empty = writer.write_frame(b"").await.unwrap_err();
    assert_eq!(empty.kind(), std::io::ErrorKind::InvalidInput);
    assert!(writer.write_frame(b"12345").await.is_err());
    writer.write_frame(b"1234").await.unwrap();
    assert_eq!(out, encode(b"1234").unwrap());
}

#[test]
fn the_blocking_reader_tells_a_clean_end_from_a_cut_frame() {
    let wire = [encode(b"one").unwrap(), encode(b"two").unwrap()].concat();
    let mut frames = FrameReader::new(Cursor::new(&wire));
    assert_eq!(frames.read_frame_blocking().unwrap().unwrap(), b"one");
    assert_eq!(frames.read_frame_blocking().unwrap().unwrap(), b"two");
    assert!(frames.read_frame_blocking().unwrap().is_none());

    let mut frames = FrameReader::new(Cursor::new(&wire[..wire.len() - 1]));
    assert_eq!(frames.read_frame_blocking().unwrap().unwrap(), b"one");
    assert!(matches!(
        frames.read_frame_blocking(),
        Err(ReadError::Frame(FrameError::Truncated { .. }))
    ));

    let mut out = Vec::new();
    FrameWriter::new(&mut out)
        .write_frame_blocking(b"three")
        .unwrap();
    let mut frames = FrameReader::with_limit(Cursor::new(&out), 4);
    assert!(matches!(
        frames.read_frame_blocking(),
        Err(ReadError::Frame(FrameError::TooLarge { .. }))
    ));
}
