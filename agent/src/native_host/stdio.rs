//! The browser's end of the native host: stdin and stdout as async streams.
//!
//! Browsers start a native host with pipes on stdin and stdout. Tokio's `stdin()`/`stdout()`
//! do every read and write on a blocking thread of their own, so each frame would cross
//! threads twice more on its way through the host. On Unix, a pipe is instead registered
//! with the runtime's reactor like a socket: read and written on the relay's own thread.
//! Anything else (a file, a terminal, a socket in a test) keeps tokio's portable streams.

use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

/// The browser's input stream.
pub type BrowserIn = Pin<Box<dyn AsyncRead + Send>>;
/// The browser's output stream.
pub type BrowserOut = Pin<Box<dyn AsyncWrite + Send>>;

/// stdin and stdout, each as a pipe on the reactor when it is one.
pub fn browser_stdio() -> (BrowserIn, BrowserOut) {
    (input(), output())
}

#[cfg(unix)]
fn input() -> BrowserIn {
    use std::os::fd::AsFd as _;
    // A duplicate of fd 0: the reactor owns (and closes) its copy; std's stdin stays as it is.
    let pipe = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .and_then(tokio::net::unix::pipe::Receiver::from_owned_fd);
    match pipe {
        Ok(pipe) => Box::pin(pipe),
        Err(e) => {
            tracing::debug!(error = %e, "stdin is not a pipe; reading it on a blocking thread");
            Box::pin(tokio::io::stdin())
        }
    }
}

#[cfg(unix)]
fn output() -> BrowserOut {
    use std::os::fd::AsFd as _;
    let pipe = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .and_then(tokio::net::unix::pipe::Sender::from_owned_fd);
    match pipe {
        Ok(pipe) => Box::pin(pipe),
        Err(e) => {
            tracing::debug!(error = %e, "stdout is not a pipe; writing it on a blocking thread");
            Box::pin(tokio::io::stdout())
        }
    }
}

#[cfg(not(unix))]
fn input() -> BrowserIn {
    Box::pin(tokio::io::stdin())
}

#[cfg(not(unix))]
fn output() -> BrowserOut {
    Box::pin(tokio::io::stdout())
}
