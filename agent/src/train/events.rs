//! `metrics.jsonl` across resumes: cut back to the checkpoint's step, as the run's
//! TensorBoard event files are ([`histories::events`]).

use std::path::{Path, PathBuf};

use histories::fsio::WriteError;

/// `metrics.jsonl` could not be read or cut back; names the file.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{}: line {line} is not a metrics record", path.display())]
    NotARecord { path: PathBuf, line: usize },
    #[error("{0}")]
    Write(WriteError),
}

/// Keep the lines of `path` (a `metrics.jsonl`) up to step `last`, rewriting it atomically
/// if any line goes; a half-written last line (a killed run) goes too. No file: nothing to
/// do.
pub fn truncate_metrics(path: &Path, last: usize) -> Result<(), MetricsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(MetricsError::Io { path: path.to_path_buf(), error }),
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut keep = String::new();
    for (i, line) in lines.iter().enumerate() {
        let step = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("step")?.as_u64());
        match step {
            Some(s) if s as usize <= last => {
                keep.push_str(line);
                keep.push('\n');
            }
            Some(_) => {}
            None if i + 1 == lines.len() => {}
            None => {
                return Err(MetricsError::NotARecord { path: path.to_path_buf(), line: i + 1 });
            }
        }
    }
    if keep != text {
        histories::fsio::write_atomic(path, keep.as_bytes()).map_err(MetricsError::Write)?;
    }
    Ok(())
}
