//! The model's configuration: one serialisable struct, named presets, derived values as methods.

use serde::{Deserialize, Serialize};

use super::error::{ModelError, config_err};

/// The action space of a domain group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionSpec {
    /// A real vector of `dim` values; predicted as [`Config::action_head`] says.
    Continuous { dim: i64 },
    /// One of `n` actions; predicted as logits, trained with cross-entropy.
    Discrete { n: i64 },
}

impl ActionSpec {
    /// Width of the decoder's output: the action dimension or the number of logits.
    pub fn output_dim(&self) -> i64 {
        match *self {
            ActionSpec::Continuous { dim } => dim,
            ActionSpec::Discrete { n } => n,
        }
    }
}

/// A domain group: tasks that share observation and action spaces, and so share the
/// encoders and the action decoder. No task id is given to the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupSpec {
    /// A name for tables and logs, e.g. `mujoco-17-6`.
    pub name: String,
    /// Length of the (flat, f32) observation vector.
    pub obs_dim: i64,
    /// The action space.
    pub action: ActionSpec,
}

impl GroupSpec {
    fn continuous(name: &str, obs_dim: i64, act_dim: i64) -> Self {
        GroupSpec { name: name.into(), obs_dim, action: ActionSpec::Continuous { dim: act_dim } }
    }

    fn discrete(name: &str, obs_dim: i64, n: i64) -> Self {
        GroupSpec { name: name.into(), obs_dim, action: ActionSpec::Discrete { n } }
    }
}

/// How the decoder of a continuous group predicts its action.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionHead {
    /// The action itself, trained with MSE (Vintix): the mean of the data's actions given the
    /// context, so a deterministic agent. Trained on noise-distilled histories, whose actions
    /// are `(1 - eps) * pi(s) + eps * u`, it predicts `(1 - eps) * pi(s)`: the noise that
    /// explored in the data is averaged away.
    #[default]
    Deterministic,
    /// A Gaussian per action dimension: the decoder gives a mean and a log standard deviation
    /// (clamped to [`LOG_STD_RANGE`]), trained by the negative log-likelihood of the target
    /// and sampled at evaluation (the mean with `--greedy`): the spread of the data's actions
    /// at each point of a history, its exploration noise included, is kept.
    Gaussian,
}

/// How a group's previous reward becomes its part of the token: `Linear(1, reward_embed)`,
/// then this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardEncoder {
    /// The linear map alone: every reward stays visible to the model, whatever the
    /// initialisation. The presets' choice.
    Linear,
    /// The linear map, then LeakyReLU (slope 0.01 below zero), as every run before this
    /// field had; configs without the field read as this. With an embedding 2 wide it can
    /// hide the reward: when both units' pre-activations are negative over the family's
    /// rewards (at initialisation about 1 seed in 7 for rewards 0 and 1), rewards move the
    /// token by at most 1% of the weights and the gradient that could revive the units is
    /// scaled by 0.01 too. The quickstart trained with seed 1 ended that way and never used
    /// its rewards; so did the generalist's Acrobot and CartPole encoders.
    LeakyRelu,
}

impl RewardEncoder {
    /// The name configs and `--model reward_encoder=` use.
    pub fn name(self) -> &'static str {
        match self {
            RewardEncoder::Linear => "linear",
            RewardEncoder::LeakyRelu => "leaky_relu",
        }
    }

    /// What a config written before the field existed used.
    fn legacy() -> Self {
        RewardEncoder::LeakyRelu
    }
}

/// The range of a Gaussian head's log standard deviation: standard deviations from 0.0067
/// to 7.4 (actions of every family here lie within +-3).
pub const LOG_STD_RANGE: (f64, f64) = (-5.0, 2.0);

/// The token mixer of one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttentionKind {
    /// Lightning Attention-2: linear attention with a per-head decay (pattern letter `L`).
    Lightning,
    /// Causal softmax attention with ALiBi and a sliding window (pattern letter `S`).
    Softmax,
}

/// The feed-forward kind of every layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FfnKind {
    /// Linear-GELU-Linear (Vintix).
    Gelu,
    /// SwiGLU: (SiLU(x W1) * x W3) W2.
    Swiglu,
    /// ReMoE: ReLU-routed mixture of GELU experts.
    Remoe,
}

