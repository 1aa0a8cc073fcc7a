//! Training metrics under CleanRL's names (`charts/episodic_return`, `losses/approx_kl`, ...),
//! keyed on the global step, written as TensorBoard event files in the run folder.

use std::path::Path;

use super::PpoError;
use histories::events::EventLog;

/// A TensorBoard writer, or nothing when the run has no folder.
pub struct MetricLog {
    writer: Option<EventLog>,
}

impl MetricLog {
    /// Event files go under `run_dir` (created here; a bad path is an error).
    pub fn new(run_dir: Option<&Path>) -> Result<Self, PpoError> {
        let writer = run_dir.map(|dir| EventLog::create(dir, 0)).transpose()?;
        Ok(Self { writer })
    }

    pub fn scalar(&mut self, tag: &str, value: f64, global_step: usize) -> Result<(), PpoError> {
        match &mut self.writer {
            Some(w) => Ok(w.scalar(tag, value as f32, global_step)?),
            None => Ok(()),
        }
    }

    pub fn flush(&mut self) -> Result<(), PpoError> {
        match &mut self.writer {
            Some(w) => Ok(w.flush()?),
            None => Ok(()),
        }
    }
}
