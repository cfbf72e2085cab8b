//! Asking the running parts: the daemon on its socket, whoever holds the legacy port.
//! Short timeouts everywhere: a check must never hang on a stuck process.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::ipc::Endpoint;

/// Longest wait for a connection, a write or a read.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Most bytes read from a reply; the daemon's version answer and the legacy API's first page
/// are a few hundred bytes.
const MAX_REPLY: u64 = 64 * 1024;

/// What the daemon's socket said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DaemonFacts {
    /// A daemon answered `version`.
    Running {
        /// Its version.
        version: String,
        /// Its socket.
        socket: String,
    },
    /// Nobody listens on the socket.
    NotRunning {
        /// The socket.
        socket: String,
    },
    /// Something is there but does not answer as the daemon does.
    Broken {
        /// The socket.
        socket: String,
        /// What went wrong.
        reason: String,
    },
}

/// Who holds the legacy API's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PortFacts {
    /// `http_listen` is empty: the legacy API is turned off.
    Disabled,
    /// `http_listen` is not a loopback `address:port`.
    BadAddress {
        /// The configured value.
        address: String,
    },
    /// card-agent answers there.
    Ours {
        /// The address.
        address: String,
    },
    /// Another program answers there (or accepts and says nothing).
    Other {
        /// The address.
        address: String,
        /// `name (pid N)` when it can be found.
        holder: Option<String>,
    },
    /// Nothing listens there.
    Free {
        /// The address.
        address: String,
    },
}

/// Sends the daemon a `version` request, framed as on every channel (protocol/README.md).
#[cfg(unix)]
pub(crate) fn daemon(endpoint: &Endpoint) -> DaemonFacts {
    use std::os::unix::net::UnixStream;
    let socket = endpoint.socket.display().to_string();
    let mut stream = match UnixStream::connect(&endpoint.socket) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return DaemonFacts::NotRunning { socket };
        }
        Err(e) => {
            return DaemonFacts::Broken {
                socket,
                reason: e.to_string(),
            }
        }
    };
    match ask_version(&mut stream) {
        Ok(version) => DaemonFacts::Running { version, socket },
        Err(reason) => DaemonFacts::Broken { socket, reason },
    }
}

/// The daemon runs only on Unix so far.
#[cfg(not(unix))]
pub(crate) fn daemon(endpoint: &Endpoint) -> DaemonFacts {
    DaemonFacts::NotRunning {
        socket: endpoint.socket.display().to_string(),
    }
}

#[cfg(unix)]
fn ask_version(stream: &mut std::os::unix::net::UnixStream) -> Result<String, String> {
    use crate::framed::{FrameReader, FrameWriter};
    let text = |e: std::io::Error| e.to_string();
    stream.set_read_timeout(Some(TIMEOUT)).map_err(text)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(text)?;
    let request = serde_json::json!({"id": "doctor", "command": "version"}).to_string();
    FrameWriter::new(&*stream)
        .write_frame_blocking(request.as_bytes())
        .map_err(text)?;
    let mut frames = FrameReader::with_limit(&*stream, MAX_REPLY as usize);
    let mut read = 0u64;
    loop {
        let payload = frames
            .read_frame_blocking()
            .map_err(|e| e.to_string())?
            .ok_or("the connection closed without an answer")?;
        read += payload.len() as u64;
        if read > MAX_REPLY {
            return Err("the answer is too long".to_owned());
        }
        // Events may come first on a subscribed connection; this one is not subscribed, but
        // skipping anything that is not our answer costs nothing.
        let value: serde_json::Value =
            serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        if value["id"] != "doctor" {
            continue;
        }
        return value["result"]["version"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("unexpected answer: {}", shorten(&value.to_string())));
    }
}

/// Asks whoever listens on `http_listen` for `/`: card-agent's legacy API answers with a line
/// naming card-agent.
pub(crate) fn legacy_port(http_listen: &str) -> PortFacts {
    let configured = http_listen.trim();
    if configured.is_empty() {
        return PortFacts::Disabled;
    }
    let address = configured.to_owned();
    let Ok(addr) = configured.parse::<SocketAddr>() else {
        return PortFacts::BadAddress { address };
    };
    if !addr.ip().is_loopback() || addr.port() == 0 {
        return PortFacts::BadAddress { address };
    }
    let mut stream = match TcpStream::connect_timeout(&addr, TIMEOUT) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return PortFacts::Free { address };
        }
        Err(_) => return other(address, addr.port()),
    };
    match get_root(&mut stream, addr) {
        // Another user's program can answer "card-agent" too: it is ours only when the
        // listening socket is this user's.
        Some(body)
            if body.contains("card-agent")
                && crate::legacy_api::port_owner::foreign_holder(addr.port()).is_none() =>
        {
            PortFacts::Ours { address }
        }
        _ => other(address, addr.port()),
    }
}

fn other(address: String, port: u16) -> PortFacts {
    PortFacts::Other {
        address,
        holder: crate::legacy_api::port_owner::find(port),
    }
}

/// `GET /` over HTTP/1.1; the reply's text, or `None` when nothing sensible came back.
fn get_root(stream: &mut TcpStream, addr: SocketAddr) -> Option<String> {
    stream.set_read_timeout(Some(TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(TIMEOUT)).ok()?;
    let request =
        format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: card-agent-doctor\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut reply = Vec::new();
    // A read error after some bytes (a timeout on a server that keeps the connection open)
    // still leaves what was read.
    let _ = stream.take(MAX_REPLY).read_to_end(&mut reply);
    (!reply.is_empty()).then(|| String::from_utf8_lossy(&reply).into_owned())
}

fn shorten(text: &str) -> String {
    text.chars().take(200).collect()
}