/// The model. Every field has a default in the presets; derived values are methods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Width of the residual stream (d_model).
    pub hidden: i64,
    /// Number of residual blocks.
    pub layers: i64,
    /// Attention heads per layer; `hidden` must be a multiple.
    pub heads: i64,
    /// Attention kind per layer, `L` (lightning) or `S` (softmax), repeated cyclically over
    /// the layers: `"L"` is pure lightning, `"S"` pure softmax, `"LLLLLLLS"` MiniMax's 7:1.
    pub pattern: String,
    /// Feed-forward kind.
    pub ffn: FfnKind,
    /// Inner width of the dense FFN, or of each expert for ReMoE.
    pub ffn_hidden: i64,
    /// ReMoE: number of experts E.
    pub experts: i64,
    /// ReMoE: the expected number of active experts k; the target sparsity is 1 - k/E.
    pub active_experts: i64,
    /// ReMoE: initial coefficient of the sparsity regulariser (lambda_0).
    pub remoe_lambda0: f64,
    /// ReMoE: multiplicative step of the coefficient controller (alpha).
    pub remoe_alpha: f64,
    /// Width of the reward embedding; observation and action take halves of the rest.
    pub reward_embed: i64,
    /// What follows the reward's linear map (see [`RewardEncoder`]). Configs from before this
    /// field read as `leaky_relu`, so their checkpoints compute what they were trained to.
    #[serde(default = "RewardEncoder::legacy")]
    pub reward_encoder: RewardEncoder,
    /// Hidden `[Linear(hidden, hidden), LeakyReLU]` layers of each action decoder.
    pub decoder_layers: i64,
    /// The decoder of the continuous groups: `deterministic` (the action, MSE) or `gaussian`
    /// (a mean and a log standard deviation, negative log-likelihood, sampled at evaluation).
    /// Configs from before this field read as `deterministic`.
    #[serde(default)]
    pub action_head: ActionHead,
    /// Lightning: block (chunk) length of the training form.
    pub lightning_block: i64,
    /// Softmax: each step attends to itself and the `softmax_window - 1` steps before it.
    pub softmax_window: i64,
    /// Softmax: queries are processed in chunks of this length (bounds the score matrix).
    pub softmax_chunk: i64,
    /// Training context length in steps (for presets and benchmarks; not a hard limit).
    pub context: i64,
    /// Domain groups, each with its own encoders and action decoder.
    pub groups: Vec<GroupSpec>,
}

/// Names accepted by [`Config::preset`].
pub const PRESETS: [&str; 4] = ["tiny", "small", "vintix-300m", "vintix-300m-remoe"];

impl Config {
    /// A preset by name (see [`PRESETS`]).
    pub fn preset(name: &str) -> Result<Self, ModelError> {
        match name {
            "tiny" => Ok(Self::tiny()),
            "small" => Ok(Self::small()),
            "vintix-300m" => Ok(Self::vintix_300m()),
            "vintix-300m-remoe" => Ok(Self::vintix_300m_remoe()),
            _ => Err(ModelError::UnknownPreset { name: name.into(), expected: PRESETS.join(", ") }),
        }
    }

    /// For tests: two layers (one of each attention kind), one continuous and one discrete group.
    pub fn tiny() -> Self {
        Config {
            hidden: 32,
            layers: 2,
            heads: 2,
            pattern: "LS".into(),
            ffn: FfnKind::Gelu,
            ffn_hidden: 64,
            experts: 4,
            active_experts: 1,
            remoe_lambda0: 1e-8,
            remoe_alpha: 1.2,
            reward_embed: 2,
            reward_encoder: RewardEncoder::Linear,
            decoder_layers: 1,
            action_head: ActionHead::Deterministic,
            lightning_block: 8,
            softmax_window: 16,
            softmax_chunk: 8,
            context: 64,
            groups: vec![
                GroupSpec::continuous("cont-5-3", 5, 3),
                GroupSpec::discrete("disc-4-5", 4, 5),
            ],
        }
    }

    /// The CPU quickstart: a few million parameters, 3 lightning : 1 softmax.
    pub fn small() -> Self {
        Config {
            hidden: 256,
            layers: 4,
            heads: 4,
            pattern: "LLLS".into(),
            ffn: FfnKind::Gelu,
            ffn_hidden: 1024,
            experts: 8,
            active_experts: 2,
            remoe_lambda0: 1e-8,
            remoe_alpha: 1.2,
            reward_embed: 2,
            reward_encoder: RewardEncoder::Linear,
            decoder_layers: 2,
            action_head: ActionHead::Deterministic,
            lightning_block: 64,
            softmax_window: 1024,
            softmax_chunk: 256,
            context: 1024,
            groups: vec![
                GroupSpec::discrete("dark-room", 2, 5),
                GroupSpec::continuous("mujoco-17-6", 17, 6),
            ],
        }
    }

