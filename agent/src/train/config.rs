//! Training configuration: nested, serialisable, saved as `config.json` in the run folder
//! before step 0 so every run can be reproduced from its folder.

use serde::{Deserialize, Serialize};

use histories::dataset::ObsNorm;

use crate::model::{Config, ModelError};

/// A training config that cannot run or be written as `config.json`; the message names the
/// field (or flag) and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A field out of its range.
    #[error("{0}")]
    Field(String),
    /// The model's part of the config.
    #[error("{0}")]
    Model(ModelError),
    #[error("{0}")]
    Json(serde_json::Error),
    #[error("the config does not read back as written (config.json)")]
    NotAsWritten,
    #[error("the config would not read back from config.json: {0}")]
    ReadBack(serde_json::Error),
}

fn field(message: impl Into<String>) -> ConfigError {
    ConfigError::Field(message.into())
}

/// AdamW with warmup then cosine decay (Vintix's recipe by default).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    /// Peak learning rate.
    pub lr: f64,
    /// Learning rate at the end of the cosine decay.
    pub min_lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Decoupled weight decay, applied to matrices (Linear weights) only.
    pub weight_decay: f64,
    /// Fraction of the steps spent warming up linearly from 0.
    pub warmup_fraction: f64,
    /// Clip the global gradient norm to this (0: no clipping).
    pub grad_clip: f64,
    /// Micro-batches whose gradients are summed into one optimizer step.
    pub accumulation: usize,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            lr: 3e-4,
            min_lr: 0.0,
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8,
            weight_decay: 0.1,
            warmup_fraction: 0.005,
            grad_clip: 1.0,
            accumulation: 1,
        }
    }
}

impl OptimConfig {
    /// Learning rate at optimizer step `step` of `total`: linear warmup, then cosine to `min_lr`.
    pub fn lr_at(&self, step: usize, total: usize) -> f64 {
        let warmup = ((self.warmup_fraction * total as f64).ceil() as usize).max(1);
        if step < warmup {
            return self.lr * (step + 1) as f64 / warmup as f64;
        }
        let decay = total.saturating_sub(warmup).max(1);
        let progress = ((step - warmup) as f64 / decay as f64).min(1.0);
        self.min_lr
            + 0.5 * (self.lr - self.min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

/// What the model learns to predict at each step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionTarget {
    /// The action the noisy policy took (Algorithm Distillation): the model imitates the
    /// whole learning history, noise included.
    #[default]
    Taken,
    /// The demonstrator's own action at that observation (DPT, Vintix II): the model learns to
    /// act well given the history, whatever the noise made the history do.
    Demonstrator,
}

impl std::str::FromStr for ActionTarget {
    type Err = String;

    /// A flag value: `taken` or `demonstrator`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "taken" => Ok(ActionTarget::Taken),
            "demonstrator" => Ok(ActionTarget::Demonstrator),
            other => Err(format!("expected `taken` or `demonstrator`, got `{other}`")),
        }
    }
}

/// Everything that defines a training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The model, with the dataset's domain groups filled in.
    pub model: Config,
    /// Name of the model preset it came from.
    pub preset: String,
    pub optim: OptimConfig,
    /// The dataset folder.
    pub data: String,
    /// Train on these families of the dataset only (a specialist); empty: every family.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub families: Vec<String>,
    /// Dataset suite name (for the run name).
    pub suite: String,
    /// Optimizer steps.
    pub steps: usize,
    /// Sequences per micro-batch.
    pub batch_size: usize,
    /// Steps (timesteps = tokens) per sequence.
    pub context: usize,
    /// Keep only every k-th episode of each history (1: all), as Vintix did for some tasks.
    pub episode_sparsity: usize,
    /// Fraction of (task, history) pairs held out for validation.
    pub val_fraction: f64,
    /// Observation statistics: each task's own (`task`, Vintix) or pooled over the family
    /// (`family`); evaluation normalises the same way.
    #[serde(default)]
    pub obs_norm: ObsNorm,
    /// The training target: the action taken (AD) or the demonstrator's (DPT).
    #[serde(default)]
    pub target: ActionTarget,
    /// The training target of a domain group (by group name), where it differs from `target`.
    #[serde(default)]
    pub group_target: Vec<(String, ActionTarget)>,
    /// Validate every this many steps (0: only at the end).
    pub eval_every: usize,
    /// Validation batches per evaluation.
    pub eval_batches: usize,
    /// Write a checkpoint every this many steps (0: only at the end).
    pub checkpoint_every: usize,
    /// Also keep the model of every this many steps as `snapshots/model-stepN.safetensors`
    /// in the run folder (self-describing model files, for `icrl eval --model`), where the
    /// checkpoint keeps only the latest (0: none).
    #[serde(default)]
    pub snapshot_every: usize,
    /// Sampling weight of each domain group (by group name); groups not listed weigh by
    /// their number of training transitions.
    pub group_weights: Vec<(String, f64)>,
    /// Window length of a domain group (by group name), for groups whose evaluation runs
    /// longer than `context` (e.g. whole 30-episode histories); groups not listed use
    /// `context`. Such a group's micro-batch holds `batch_size * context / length` windows
    /// (at least one), so every micro-batch has about the same number of tokens.
    #[serde(default)]
    pub group_context: Vec<(String, usize)>,
    pub seed: u64,
    /// `cpu` or `cuda`.
    pub device: String,
}

