//! Training metrics under CleanRL's names (`charts/episodic_return`, `losses/approx_kl`, ...),
//! keyed on the global step, written as TensorBoard event files in the run folder.

use std::path::Path;

use tensorboard_rs::summary_writer::SummaryWriter;

use super::PpoError;

/// A TensorBoard writer, or nothing when the run has no folder.
pub struct MetricLog {
    writer: Option<SummaryWriter>,
}

impl MetricLog {
    /// Event files go under `run_dir` (created here, so that a bad path is an error and not a
    /// panic inside the writer).
    pub fn new(run_dir: Option<&Path>) -> Result<Self, PpoError> {
        let writer = match run_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| PpoError::io(dir, e))?;
                Some(SummaryWriter::new(dir))
            }
            None => None,
        };
        Ok(Self { writer })
    }

    pub fn scalar(&mut self, tag: &str, value: f64, global_step: usize) {
        if let Some(w) = &mut self.writer {
            w.add_scalar(tag, value as f32, global_step);
        }
    }

    pub fn flush(&mut self) {
        if let Some(w) = &mut self.writer {
            w.flush();
        }
    }
}
