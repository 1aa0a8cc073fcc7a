//! TensorBoard event files for every writer of the project (the trainer, PPO).
//!
//! Each invocation writes a new event file, named to sort after every file already in its
//! folder (TensorBoard reads a run's files in name order). Its first events are the file
//! version `brain.Event:2` and a `SessionLog` START at the first step this invocation
//! writes; TensorBoard then drops every event of the earlier files at that step or later
//! (logged after a checkpoint by an invocation that was killed), so each step shows once.
//! Write errors are returned, not panics.

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

/// An event file that could not be written; names the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct EventLogError {
    pub path: PathBuf,
    pub message: String,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> EventLogError {
    EventLogError { path: path.to_path_buf(), message: e.to_string() }
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl EventLog {
    /// A new event file in `dir` whose events replace every earlier one from step
    /// `first_step` on.
    pub fn create(dir: &Path, first_step: usize) -> Result<Self, EventLogError> {
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

    pub fn scalar(&mut self, tag: &str, value: f32, step: usize) -> Result<(), EventLogError> {
        let mut event = Event::new();
        event.set_summary(tensorboard_rs::summary::scalar(tag, value));
        self.write(event, step)
    }

    /// A text summary (TensorBoard's Text tab renders it as markdown): a scalar string tensor
    /// tagged for the `text` plugin, as `tf.summary.text` writes it (tensorboard-rs has no
    /// text summaries).
    pub fn text(&mut self, tag: &str, text: &str, step: usize) -> Result<(), EventLogError> {
        use tensorboard_proto::summary::{
            Summary, Summary_Value, SummaryMetadata, SummaryMetadata_PluginData,
        };
        use tensorboard_proto::tensor::TensorProto;
        use tensorboard_proto::tensor_shape::TensorShapeProto;
        use tensorboard_proto::types::DataType;
        let mut plugin = SummaryMetadata_PluginData::new();
        plugin.set_plugin_name("text".into());
        let mut metadata = SummaryMetadata::new();
        metadata.set_plugin_data(plugin);
        let mut tensor = TensorProto::new();
        tensor.set_dtype(DataType::DT_STRING);
        tensor.set_tensor_shape(TensorShapeProto::new());
        tensor.mut_string_val().push(text.as_bytes().to_vec());
        let mut value = Summary_Value::new();
        value.set_tag(tag.into());
        value.set_metadata(metadata);
        value.set_tensor(tensor);
        let mut summary = Summary::new();
        summary.mut_value().push(value);
        let mut event = Event::new();
        event.set_summary(summary);
        self.write(event, step)
    }

    fn write(&mut self, mut event: Event, step: usize) -> Result<(), EventLogError> {
        event.set_wall_time(now());
        event.set_step(step as i64);
        let bytes = event.write_to_bytes().map_err(|e| io_err(&self.path, e))?;
        self.writer.write(&bytes).map_err(|e| io_err(&self.path, e))
    }

    pub fn flush(&mut self) -> Result<(), EventLogError> {
        self.writer.flush().map_err(|e| io_err(&self.path, e))
    }
}