    /// Vintix's shape (20 layers, hidden 1024, 16 heads of 64, GELU FFN 4096, 8192-step
    /// context) with MiniMax's 7 lightning : 1 softmax pattern, and six domain groups.
    ///
    /// The groups are Vintix's domains (MuJoCo locomotion bodies, Meta-World, Dark Room) by
    /// observation and action size, so that `icrl model info` counts the parameters of the
    /// model Vintix trained; no env here produces the MuJoCo or Meta-World ones yet. Training
    /// replaces a preset's groups with its dataset's (`agent::train::config_for`), so they
    /// never reach a trained model.
    pub fn vintix_300m() -> Self {
        Config {
            hidden: 1024,
            layers: 20,
            heads: 16,
            pattern: "LLLLLLLS".into(),
            ffn: FfnKind::Gelu,
            ffn_hidden: 4096,
            experts: 8,
            active_experts: 2,
            remoe_lambda0: 1e-8,
            remoe_alpha: 1.2,
            reward_embed: 2,
            reward_encoder: RewardEncoder::Linear,
            decoder_layers: 3,
            action_head: ActionHead::Deterministic,
            lightning_block: 256,
            softmax_window: 8192,
            softmax_chunk: 1024,
            context: 8192,
            groups: vec![
                GroupSpec::continuous("mujoco-17-6", 17, 6),
                GroupSpec::continuous("mujoco-11-3", 11, 3),
                GroupSpec::continuous("mujoco-27-8", 27, 8),
                GroupSpec::continuous("mujoco-376-17", 376, 17),
                GroupSpec::continuous("meta-world-39-4", 39, 4),
                GroupSpec::discrete("dark-room", 2, 5),
            ],
        }
    }

    /// [`Config::vintix_300m`] with ReMoE FFNs of the same total width: 8 experts of 512,
    /// 2 active on average (target sparsity 0.75).
    pub fn vintix_300m_remoe() -> Self {
        Config {
            ffn: FfnKind::Remoe,
            ffn_hidden: 512,
            experts: 8,
            active_experts: 2,
            ..Self::vintix_300m()
        }
    }

    /// Width of the decoder's output for `action`: the action dimension (deterministic), a
    /// mean and a log standard deviation per dimension (Gaussian), or the number of logits.
    pub fn decoder_width(&self, action: &ActionSpec) -> i64 {
        match (action, self.action_head) {
            (ActionSpec::Continuous { dim }, ActionHead::Gaussian) => 2 * dim,
            _ => action.output_dim(),
        }
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> i64 {
        self.hidden / self.heads
    }

    /// Width of the previous-action embedding.
    pub fn action_embed(&self) -> i64 {
        (self.hidden - self.reward_embed) / 2
    }

    /// Width of the observation embedding (takes the odd unit when there is one).
    pub fn obs_embed(&self) -> i64 {
        self.hidden - self.reward_embed - self.action_embed()
    }

    /// ReMoE's target sparsity, 1 - k/E.
    pub fn remoe_target_sparsity(&self) -> f64 {
        1.0 - self.active_experts as f64 / self.experts as f64
    }

    /// The attention kind of each layer, from `pattern` repeated cyclically.
    pub fn layer_kinds(&self) -> Vec<AttentionKind> {
        let letters: Vec<char> = self.pattern.chars().collect();
        (0..self.layers as usize)
            .map(|l| match letters.get(l % letters.len().max(1)) {
                Some('S') => AttentionKind::Softmax,
                _ => AttentionKind::Lightning,
            })
            .collect()
    }

    /// Override one field by name from text, as `icrl train --model KEY=VALUE` does:
    /// `hidden=128`, `pattern=LS`, `ffn=swiglu`. The value is parsed as the field's type;
    /// `groups` cannot be set (it comes from the dataset). The result is not yet validated.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ModelError> {
        let mut json = serde_json::to_value(&*self)
            .map_err(|e| config_err("model", format!("cannot serialise the config: {e}")))?;
        let fields = json.as_object_mut().expect("a config serialises to an object");
        let settable: Vec<String> = fields.keys().filter(|k| *k != "groups").cloned().collect();
        let Some(old) = fields.get(key).filter(|_| key != "groups") else {
            return Err(ModelError::UnknownField {
                name: key.to_string(),
                expected: settable.join(", "),
            });
        };
        let new = match old {
            serde_json::Value::String(_) => serde_json::Value::String(value.to_string()),
            _ => serde_json::from_str(value).map_err(|_| ModelError::BadValue {
                name: key.to_string(),
                value: value.to_string(),
                expected: match old {
                    serde_json::Value::Number(n) if n.is_i64() => "an integer",
                    serde_json::Value::Number(_) => "a number",
                    _ => "a value of the field's type",
                },
            })?,
        };
        fields.insert(key.to_string(), new);
        *self = serde_json::from_value(json).map_err(|_| ModelError::BadValue {
            name: key.to_string(),
            value: value.to_string(),
            expected: match key {
                "ffn" => "gelu, swiglu or remoe",
                "action_head" => "deterministic or gaussian",
                "reward_encoder" => "linear or leaky_relu",
                _ => "the field's type",
            },
        })?;
        Ok(())
    }