impl TrainConfig {
    /// Check what a user can set; the message names the field and what was expected.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("steps", self.steps),
            ("batch_size", self.batch_size),
            ("context", self.context),
            ("episode_sparsity", self.episode_sparsity),
            ("optim.accumulation", self.optim.accumulation),
            ("eval_batches", self.eval_batches),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(field(format!("`{name}` must be at least 1")));
            }
        }
        self.check_finite()?;
        if !(0.0..0.9).contains(&self.val_fraction) {
            return Err(field(format!(
                "`val_fraction` must be in [0, 0.9), got {}",
                self.val_fraction
            )));
        }
        let o = &self.optim;
        if !(o.lr > 0.0 && o.lr.is_finite()) || o.min_lr < 0.0 || o.min_lr > o.lr {
            return Err(field(format!(
                "`optim.lr` must be > 0 and >= min_lr >= 0, got lr {} min_lr {}",
                o.lr, o.min_lr
            )));
        }
        if !(0.0..1.0).contains(&o.beta1) || !(0.0..1.0).contains(&o.beta2) {
            return Err(field("`optim.beta1` and `optim.beta2` must be in [0, 1)"));
        }
        if o.eps <= 0.0 {
            return Err(field(format!("`optim.eps` must be > 0, got {}", o.eps)));
        }
        if !(0.0..1.0).contains(&o.warmup_fraction) || o.weight_decay < 0.0 || o.grad_clip < 0.0 {
            return Err(field(
                "`optim.warmup_fraction` must be in [0, 1), weight_decay and grad_clip >= 0",
            ));
        }
        self.model.validate().map_err(ConfigError::Model)?;
        for (g, w) in &self.group_weights {
            if !(w.is_finite() && *w >= 0.0) {
                return Err(field(format!(
                    "group weight of `{g}` must be a finite number >= 0, got {w}"
                )));
            }
        }
        for (g, len) in &self.group_context {
            if *len == 0 {
                return Err(field(format!("group context of `{g}` must be at least 1")));
            }
        }
        Ok(())
    }

    /// The run's dataset: its folder, restricted to the run's families.
    pub fn open_data(
        &self,
    ) -> Result<histories::dataset::Dataset, histories::dataset::DatasetError> {
        histories::dataset::Dataset::open_families(std::path::Path::new(&self.data), &self.families)
    }

    /// The training target of the group named `group`.
    pub fn target_of(&self, group: &str) -> ActionTarget {
        self.group_target.iter().find(|(n, _)| n == group).map_or(self.target, |(_, t)| *t)
    }

    /// Every float a user can set is finite: a non-finite one would be written into
    /// `config.json` as `null`, which no later command can read back.
    fn check_finite(&self) -> Result<(), ConfigError> {
        let o = &self.optim;
        let floats = [
            ("val_fraction", self.val_fraction),
            ("optim.lr", o.lr),
            ("optim.min_lr", o.min_lr),
            ("optim.beta1", o.beta1),
            ("optim.beta2", o.beta2),
            ("optim.eps", o.eps),
            ("optim.weight_decay", o.weight_decay),
            ("optim.warmup_fraction", o.warmup_fraction),
            ("optim.grad_clip", o.grad_clip),
            ("model.remoe_lambda0", self.model.remoe_lambda0),
            ("model.remoe_alpha", self.model.remoe_alpha),
        ];
        match floats.iter().find(|(_, v)| !v.is_finite()) {
            Some((name, v)) => Err(field(format!("`{name}` must be a finite number, got {v}"))),
            None => Ok(()),
        }
    }

    /// The config as `config.json` text, checked to read back as this same config (so a
    /// run folder never holds a config that `--resume`, `eval` or `quantize` cannot use).
    pub fn to_json(&self) -> Result<String, ConfigError> {
        self.validate()?;
        let text = serde_json::to_string_pretty(self).map_err(ConfigError::Json)?;
        match serde_json::from_str::<TrainConfig>(&text) {
            Ok(back) if &back == self => Ok(text),
            Ok(_) => Err(ConfigError::NotAsWritten),
            Err(e) => Err(ConfigError::ReadBack(e)),
        }
    }

    /// Windows per micro-batch and steps per window of the group named `group`.
    pub fn batch_shape(&self, group: &str) -> (usize, usize) {
        match self.group_context.iter().find(|(n, _)| n == group) {
            Some(&(_, len)) => ((self.batch_size * self.context / len).max(1), len),
            None => (self.batch_size, self.context),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_context_keeps_tokens_per_batch() {
        let mut cfg: TrainConfig = serde_json::from_value(serde_json::json!({
            "model": Config::tiny(), "preset": "tiny", "optim": OptimConfig::default(),
            "data": "d", "suite": "s", "steps": 1, "batch_size": 8, "context": 600,
            "episode_sparsity": 1, "val_fraction": 0.1, "eval_every": 0, "eval_batches": 1,
            "checkpoint_every": 0, "group_weights": [], "seed": 0, "device": "cpu"
        }))
        .expect("a config without group_context still reads (it defaults to none)");
        assert_eq!(cfg.target, ActionTarget::Taken, "configs before --target trained on taken");
        cfg.group_target = vec![("long".into(), ActionTarget::Demonstrator)];
        assert_eq!(cfg.target_of("long"), ActionTarget::Demonstrator);
        assert_eq!(cfg.target_of("other"), ActionTarget::Taken);
        cfg.group_context = vec![("long".into(), 6000), ("mid".into(), 1200)];
        assert_eq!(cfg.batch_shape("other"), (8, 600));
        assert_eq!(cfg.batch_shape("long"), (1, 6000));
        assert_eq!(cfg.batch_shape("mid"), (4, 1200));
        assert!(cfg.validate().is_ok());
        cfg.group_context.push(("zero".into(), 0));
        assert!(cfg.validate().unwrap_err().to_string().contains("`zero`"));
    }

    fn tiny_config() -> TrainConfig {
        TrainConfig {
            model: Config::tiny(),
            preset: "tiny".into(),
            optim: OptimConfig::default(),
            data: "d".into(),
            families: vec![],
            suite: "s".into(),
            steps: 1,
            batch_size: 1,
            context: 8,
            episode_sparsity: 1,
            val_fraction: 0.1,
            obs_norm: ObsNorm::Task,
            target: ActionTarget::Taken,
            group_target: vec![],
            eval_every: 0,
            eval_batches: 1,
            checkpoint_every: 0,
            snapshot_every: 0,
            group_weights: vec![],
            group_context: vec![],
            seed: 0,
            device: "cpu".into(),
        }
    }

    /// `--grad-clip inf` used to pass and be written as `"grad_clip": null`, which no later
    /// command could read: every float must be finite, and the JSON must read back.
    #[test]
    fn non_finite_floats_are_refused_by_name() {
        let good = tiny_config();
        let text = good.to_json().unwrap();
        assert_eq!(serde_json::from_str::<TrainConfig>(&text).unwrap(), good);
        type Spoil = fn(&mut TrainConfig);
        let cases: [(&str, Spoil); 5] = [
            ("optim.grad_clip", |c| c.optim.grad_clip = f64::INFINITY),
            ("optim.weight_decay", |c| c.optim.weight_decay = f64::NAN),
            ("optim.min_lr", |c| c.optim.min_lr = f64::NAN),
            ("optim.eps", |c| c.optim.eps = f64::INFINITY),
            ("model.remoe_alpha", |c| c.model.remoe_alpha = f64::NAN),
        ];
        for (field, spoil) in cases {
            let mut cfg = good.clone();
            spoil(&mut cfg);
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains(field) && e.contains("finite"), "{field}: {e}");
            assert!(cfg.to_json().is_err(), "{field}");
        }
    }

    /// A suite named `../escaped` or `/abs` put its training runs outside `--runs-dir`.
    #[test]
    fn run_names_are_one_folder_inside_the_runs_folder() {
        let mut cfg = tiny_config();
        for suite in ["../escaped", "/abs", "a/../../b", ".."] {
            cfg.suite = suite.into();
            let name = crate::train::run_name(&cfg);
            let path = std::path::Path::new(&name);
            assert_eq!(path.components().count(), 1, "{suite}: {name}");
            assert!(path.is_relative() && !name.starts_with('.'), "{suite}: {name}");
        }
    }

    #[test]
    fn warmup_then_cosine() {
        let o = OptimConfig { lr: 1.0, min_lr: 0.1, warmup_fraction: 0.1, ..Default::default() };
        assert!((o.lr_at(0, 100) - 0.1).abs() < 1e-12);
        assert!((o.lr_at(9, 100) - 1.0).abs() < 1e-12);
        assert!((o.lr_at(10, 100) - 1.0).abs() < 1e-12);
        assert!((o.lr_at(55, 100) - 0.55).abs() < 1e-12);
        assert!((o.lr_at(100, 100) - 0.1).abs() < 1e-12);
        let lrs: Vec<f64> = (10..100).map(|s| o.lr_at(s, 100)).collect();
        assert!(lrs.windows(2).all(|w| w[1] <= w[0]));
    }
}
