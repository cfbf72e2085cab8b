//! The one framed connection: reads and writes whole frames (protocol/src/frame.rs) on any
//! byte stream, for every local channel: the daemon's socket (daemon side and client side:
//! the native host, the tray, the doctor) and the browser's pipe to the native host.
//!
//! [`FrameReader::read_frame`] returns the next frame, `Ok(None)` when the peer ended the
//! stream cleanly between frames, and an error when it ended inside one
//! ([`FrameError::Truncated`]), sent a frame the codec refuses (empty, over the limit), took
//! longer than the frame deadline to finish one, or the transport failed. [`ReadError::refusal`]
//! says which of these the peer should be told about; [`Error::from`] maps each to its stable
//! code and catalogue words, like every other error.
//!
//! Frames carry PINs. The reader reads into one buffer allocated with the connection and wipes
//! the bytes it read as soon as the decoder has them; the decoder wipes each frame it handed
//! out on the next read (see [`FrameDecoder`]). A frame is lent, never copied:
//! `read_frame` returns a slice of the decoder's buffer. [`FrameWriter::write_frame`] writes
//! the header and the payload as they are, without assembling a copy.
//!
//! `read_frame` is cancel-safe (a `select!` may drop it and call it again): every byte read is
//! in the decoder before the next `.await`.

use std::time::Duration;

use card_agent_protocol::frame::{self, FrameDecoder, FrameError};
use card_agent_protocol::message::ErrorBody;
use card_agent_protocol::Language;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use zeroize::Zeroize;

use crate::error::Error;

/// Bytes asked of the transport per read: enough for a typical request in one read, small
/// enough to allocate once per connection.
const READ_CHUNK: usize = 16 * 1024;

/// Why no frame could be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The frame codec refused the stream: an empty frame, a length over the limit, or the
    /// stream ended inside a frame ([`FrameError::Truncated`]).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A frame started but did not arrive whole within the deadline.
    #[error("a frame did not arrive whole within {} s", .0.as_secs())]
    Deadline(Duration),
    /// The transport failed.
    #[error("the connection failed: {0}")]
    Io(#[from] std::io::Error),
}

impl ReadError {
    /// The error body to send the peer before closing, or `None` when the peer has gone
    /// (it closed in the middle of a frame, or the transport failed) and nobody would read it.
    pub fn refusal(&self, lang: Language) -> Option<ErrorBody> {
        let error = match self {
            ReadError::Frame(FrameError::Truncated { .. }) | ReadError::Io(_) => return None,
            ReadError::Frame(e) => Error::Frame(e.clone()),
            ReadError::Deadline(d) => Error::FrameDeadline {
                seconds: d.as_secs(),
            },
        };
        Some(error.to_wire(lang))
    }
}

impl From<ReadError> for Error {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Frame(e) => Error::Frame(e),
            ReadError::Deadline(d) => Error::FrameDeadline {
                seconds: d.as_secs(),
            },
            ReadError::Io(e) => Error::io("connection", e),
        }
    }
}

/// The reading half of a framed connection.
pub struct FrameReader<R> {
    reader: R,
    decoder: FrameDecoder,
    buf: Box<[u8]>,
    /// How long a frame may take once its first byte is in; `None`: no limit.
    deadline: Option<Duration>,
    /// When the frame now arriving must be complete; `None` between frames.
    due: Option<tokio::time::Instant>,
}

impl<R> FrameReader<R> {
    /// Reads frames of at most [`MAX_FRAME`](card_agent_protocol::frame::MAX_FRAME) bytes
    /// from `reader`, with no deadline.
    pub fn new(reader: R) -> Self {
        Self::with_limit(reader, card_agent_protocol::frame::MAX_FRAME)
    }

    /// Reads frames of at most `limit` bytes (a client that expects only short answers).
    pub fn with_limit(reader: R, limit: usize) -> Self {
        FrameReader {
            reader,
            decoder: FrameDecoder::with_limit(limit),
            buf: vec![0; READ_CHUNK].into_boxed_slice(),
            deadline: None,
            due: None,
        }
    }

    /// Limits how long a frame may take to arrive once its first byte has (the async reader
    /// only; a blocking reader uses its socket's read timeout). An idle stream between frames
    /// has no limit.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Bytes of an unfinished frame received so far.
    pub fn buffered(&self) -> usize {
        self.decoder.buffered()
    }

