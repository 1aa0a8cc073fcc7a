//! Atomic file writes, the one way every crate of the workspace writes a file that a reader
//! (or a resumed run) may open: everything goes to a temporary file beside the target, which
//! is renamed over the target only when complete, so a killed process never leaves a file
//! that looks finished. The temporary file is [`temp_path`]: hidden, in the same folder (the
//! rename stays on one file system), named after the process (two processes writing the same
//! target never share one), and ending in the target's own name (writers that choose the
//! format by the extension, such as PNG plots, still see it).

use std::io;
use std::path::{Path, PathBuf};

/// Prefix of every temporary file name ([`temp_path`]).
pub const TEMP_PREFIX: &str = ".tmp-";

/// Writing or renaming the temporary file of [`write_atomic`] failed.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct WriteError {
    /// The target file.
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// The temporary file beside `path` that [`write_atomic`] and [`write_atomic_with`] write
/// first: `dir/.tmp-PID-NAME`.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!("{TEMP_PREFIX}{}-{name}", std::process::id()))
}

/// Whether `name` is a temporary file of [`temp_path`] (of any process), or of the older
/// `.NAME.tmp` form that dataset folders of earlier versions may still hold.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX) || (name.starts_with('.') && name.ends_with(".tmp"))
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_atomic_with(path, |tmp| std::fs::write(tmp, bytes), |e| e)
        .map_err(|source| WriteError { path: path.to_path_buf(), source })
}

/// Writes `path` atomically through `write`, which gets the temporary path to create (for
/// writers that need a path: HDF5, safetensors, PNG). Missing parent folders are created
/// first (an output path such as `--out newdir/q.safetensors` works). When `write` fails its
/// error is returned; when creating the folder or the rename fails, `rename_failed` turns the
/// I/O error into the caller's. Either way the temporary file is removed.
pub fn write_atomic_with<E>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
    rename_failed: impl FnOnce(io::Error) -> E,
) -> Result<(), E> {
    let folder = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => std::fs::create_dir_all(parent),
        None => Ok(()),
    };
    let tmp = temp_path(path);
    let result = match folder {
        Err(e) => Err(rename_failed(e)),
        Ok(()) => write(&tmp).and_then(|()| std::fs::rename(&tmp, path).map_err(rename_failed)),
    };
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn missing_parent_folders_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/deeper/a.json");
        write_atomic(&path, b"x").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"x");
        // A parent that is a file is an error naming the target.
        std::fs::write(dir.path().join("file"), b"").unwrap();
        let err = write_atomic(&dir.path().join("file/a.json"), b"x").unwrap_err();
        assert!(err.to_string().contains("file/a.json"), "{err}");
    }

    #[test]
    fn writes_replace_the_target_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(names(dir.path()), ["a.json"]);
    }

    #[test]
    fn a_failed_write_removes_its_temporary_file_and_keeps_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.png");
        write_atomic(&path, b"old").unwrap();
        let err = write_atomic_with(
            &path,
            |tmp| {
                assert!(tmp.to_string_lossy().ends_with(".png"), "{}", tmp.display());
                std::fs::write(tmp, b"half").unwrap();
                Err("failed")
            },
            |_| "rename",
        );
        assert_eq!(err, Err("failed"));
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["b.png"]);
    }

    #[test]
    fn a_failed_rename_is_the_callers_error() {
        let dir = tempfile::tempdir().unwrap();
        // A folder in the way: the rename of a file onto it fails.
        let path = dir.path().join("c");
        std::fs::create_dir(path.join("")).unwrap();
        std::fs::write(path.join("inside"), b"x").unwrap();
        let err = write_atomic(&path, b"new").unwrap_err();
        assert_eq!(err.path, path);
        assert_eq!(names(dir.path()), ["c"]);
    }

    #[test]
    fn temporary_names_are_recognised() {
        let tmp = temp_path(Path::new("/data/DarkRoom-v0__goal-1-1.h5"));
        let name = tmp.file_name().unwrap().to_string_lossy();
        assert!(is_temp_name(&name), "{name}");
        assert_eq!(tmp.parent(), Some(Path::new("/data")));
        assert!(is_temp_name(".DarkRoom-v0__goal-1-1.h5.tmp"));
        assert!(!is_temp_name("DarkRoom-v0__goal-1-1.h5"));
        assert!(!is_temp_name("manifest.json"));
    }
}
