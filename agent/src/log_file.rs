//! The daemon's log file: `<per-user state dir>/log/agent.log` (on Linux
//! `~/.local/state/card-agent/log/agent.log`), so that a daemon started by a browser or the
//! tray, whose stderr goes nowhere, still leaves a record for the user (the tray's "Open log
//! folder") and for whoever helps them.
//!
//! Bounded and simple: when the file would grow past [`MAX_LOG_BYTES`] it is renamed to
//! `agent.log.1` (replacing the previous one) and a fresh file is started, so the logs never
//! take more than twice that. The directory is 0700 and the files 0600: the log names the sites
//! that used the card. Nothing logged anywhere in the agent carries a PIN.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Size at which the log is rotated.
pub const MAX_LOG_BYTES: u64 = 1024 * 1024;

/// The log file's name in [`crate::daemon::log_dir`].
pub const LOG_FILE_NAME: &str = "agent.log";

/// An append-only log file that rotates itself once it reaches a size limit. Writes are
/// expected to be whole log lines (the tracing formatter writes each event at once), so a
/// rotation never splits a line.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    limit: u64,
    file: File,
    size: u64,
}

impl RotatingFile {
    /// Opens (creating it and its directory) `dir/agent.log` for appending, rotating at
    /// [`MAX_LOG_BYTES`].
    pub fn open_in(dir: &Path) -> io::Result<RotatingFile> {
        Self::open(dir.join(LOG_FILE_NAME), MAX_LOG_BYTES)
    }

    /// Opens `path` for appending, rotating at `limit` bytes.
    pub fn open(path: PathBuf, limit: u64) -> io::Result<RotatingFile> {
        if let Some(dir) = path.parent() {
            crate::state_file::create_private_dir(dir).map_err(io::Error::other)?;
        }
        let file = crate::state_file::open_private_append(&path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path,
            limit,
            file,
            size,
        })
    }

    /// The previous log, kept after a rotation.
    pub fn previous_path(&self) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(".1");
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        fs::rename(&self.path, self.previous_path())?;
        self.file = crate::state_file::open_private_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size > 0 && self.size + buf.len() as u64 > self.limit {
            // A failed rotation (the directory went read-only, say) must not stop logging:
            // keep appending to the current file.
            let _ = self.rotate();
        }
        let n = self.file.write(buf)?;
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
// In tests a panic is the failure report; unwrap keeps the arrange/act/assert steps readable.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn appends_then_rotates_at_the_limit_keeping_one_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let log_dir = dir.path().join("state/card-agent/log");
        let path = log_dir.join(LOG_FILE_NAME);
        let mut log = RotatingFile::open(path.clone(), 100).unwrap();
        log.write_all(&[b'a'; 60]).unwrap();
        log.write_all(&[b'b'; 30]).unwrap();
        assert_eq!(fs::read(&path).unwrap().len(), 90);
        assert!(!log.previous_path().exists());

        // The next line would pass the limit: the file so far becomes agent.log.1.
        log.write_all(&[b'c'; 20]).unwrap();
        assert_eq!(fs::read(log.previous_path()).unwrap().len(), 90);
        assert_eq!(fs::read(&path).unwrap(), vec![b'c'; 20]);

        // A reopened log continues where it was, and a second rotation replaces agent.log.1.
        drop(log);
        let mut log = RotatingFile::open(path.clone(), 100).unwrap();
        log.write_all(&[b'd'; 70]).unwrap();
        assert_eq!(fs::read(&path).unwrap().len(), 90);
        log.write_all(&[b'e'; 11]).unwrap();
        assert_eq!(fs::read(log.previous_path()).unwrap().len(), 90);
        assert_eq!(fs::read(&path).unwrap(), vec![b'e'; 11]);

        // One line longer than the limit is still written whole.
        log.write_all(&[b'f'; 150]).unwrap();
        assert_eq!(fs::read(&path).unwrap(), vec![b'f'; 150]);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&log_dir), 0o700);
            assert_eq!(mode(&path), 0o600);
        }
    }
}
