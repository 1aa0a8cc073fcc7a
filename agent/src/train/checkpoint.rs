//! Checkpoints: weights (with the ReMoE controllers), optimizer moments, step and sampler RNG
//! state, in `RUN/checkpoint/`. Written into a temporary folder first and swapped in by
//! renames, so a crash leaves either the old or the new checkpoint, never half of one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use crate::model::ModelError;

pub const CHECKPOINT_DIR: &str = "checkpoint";
pub const MODEL_FILE: &str = "model.safetensors";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub const STATE_FILE: &str = "state.json";

/// A checkpoint that could not be written or read (the message names the file or folder),
/// or whose contents do not fit the run.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{}: {error}", path.display())]
    Json { path: PathBuf, error: serde_json::Error },
    #[error("{}: {error}", path.display())]
    Tensors { path: PathBuf, error: tch::TchError },
    /// The model's weights could not be saved.
    #[error("{0}")]
    Model(ModelError),
    /// `state.json`'s sampler state does not parse (names the field).
    #[error("{0}")]
    State(String),
    /// The optimizer moments do not fit the model (names the moment).
    #[error("{0}")]
    Optimizer(String),
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |error| CheckpointError::Io { path: path.to_path_buf(), error }
}

/// What `state.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimizer steps completed.
    pub step: usize,
    /// The batch sampler's ChaCha8 seed (hex) and word position (decimal), to resume the
    /// exact stream of windows.
    pub rng_seed: String,
    pub rng_word_pos: String,
}

impl TrainState {
    pub fn new(step: usize, rng: &ChaCha8Rng) -> Self {
        let seed: String = rng.get_seed().iter().map(|b| format!("{b:02x}")).collect();
        TrainState { step, rng_seed: seed, rng_word_pos: rng.get_word_pos().to_string() }
    }

    pub fn rng(&self) -> Result<ChaCha8Rng, CheckpointError> {
        use rand::SeedableRng;
        if self.rng_seed.len() != 64 {
            return Err(CheckpointError::State("rng_seed must be 64 hex digits".into()));
        }
        let mut seed = [0u8; 32];
        for (i, b) in seed.iter_mut().enumerate() {
            *b = u8::from_str_radix(&self.rng_seed[2 * i..2 * i + 2], 16)
                .map_err(|e| CheckpointError::State(format!("rng_seed: {e}")))?;
        }
        let mut rng = ChaCha8Rng::from_seed(seed);
        let word_pos = self.rng_word_pos.parse::<u128>();
        rng.set_word_pos(
            word_pos.map_err(|e| CheckpointError::State(format!("rng_word_pos: {e}")))?,
        );
        Ok(rng)
    }
}

/// The checkpoint folder of a run: `checkpoint/`, or the previous one if a crash happened
/// between the two renames of a save.
pub fn find(run: &Path) -> Option<PathBuf> {
    [CHECKPOINT_DIR, "checkpoint.old"]
        .iter()
        .map(|d| run.join(d))
        .find(|d| d.join(STATE_FILE).exists())
}

/// Save `model` (through `save_model`), the optimizer moments and the state.
pub fn save(
    run: &Path,
    save_model: impl FnOnce(&Path) -> Result<(), ModelError>,
    optimizer: Vec<(String, Tensor)>,
    state: &TrainState,
) -> Result<(), CheckpointError> {
    let tmp = run.join("checkpoint.tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io_at(&tmp))?;
    save_model(&tmp.join(MODEL_FILE)).map_err(CheckpointError::Model)?;
    let optimizer: Vec<(String, Tensor)> =
        optimizer.into_iter().map(|(n, t)| (n, t.to_device(Device::Cpu))).collect();
    let path = tmp.join(OPTIMIZER_FILE);
    Tensor::write_safetensors(&optimizer, &path)
        .map_err(|error| CheckpointError::Tensors { path, error })?;
    let path = tmp.join(STATE_FILE);
    let text = serde_json::to_string_pretty(state)
        .map_err(|error| CheckpointError::Json { path: path.clone(), error })?;
    std::fs::write(&path, text).map_err(io_at(&tmp))?;
    let (current, old) = (run.join(CHECKPOINT_DIR), run.join("checkpoint.old"));
    let _ = std::fs::remove_dir_all(&old);
    if current.exists() {
        std::fs::rename(&current, &old).map_err(io_at(&current))?;
    }
    std::fs::rename(&tmp, &current).map_err(io_at(&current))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// The folder of a run's snapshots.
pub const SNAPSHOT_DIR: &str = "snapshots";

/// The path of the model snapshot of `step` in `run`.
pub fn snapshot_path(run: &Path, step: usize) -> PathBuf {
    run.join(SNAPSHOT_DIR).join(format!("model-step{step}.safetensors"))
}

/// Save the model of `step` (through `save_model`) as a snapshot, atomically: written beside
/// its final name, then renamed.
pub fn save_snapshot(
    run: &Path,
    step: usize,
    save_model: impl FnOnce(&Path) -> Result<(), ModelError>,
) -> Result<PathBuf, CheckpointError> {
    let path = snapshot_path(run, step);
    let dir = run.join(SNAPSHOT_DIR);
    std::fs::create_dir_all(&dir).map_err(io_at(&dir))?;
    let tmp = dir.join(format!(".model-step{step}.safetensors.tmp"));
    save_model(&tmp).map_err(CheckpointError::Model)?;
    std::fs::rename(&tmp, &path).map_err(io_at(&path))?;
    Ok(path)
}

/// Read the optimizer moments and the state of a checkpoint folder.
pub fn load(dir: &Path) -> Result<(BTreeMap<String, Tensor>, TrainState), CheckpointError> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(io_at(&path))?;
    let state: TrainState = serde_json::from_str(&text)
        .map_err(|error| CheckpointError::Json { path: path.clone(), error })?;
    let path = dir.join(OPTIMIZER_FILE);
    let tensors = Tensor::read_safetensors(&path)
        .map_err(|error| CheckpointError::Tensors { path, error })?;
    Ok((tensors.into_iter().collect(), state))
}
