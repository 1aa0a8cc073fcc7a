//! The run's TensorBoard event file and `metrics.jsonl` across resumes.
//!
//! Each invocation of a run writes a new event file in `RUN/tb/`, named to sort after every
//! file already there (TensorBoard reads a run's files in name order). Its first events are
//! the file version `brain.Event:2` and a `SessionLog` START at the first step this
//! invocation trains; TensorBoard then drops every event of the earlier files at that step
//! or later (logged after the checkpoint by an invocation that was killed), so each step
//! shows once. `metrics.jsonl` is cut back to the checkpoint's step the same way.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use protobuf::Message as _;
use tensorboard_proto::event::{Event, SessionLog, SessionLog_SessionStatus};
use tensorboard_rs::record_writer::RecordWriter;

/// What an event file's name starts with.
pub const EVENT_PREFIX: &str = "events.out.tfevents.";

/// An event file being written.
pub struct EventLog {
    path: PathBuf,
    writer: RecordWriter<BufWriter<File>>,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl EventLog {
    /// A new event file in `dir` whose events replace every earlier one from step
    /// `first_step` on.
    pub fn create(dir: &Path, first_step: usize) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        // The seconds field of the name: now, or past the newest file already there.
        let mut secs = now() as u64;
        for entry in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))?.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let t = name.strip_prefix(EVENT_PREFIX).and_then(|r| r.split('.').next());
            if let Some(t) = t.and_then(|t| t.parse::<u64>().ok()) {
                secs = secs.max(t + 1);
            }
        }
        let path = dir.join(format!("{EVENT_PREFIX}{secs:010}.icrl.{}", std::process::id()));
        let file = File::create_new(&path).map_err(|e| io_err(&path, e))?;
        let mut log = EventLog { path, writer: RecordWriter::new(BufWriter::new(file)) };
        let mut version = Event::new();
        version.set_file_version("brain.Event:2".into());
        log.write(version, 0)?;
        let mut start = SessionLog::new();
        start.set_status(SessionLog_SessionStatus::START);
        let mut event = Event::new();
        event.set_session_log(start);
        log.write(event, first_step)?;
        log.flush()?;
        Ok(log)
    }

    pub fn scalar(&mut self, tag: &str, value: f32, step: usize) -> Result<(), String> {
        let mut event = Event::new();
        event.set_summary(tensorboard_rs::summary::scalar(tag, value));
        self.write(event, step)
    }

    fn write(&mut self, mut event: Event, step: usize) -> Result<(), String> {
        event.set_wall_time(now());
        event.set_step(step as i64);
        let bytes = event.write_to_bytes().map_err(|e| io_err(&self.path, e))?;
        self.writer.write(&bytes).map_err(|e| io_err(&self.path, e))
    }

    pub fn flush(&mut self) -> Result<(), String> {
        self.writer.flush().map_err(|e| io_err(&self.path, e))
    }
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
        datagen::manifest::write_atomic(path, keep.as_bytes()).map_err(|e| e.to_string())?;
    }
    Ok(())
}
