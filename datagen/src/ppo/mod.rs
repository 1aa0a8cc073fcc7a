//! Proximal Policy Optimization (Schulman et al. 2017), to train one demonstrator per
//! task. Read [`train`] top to bottom; the maths lives in small tested functions:
//!
//! - [`config`]: hyper-parameters, CleanRL's defaults and per-env presets;
//! - [`gae`]: GAE(lambda) bootstrapping through truncation, not through termination;
//! - [`loss`]: clipped surrogate, value clipping, approx_kl, clipfrac, explained variance;
//! - [`normalize`]: running observation normalisation and reward scaling;
//! - [`policy`]: the actor-critic in tch (64x64 tanh, orthogonal init, Gaussian, gSDE or
//!   categorical head): the `torch` engine, and the weights every run starts from and saves;
//! - [`native`]: the same actor-critic, losses and Adam in plain Rust (the default engine);
//! - [`vec_env`]: the envs crate's vector env plus episode returns;
//! - [`train`]: the rollout/update loop with TensorBoard metrics and a progress bar;
//! - [`eval`]: deterministic evaluation over K seeded episodes;
//! - [`saved`]: the policy on disk (safetensors + JSON), written atomically;
//! - [`demonstrator`]: a trained policy as a [`histories::Demonstrator`].

pub mod config;
pub mod demonstrator;
pub mod eval;
pub mod gae;
pub mod log;
pub mod loss;
pub mod native;
pub mod normalize;
pub mod policy;
pub mod saved;
pub mod train;
pub mod vec_env;

use std::path::{Path, PathBuf};

pub use config::{Backend, Hyperparams, PpoConfig};
pub use demonstrator::PpoDemonstrator;
pub use eval::{EvalResult, evaluate};
pub use saved::{PolicyMeta, TrainedPolicy};
pub use train::{TrainOutcome, TrainSpec, UpdateStats, attempt_seed, train};

/// Errors of PPO training and of policy files; each names the field, env or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum PpoError {
    #[error("invalid PPO config: {0}")]
    Config(String),
    #[error("PPO cannot train this env: {0}")]
    Unsupported(String),
    #[error(transparent)]
    Env(#[from] envs::EnvError),
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("policy file {path}: {reason}")]
    PolicyFile { path: PathBuf, reason: String },
    #[error("TensorBoard log {0}")]
    Log(#[from] histories::events::EventLogError),
}

impl PpoError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        PpoError::Io { path: path.to_path_buf(), source }
    }

    pub(crate) fn file(path: &Path, reason: String) -> Self {
        PpoError::PolicyFile { path: path.to_path_buf(), reason }
    }
}
