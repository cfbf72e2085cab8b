//! Private state files, one way: the per-user state directory is 0700 and every file in it
//! 0600 (they name the sites that used the card), and a file that is replaced is replaced
//! atomically and durably. The trusted-site approvals, the daemon's log and the native host's
//! record of the extension's last visit all go through here.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Replaces `path` with `contents` so that a reader (or a crash) sees the old file or the new
/// one, never a torn mixture: write a fresh temporary file in the same directory, fsync it,
/// rename it over the target, then fsync the directory so the rename itself is durable.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| Error::Internal(format!("{} has no file name", path.display())))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{}.{}.{nanos}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = write_new_private(&tmp, contents)
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|e| Error::io(path.display(), e));
    if result.is_err() {
        // Best effort: the error already explains what failed; a stale temp file is harmless.
        let _ = fs::remove_file(&tmp);
        return result;
    }
    #[cfg(unix)]
    if let Ok(d) = File::open(&dir) {
        // Failing here only weakens durability after a power cut; the data is written.
        let _ = d.sync_all();
    }
    Ok(())
}

fn write_new_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Creates the state directory (and missing parents) as 0700. An existing directory is left
/// as it is: it may be one the user shares on purpose, and changing its mode is not ours to do.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    if fs::symlink_metadata(dir).is_ok() {
        check_own(dir)?;
    }
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| Error::io(dir.display(), e))
}

/// Refuses a state file or directory that is a symbolic link or belongs to another user:
/// whoever controls it (or the link's target) could make sites trusted for this user, or read
/// which sites are. An existing directory is otherwise left as it is (it may be one the user
/// shares on purpose, and changing its mode is not ours to do).
pub fn check_own(path: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(path).map_err(|e| Error::io(path.display(), e))?;
    let refuse = |why: String| Err(Error::io(path.display(), io::Error::other(why)));
    if meta.file_type().is_symlink() {
        return refuse(
            "it is a symbolic link; card-agent keeps its state only in real files and folders"
                .to_owned(),
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.uid() != crate::legacy_api::port_owner::own_uid() {
            return refuse(format!("it belongs to another user (uid {})", meta.uid()));
        }
    }
    Ok(())
}

/// Opens `path` (0600 when created) for appending.
pub fn open_private_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}
