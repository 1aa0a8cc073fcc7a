//! One writer per folder: an advisory lock on `DIR/.icrl.lock`, held for the whole of a run
//! that writes into the folder (`icrl datagen`, `icrl train`), so a second run cannot, say,
//! delete the first one's temporary files. The lock file holds the holder's PID; the OS
//! releases the lock when the holder ends, however it ends.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside a locked folder.
pub const LOCK_FILE: &str = ".icrl.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{dir} is in use by another icrl process (PID {pid}); wait for it to finish or choose \
         another folder"
    )]
    Busy { dir: PathBuf, pid: String },
    #[error("{path}: cannot lock the folder: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// A held folder lock, released on drop.
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
}

impl FolderLock {
    /// Lock `dir` (which must exist) for this process, or say which process holds it.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io { path: path.clone(), source };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        if !try_lock(&file).map_err(io)? {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = if pid.trim().is_empty() { "unknown".into() } else { pid.trim().into() };
            return Err(LockError::Busy { dir: dir.to_path_buf(), pid });
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(FolderLock { _file: file })
    }
}

/// Take an exclusive lock on `file` without waiting: `Ok(false)` when another holds it.
#[cfg(unix)]
fn try_lock(file: &File) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on the descriptor of an open file; no memory is passed.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) { Ok(false) } else { Err(e) }
}

/// No advisory locks off Unix: every attempt succeeds.
#[cfg(not(unix))]
fn try_lock(_file: &File) -> std::io::Result<bool> {
    Ok(true)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// A second writer on a folder in use is refused, told the holder's PID; the folder is
    /// free again once the first lock is dropped.
    #[test]
    fn a_second_lock_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let first = FolderLock::acquire(dir.path()).unwrap();
        let e = FolderLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(e.contains(&format!("PID {}", std::process::id())), "{e}");
        assert!(e.contains(dir.path().to_str().unwrap()), "{e}");
        drop(first);
        FolderLock::acquire(dir.path()).unwrap();
    }
}