    /// Checks every field; the model is only built from a validated config.
    pub fn validate(&self) -> Result<(), ModelError> {
        let positive: [(&'static str, i64); 8] = [
            ("hidden", self.hidden),
            ("layers", self.layers),
            ("heads", self.heads),
            ("ffn_hidden", self.ffn_hidden),
            ("reward_embed", self.reward_embed),
            ("lightning_block", self.lightning_block),
            ("softmax_window", self.softmax_window),
            ("softmax_chunk", self.softmax_chunk),
        ];
        for (field, value) in positive {
            if value <= 0 {
                return Err(config_err(field, format!("must be positive, got {value}")));
            }
        }
        if self.hidden % self.heads != 0 {
            return Err(config_err(
                "heads",
                format!("must divide hidden = {}, got {}", self.hidden, self.heads),
            ));
        }
        if self.action_embed() <= 0 {
            return Err(config_err(
                "reward_embed",
                format!("leaves no room for observation and action in hidden = {}", self.hidden),
            ));
        }
        if self.decoder_layers < 0 {
            return Err(config_err("decoder_layers", "must be zero or more"));
        }
        if self.pattern.is_empty() || self.pattern.chars().any(|c| c != 'L' && c != 'S') {
            return Err(config_err(
                "pattern",
                format!("must be a non-empty string of `L` and `S`, got {:?}", self.pattern),
            ));
        }
        if self.ffn == FfnKind::Remoe {
            if self.experts <= 0 {
                return Err(config_err(
                    "experts",
                    format!("must be positive, got {}", self.experts),
                ));
            }
            if self.active_experts <= 0 || self.active_experts > self.experts {
                return Err(config_err(
                    "active_experts",
                    format!("must be in 1..={}, got {}", self.experts, self.active_experts),
                ));
            }
            let lambda_ok = self.remoe_lambda0 > 0.0 && self.remoe_lambda0.is_finite();
            if !lambda_ok {
                return Err(config_err(
                    "remoe_lambda0",
                    format!("must be positive, got {}", self.remoe_lambda0),
                ));
            }
            let alpha_ok = self.remoe_alpha > 1.0 && self.remoe_alpha.is_finite();
            if !alpha_ok {
                return Err(config_err(
                    "remoe_alpha",
                    format!("must be > 1, got {}", self.remoe_alpha),
                ));
            }
        }
        if self.groups.is_empty() {
            return Err(config_err("groups", "must list at least one domain group"));
        }
        for g in &self.groups {
            if g.obs_dim <= 0 || g.action.output_dim() <= 0 {
                return Err(config_err(
                    "groups",
                    format!("group `{}` needs positive observation and action sizes", g.name),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_without_a_reward_encoder_read_as_leaky_relu_and_presets_use_linear() {
        let mut json = serde_json::to_value(Config::small()).unwrap();
        assert_eq!(json["reward_encoder"], "linear");
        json.as_object_mut().unwrap().remove("reward_encoder");
        let old: Config = serde_json::from_value(json).unwrap();
        assert_eq!(old.reward_encoder, RewardEncoder::LeakyRelu);
        for name in PRESETS {
            assert_eq!(Config::preset(name).unwrap().reward_encoder, RewardEncoder::Linear);
        }
        let mut cfg = Config::small();
        cfg.set("reward_encoder", "leaky_relu").unwrap();
        assert_eq!(cfg.reward_encoder, RewardEncoder::LeakyRelu);
        let bad = cfg.set("reward_encoder", "relu").unwrap_err().to_string();
        assert!(
            bad.contains("reward_encoder=relu") && bad.contains("linear or leaky_relu"),
            "{bad}"
        );
    }

    #[test]
    fn set_overrides_one_field_by_name_and_names_bad_input() {
        let mut cfg = Config::small();
        cfg.set("hidden", "128").unwrap();
        cfg.set("pattern", "LS").unwrap();
        cfg.set("ffn", "swiglu").unwrap();
        cfg.set("remoe_alpha", "1.5").unwrap();
        assert_eq!((cfg.hidden, cfg.pattern.as_str(), cfg.ffn), (128, "LS", FfnKind::Swiglu));
        assert_eq!(cfg.remoe_alpha, 1.5);
        cfg.validate().unwrap();
        let unknown = cfg.set("width", "3").unwrap_err().to_string();
        assert!(unknown.contains("`width`") && unknown.contains("hidden"), "{unknown}");
        assert!(cfg.set("groups", "[]").is_err());
        let bad = cfg.set("layers", "four").unwrap_err().to_string();
        assert!(bad.contains("layers=four") && bad.contains("integer"), "{bad}");
        let bad = cfg.set("ffn", "relu").unwrap_err().to_string();
        assert!(bad.contains("gelu, swiglu or remoe"), "{bad}");
        // A settable but invalid value is caught by validation.
        cfg.set("heads", "3").unwrap();
        assert!(cfg.validate().is_err());
    }
}
