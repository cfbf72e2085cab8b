//! A virtual smart card for vpcd, the virtual reader driver of pcscd.
//!
//! vpcd listens on TCP (35963 for "Virtual PCD 00 00", 35964 for "Virtual PCD 00 01"); a card
//! is a client of that port. Connecting inserts the card, closing the socket removes it. Every
//! frame, both ways, is a 2-byte big-endian length then the payload. A 1-byte payload from vpcd
//! is a control message (0x00 power off, 0x01 power on, 0x02 reset, 0x04 "send your ATR"; only
//! the last one is answered); anything longer is a command APDU, answered with data + SW1 SW2.
//!
//! pcscd notices a card on its next presence poll (a fraction of a second), not when
//! [`VirtualCard::insert`] returns: tests wait for the reader to show it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// vpcd port of the reader "Virtual PCD 00 00".
pub const PORT_0: u16 = 35963;
/// vpcd port of the reader "Virtual PCD 00 01".
pub const PORT_1: u16 = 35964;
/// Name pcscd gives the reader behind [`PORT_0`].
pub const READER_0: &str = "Virtual PCD 00 00";
/// Name pcscd gives the reader behind [`PORT_1`].
pub const READER_1: &str = "Virtual PCD 00 01";

/// vpcd control message: power off.
pub const CTRL_OFF: u8 = 0x00;
/// vpcd control message: power on.
pub const CTRL_ON: u8 = 0x01;
/// vpcd control message: reset.
pub const CTRL_RESET: u8 = 0x02;
/// vpcd control message: send the ATR.
pub const CTRL_ATR: u8 = 0x04;

/// vpcd accepts one card per port and queues the next in a tiny backlog; past it a connect
/// would hang in SYN retries, so give up after this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A card in a vpcd reader, served by a thread, until removed or dropped.
#[derive(Debug)]
pub struct VirtualCard {
    stream: TcpStream,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl VirtualCard {
    /// Inserts a card with this ATR that answers APDUs with [`respond`].
    pub fn insert(port: u16, atr: &[u8]) -> io::Result<VirtualCard> {
        Self::insert_with(port, atr, respond)
    }

    /// Inserts a card with this ATR that answers each command APDU with `handler` (which
    /// returns data + SW1 SW2).
    pub fn insert_with(
        port: u16,
        atr: &[u8],
        handler: impl FnMut(&[u8]) -> Vec<u8> + Send + 'static,
    ) -> io::Result<VirtualCard> {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let stream = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot reach vpcd on {address} (is pcscd with vsmartcard-vpcd running?): {e}"
                ),
            )
        })?;
        stream.set_nodelay(true)?;
        let served = stream.try_clone()?;
        let atr = atr.to_vec();
        let thread = thread::Builder::new()
            .name(format!("virtual-card-{port}"))
            .spawn(move || serve(served, &atr, handler))?;
        Ok(VirtualCard {
            stream,
            thread: Some(thread),
        })
    }

    /// Removes the card (closes the connection) and waits for its thread.
    pub fn remove(mut self) {
        self.close();
    }

    /// Keeps the card in until vpcd hangs up (pcscd stopping, or the port's reader going
    /// away); returns why the connection ended.
    pub fn wait(mut self) -> io::Result<()> {
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the virtual card thread panicked"))),
            None => Ok(()),
        }
    }

    fn close(&mut self) {
        // Shutting down wakes the thread's blocking read with an end of stream.
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for VirtualCard {
    fn drop(&mut self) {
        self.close();
    }
}

/// Serves vpcd until it (or [`VirtualCard::close`]) ends the connection. Generic over the
/// stream so that the fuzz harness drives it from memory.
pub(crate) fn serve<S: Read + Write>(
    mut stream: S,
    atr: &[u8],
    mut handler: impl FnMut(&[u8]) -> Vec<u8>,
) -> io::Result<()> {
    while let Some(message) = read_frame(&mut stream)? {
        match message.as_slice() {
            [CTRL_ATR] => write_frame(&mut stream, atr)?,
            // Power off, power on, reset and anything unknown need no answer.
            [_] => {}
            [] => {}
            apdu => write_frame(&mut stream, &handler(apdu))?,
        }
    }
    Ok(())
}

/// One frame; `None` on a clean end of stream before a frame starts.
pub(crate) fn read_frame(stream: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut length = [0u8; 2];
    match stream.read(&mut length[..1])? {
        0 => return Ok(None),
        _ => stream.read_exact(&mut length[1..])?,
    }
    let mut payload = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut payload)?;
    Ok(Some(payload))
}

