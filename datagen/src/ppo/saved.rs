//! A trained policy on disk: `policy.safetensors` (the actor-critic weights, named as the
//! module tree) and `policy.json` ([`PolicyMeta`]: config, observation normalisation, action
//! space, evaluated return, env id, task, seed, tool version). Both are written to a temporary
//! name and renamed, so a killed run never leaves a file that looks complete.

use std::collections::HashMap;
use std::path::Path;

use envs::{Space, Task};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::PpoError;
use super::config::PpoConfig;
use super::normalize::RunningMeanStd;
use super::policy::ActorCritic;
use histories::fsio::write_atomic_with;

/// Version of the policy file pair; bumped on any incompatible change.
pub const POLICY_FORMAT_VERSION: u32 = 1;
/// Weights file name inside a policy folder.
pub const WEIGHTS_FILE: &str = "policy.safetensors";
/// Metadata file name inside a policy folder.
pub const META_FILE: &str = "policy.json";

/// Everything needed to rebuild and judge a policy, next to its weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyMeta {
    pub format_version: u32,
    /// `datagen` crate version that wrote the file.
    pub tool_version: String,
    pub env_id: String,
    pub task: Task,
    pub seed: u64,
    pub config: PpoConfig,
    pub observation_dim: usize,
    pub action_space: Space,
    /// Observation statistics the policy was trained with (none: raw observations).
    pub obs_norm: Option<RunningMeanStd>,
    /// Mean deterministic return over `eval_episodes` episodes after training.
    pub eval_mean_return: f64,
    pub eval_std_return: f64,
    pub eval_episodes: usize,
    /// Env steps trained and wall time over every attempt run, for time-to-solve figures.
    pub train_steps: usize,
    pub train_seconds: f64,
    /// Which of the config's `attempts` this policy is (1-based); `seed` is that attempt's.
    #[serde(default = "first_attempt")]
    pub attempt: usize,
}

fn first_attempt() -> usize {
    1
}

/// A policy with its metadata: what `icrl ppo` writes and data generation loads.
pub struct TrainedPolicy {
    pub meta: PolicyMeta,
    pub net: ActorCritic,
}

impl TrainedPolicy {
    /// Normalise raw observation rows in place with the saved statistics (if any).
    pub fn normalize_obs(&self, rows: &mut [f32]) {
        if let Some(stats) = &self.meta.obs_norm {
            stats.normalize(rows, self.meta.config.clip_obs);
        }
    }

    /// Write `dir/policy.safetensors` and `dir/policy.json` (creating `dir`).
    pub fn save(&self, dir: &Path) -> Result<(), PpoError> {
        std::fs::create_dir_all(dir).map_err(|e| PpoError::io(dir, e))?;
        let weights = dir.join(WEIGHTS_FILE);
        let named: Vec<(String, Tensor)> = self.net.vs.variables().into_iter().collect();
        write_atomic_with(
            &weights,
            |tmp| {
                Tensor::write_safetensors(&named, tmp)
                    .map_err(|e| PpoError::file(tmp, format!("writing weights: {e}")))
            },
            |e| PpoError::io(&weights, e),
        )?;
        let meta = dir.join(META_FILE);
        let json = serde_json::to_string_pretty(&self.meta)
            .map_err(|e| PpoError::file(&meta, format!("serialising metadata: {e}")))?;
        write_atomic_with(
            &meta,
            |tmp| std::fs::write(tmp, &json).map_err(|e| PpoError::io(tmp, e)),
            |e| PpoError::io(&meta, e),
        )
    }

    /// Read a policy folder written by [`TrainedPolicy::save`], checking the metadata and
    /// that every weight is present, of the expected shape and finite.
    pub fn load(dir: &Path) -> Result<Self, PpoError> {
        let meta = Self::read_meta(dir)?;
        // The initial weights are overwritten below; any seed will do.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let net = ActorCritic::new(
            meta.observation_dim,
            &meta.action_space,
            meta.config.hidden,
            meta.config.init_log_std,
            meta.config.use_sde,
            &mut rng,
        )?;
        let weights_path = dir.join(WEIGHTS_FILE);
        if !weights_path.is_file() {
            return Err(PpoError::file(&weights_path, "weights file missing".into()));
        }
        let stored: HashMap<String, Tensor> = Tensor::read_safetensors(&weights_path)
            .map_err(|e| PpoError::file(&weights_path, format!("not a safetensors file: {e}")))?
            .into_iter()
            .collect();
        copy_weights(&net, &stored).map_err(|reason| PpoError::file(&weights_path, reason))?;
        Ok(Self { meta, net })
    }
}

impl TrainedPolicy {
    /// The checked metadata of a policy folder, without its weights (a quick check that a
    /// folder holds a policy, and for which env).
    pub fn read_meta(dir: &Path) -> Result<PolicyMeta, PpoError> {
        let meta_path = dir.join(META_FILE);
        let text = std::fs::read_to_string(&meta_path).map_err(|e| PpoError::io(&meta_path, e))?;
        let meta: PolicyMeta = serde_json::from_str(&text)
            .map_err(|e| PpoError::file(&meta_path, format!("not a policy metadata file: {e}")))?;
        check_meta(&meta).map_err(|reason| PpoError::file(&meta_path, reason))?;
        Ok(meta)
    }
}

fn check_meta(meta: &PolicyMeta) -> Result<(), String> {
    if meta.format_version != POLICY_FORMAT_VERSION {
        return Err(format!(
            "format_version {} is not supported (expected {POLICY_FORMAT_VERSION})",
            meta.format_version
        ));
    }
    meta.config.validate().map_err(|e| format!("config: {e}"))?;
    if meta.observation_dim == 0 {
        return Err("observation_dim must be at least 1".into());
    }
    if let Some(stats) = &meta.obs_norm {
        if stats.dim() != meta.observation_dim || !stats.is_valid() {
            return Err(format!(
                "obs_norm must hold finite statistics of dimension {}",
                meta.observation_dim
            ));
        }
    }
    Ok(())
}

fn copy_weights(net: &ActorCritic, stored: &HashMap<String, Tensor>) -> Result<(), String> {
    let mut variables = net.vs.variables();
    if let Some(extra) = stored.keys().find(|k| !variables.contains_key(*k)) {
        return Err(format!("unexpected tensor `{extra}` (does the metadata match the weights?)"));
    }
    for (name, var) in variables.iter_mut() {
        let src = stored.get(name).ok_or_else(|| format!("tensor `{name}` missing"))?;
        if src.size() != var.size() {
            return Err(format!(
                "tensor `{name}` has shape {:?}, expected {:?}",
                src.size(),
                var.size()
            ));
        }
        let src = src.to_kind(Kind::Float);
        if !bool::try_from(src.isfinite().all()).unwrap_or(false) {
            return Err(format!("tensor `{name}` holds NaN or infinite values"));
        }
        tch::no_grad(|| var.f_copy_(&src)).map_err(|e| format!("tensor `{name}`: {e}"))?;
    }
    Ok(())
}