    /// Takes `n` bytes just read into the decoder and wipes them from the read buffer.
    /// Returns `false` at the end of input.
    fn absorb(&mut self, n: usize) -> bool {
        if n == 0 {
            return false;
        }
        let read = &mut self.buf[..n.min(READ_CHUNK)];
        self.decoder.push(read);
        read.zeroize();
        true
    }

    /// At the end of input: a clean end between frames, or the cut frame.
    fn at_end(&mut self) -> Result<Option<&[u8]>, ReadError> {
        self.decoder.finish()?;
        Ok(None)
    }

    /// The frame that [`FrameDecoder::frame_ready`] found whole.
    fn take(&mut self) -> Result<Option<&[u8]>, ReadError> {
        self.due = None;
        Ok(self.decoder.next_frame_ref()?)
    }
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// The next frame's payload, lent until the next call; `Ok(None)` when the stream ended
    /// cleanly between frames. Cancel-safe.
    pub async fn read_frame(&mut self) -> Result<Option<&[u8]>, ReadError> {
        loop {
            if self.decoder.frame_ready()? {
                return self.take();
            }
            let due = match self.deadline {
                Some(limit) if self.decoder.buffered() > 0 => Some(
                    *self
                        .due
                        .get_or_insert_with(|| tokio::time::Instant::now() + limit),
                ),
                _ => None,
            };
            let read = self.reader.read(&mut self.buf);
            let n = match due {
                None => read.await?,
                Some(due) => match tokio::time::timeout_at(due, read).await {
                    Ok(read) => read?,
                    Err(_) => return Err(ReadError::Deadline(self.deadline.unwrap_or_default())),
                },
            };
            if !self.absorb(n) {
                return self.at_end();
            }
        }
    }
}

impl<R: std::io::Read> FrameReader<R> {
    /// Like [`read_frame`](Self::read_frame), for a blocking reader (the doctor's probe).
    pub fn read_frame_blocking(&mut self) -> Result<Option<&[u8]>, ReadError> {
        loop {
            if self.decoder.frame_ready()? {
                return self.take();
            }
            let n = self.reader.read(&mut self.buf)?;
            if !self.absorb(n) {
                return self.at_end();
            }
        }
    }
}

impl<R> Drop for FrameReader<R> {
    fn drop(&mut self) {
        // Each read is wiped once absorbed; this covers a read cut short by a panic.
        self.buf.zeroize();
    }
}

/// The writing half of a framed connection.
pub struct FrameWriter<W> {
    writer: W,
    limit: usize,
}

impl<W> FrameWriter<W> {
    /// Writes frames of at most [`MAX_FRAME`](card_agent_protocol::frame::MAX_FRAME) bytes.
    pub fn new(writer: W) -> Self {
        Self::with_limit(writer, card_agent_protocol::frame::MAX_FRAME)
    }

    /// Writes frames of at most `limit` bytes (the browser's
    /// [`MAX_BROWSER_MESSAGE`](card_agent_protocol::frame::MAX_BROWSER_MESSAGE)).
    pub fn with_limit(writer: W, limit: usize) -> Self {
        FrameWriter { writer, limit }
    }
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// Writes one frame: the length prefix, then `payload` itself (no copy is made).
    pub async fn write_frame(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let header = frame::header(payload.len(), self.limit).map_err(refused)?;
        self.writer.write_all(&header).await?;
        self.writer.write_all(payload).await?;
        self.writer.flush().await
    }

    /// Ends the sending side (the peer reads a clean end of input).
    pub async fn shutdown(&mut self) -> std::io::Result<()> {
        self.writer.shutdown().await
    }
}

impl<W: std::io::Write> FrameWriter<W> {
    /// Like [`write_frame`](Self::write_frame), for a blocking writer.
    pub fn write_frame_blocking(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let header = frame::header(payload.len(), self.limit).map_err(refused)?;
        self.writer.write_all(&header)?;
        self.writer.write_all(payload)?;
        self.writer.flush()
    }
}

/// A frame the codec refuses to send, as the I/O error a writer returns.
fn refused(e: FrameError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
}

#[cfg(test)]
#[path = "framed_tests.rs"]
mod tests;