pub(crate) fn write_frame(stream: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let length = u16::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "frame over 65535 bytes"))?;
    let mut frame = Vec::with_capacity(payload.len() + 2);
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(payload);
    stream.write_all(&frame)
}

/// SW 9000: success.
pub const SW_OK: [u8; 2] = [0x90, 0x00];
/// SW 6700: wrong length.
pub const SW_WRONG_LENGTH: [u8; 2] = [0x67, 0x00];
/// SW 6A82: file not found.
pub const SW_FILE_NOT_FOUND: [u8; 2] = [0x6A, 0x82];
/// SW 6D00: instruction not supported.
pub const SW_INS_NOT_SUPPORTED: [u8; 2] = [0x6D, 0x00];

/// The default card: SELECT of the MF (3F00) succeeds so probing tools are content, SELECT of
/// anything else is "file not found", every other instruction "not supported".
pub fn respond(apdu: &[u8]) -> Vec<u8> {
    const INS_SELECT: u8 = 0xA4;
    let [_cla, ins, p1, _p2, rest @ ..] = apdu else {
        return SW_WRONG_LENGTH.to_vec();
    };
    if *ins != INS_SELECT {
        return SW_INS_NOT_SUPPORTED.to_vec();
    }
    // Short APDUs only: case 1 (no body), case 2 (Le only), case 3/4 (Lc, data, maybe Le).
    let data = match rest {
        [] | [_] => &[][..],
        [lc, body @ ..] if body.len() >= usize::from(*lc) => &body[..usize::from(*lc)],
        _ => return SW_WRONG_LENGTH.to_vec(),
    };
    // The MF by its identifier (P1 00 or 08, data 3F00) or, per ISO 7816-4, P1 00 without data.
    let selects_mf = matches!((*p1, data), (0x00 | 0x08, [0x3F, 0x00]) | (0x00, []));
    if selects_mf {
        SW_OK.to_vec()
    } else {
        SW_FILE_NOT_FOUND.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn select_of_the_mf_succeeds() {
        for apdu in [
            &[0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00][..],
            &[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00, 0x00],
            &[0x80, 0xA4, 0x08, 0x00, 0x02, 0x3F, 0x00],
            &[0x00, 0xA4, 0x00, 0x00],
            &[0x00, 0xA4, 0x00, 0x00, 0x00],
        ] {
            assert_eq!(respond(apdu), SW_OK, "{apdu:02X?}");
        }
    }

    #[test]
    fn select_of_anything_else_is_file_not_found() {
        assert_eq!(
            respond(&[0x00, 0xA4, 0x00, 0x00, 0x02, 0x50, 0x30]),
            SW_FILE_NOT_FOUND
        );
        let aid = hex::decode("00A4040010A0000002830000062201696400010101").unwrap();
        assert_eq!(respond(&aid), SW_FILE_NOT_FOUND);
    }

    #[test]
    fn other_instructions_and_bad_lengths() {
        assert_eq!(
            respond(&[0x00, 0xB0, 0x00, 0x00, 0x10]),
            SW_INS_NOT_SUPPORTED
        );
        assert_eq!(
            respond(&[0x00, 0x20, 0x00, 0x81, 0x02, 0x31, 0x32]),
            SW_INS_NOT_SUPPORTED
        );
        assert_eq!(respond(&[0x00, 0xA4, 0x00]), SW_WRONG_LENGTH);
        assert_eq!(
            respond(&[0x00, 0xA4, 0x00, 0x00, 0x05, 0x3F]),
            SW_WRONG_LENGTH
        );
    }

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &[CTRL_ATR]).unwrap();
        write_frame(&mut wire, &[0x00, 0xA4, 0x00, 0x00]).unwrap();
        assert_eq!(wire[..3], [0x00, 0x01, CTRL_ATR]);
        let mut reader = Cursor::new(wire);
        assert_eq!(read_frame(&mut reader).unwrap(), Some(vec![CTRL_ATR]));
        assert_eq!(
            read_frame(&mut reader).unwrap(),
            Some(vec![0x00, 0xA4, 0x00, 0x00])
        );
        assert_eq!(read_frame(&mut reader).unwrap(), None);
        // A frame cut short is an error, not an end.
        let err = read_frame(&mut Cursor::new(vec![0x00, 0x05, 0x01])).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
