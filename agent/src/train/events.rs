//! `metrics.jsonl` across resumes: cut back to the checkpoint's step, as the run's
//! TensorBoard event files are ([`histories::events`]).

use std::path::Path;

fn io_err(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

/// Keep the lines of `path` (a `metrics.jsonl`) up to step `last`, rewriting it atomically
/// if any line goes; a half-written last line (a killed run) goes too. No file: nothing to
/// do.
pub fn truncate_metrics(path: &Path, last: usize) -> Result<(), String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(path, e)),
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
                return Err(io_err(path, format!("line {} is not a metrics record", i + 1)));
            }
        }
    }
    if keep != text {
        histories::fsio::write_atomic(path, keep.as_bytes()).map_err(|e| e.to_string())?;
    }
    Ok(())
}
