//! PPO hyper-parameters: CleanRL's defaults for discrete and continuous actions, and per-env
//! presets that solve this platform's reference targets.

use serde::{Deserialize, Serialize};

/// Everything that shapes one PPO run (the seed is passed separately). Saved as JSON next to
/// every trained policy, so a run can be reproduced from its folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PpoConfig {
    /// Total env steps over all env copies.
    pub total_steps: usize,
    /// Adam learning rate (at the start when annealed).
    pub learning_rate: f64,
    /// Anneal the learning rate linearly to zero over the run.
    pub anneal_lr: bool,
    /// Number of env copies stepped together.
    pub num_envs: usize,
    /// Steps per env copy in each rollout (batch = num_envs * num_steps).
    pub num_steps: usize,
    /// Discount factor.
    pub gamma: f64,
    /// GAE lambda.
    pub gae_lambda: f64,
    /// Minibatches per epoch (minibatch = batch / num_minibatches).
    pub num_minibatches: usize,
    /// Passes over each rollout batch.
    pub update_epochs: usize,
    /// Normalise advantages within each minibatch.
    pub norm_adv: bool,
    /// Surrogate clipping coefficient epsilon.
    pub clip_coef: f64,
    /// Clip the value loss around the old values with the same epsilon.
    pub clip_vloss: bool,
    /// Entropy bonus coefficient.
    pub ent_coef: f64,
    /// Value loss coefficient.
    pub vf_coef: f64,
    /// Global gradient-norm clipping.
    pub max_grad_norm: f64,
    /// Stop an update's epochs early when approx_kl exceeds this (none: never).
    pub target_kl: Option<f64>,
    /// Width of the two tanh hidden layers of actor and critic.
    pub hidden: usize,
    /// Initial log standard deviation of the Gaussian head (Box actions only); with
    /// `use_sde`, of every entry of the exploration matrices' standard deviations.
    pub init_log_std: f64,
    /// Generalized state-dependent exploration (gSDE; Raffin, Kober and Stulp 2022;
    /// Stable-Baselines3's `use_sde`), Box actions only: the action is `mean(s) + phi(s) E`,
    /// with `phi(s)` the actor's last hidden layer (no gradient through it) and `E` a
    /// `(hidden, action)` matrix drawn from `N(0, exp(log_std))` per env and held for
    /// `sde_sample_freq` steps, so exploration is smooth along a trajectory. The
    /// log-probability is that of `N(mean, sqrt(phi^2 exp(2 log_std) + 1e-6))`.
    #[serde(default)]
    pub use_sde: bool,
    /// With `use_sde`: a new exploration matrix every this many steps of each rollout (0:
    /// one per rollout, SB3's -1).
    #[serde(default)]
    pub sde_sample_freq: usize,
    /// Running observation normalisation (saved with the policy).
    pub normalize_obs: bool,
    /// Scale rewards by the running std of the discounted return (training only).
    pub normalize_reward: bool,
    /// Clip normalised observations to [-clip_obs, clip_obs].
    pub clip_obs: f64,
    /// Clip scaled rewards to [-clip_reward, clip_reward].
    pub clip_reward: f64,
    /// Deterministic evaluation episodes after training and at each periodic check (enough
    /// that one lucky check cannot count as solved).
    pub eval_episodes: usize,
    /// Evaluate every this many updates and stop once `solve_return` is reached (0: never).
    pub eval_interval: usize,
    /// Mean deterministic return that counts as solved (early stop); none: train to the end.
    pub solve_return: Option<f64>,
    /// Consecutive periodic checks at or above `solve_return` needed to stop.
    pub solve_checks: usize,
    /// Independent runs (fresh weights, the next seed, `total_steps` each) until one is
    /// solved; the solved one, or else the one with the best final evaluation, is kept. For
    /// envs where some seeds never find the reward (MountainCarContinuous's collapse to the
    /// zero action). Needs `solve_return`; 1: a single run.
    #[serde(default = "one")]
    pub attempts: usize,
    /// Where the networks are computed: `auto` (the default, native), `torch` (libtorch ops)
    /// or `native` (plain Rust, [`super::native`]; several times faster for these small
    /// MLPs). Both draw the same random numbers in the same order and differ only in float
    /// rounding.
    #[serde(default)]
    pub backend: Backend,
}

/// Where PPO's networks are computed ([`PpoConfig::backend`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// `native` (kept apart from it so that a config saying `auto` follows a later default).
    #[default]
    Auto,
    /// libtorch ops with autograd and `tch::nn::Adam`.
    Torch,
    /// Forward, backward and Adam written out in plain Rust ([`super::native`]).
    Native,
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "auto" => Ok(Backend::Auto),
            "torch" => Ok(Backend::Torch),
            "native" => Ok(Backend::Native),
            other => Err(format!("backend `{other}`: expected auto, torch or native")),
        }
    }
}

fn one() -> usize {
    1
}

/// The envs [`PpoConfig::zoo`] has settings for.
pub const ZOO_ENVS: [&str; 4] =
    ["Pendulum-v1", "CartPole-v1", "MountainCarContinuous-v0", "Acrobot-v1"];

/// Which family of PPO hyperparameters a preset comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hyperparams {
    /// CleanRL's `ppo.py` / `ppo_continuous_action.py` defaults, tuned where this platform
    /// measured better ones ([`PpoConfig::preset`]).
    #[default]
    Cleanrl,
    /// rl-baselines3-zoo's tuned settings ([`PpoConfig::zoo`]).
    Zoo,
}

impl std::str::FromStr for Hyperparams {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "cleanrl" => Ok(Hyperparams::Cleanrl),
            "zoo" => Ok(Hyperparams::Zoo),
            other => Err(format!("hyperparameters `{other}`: expected cleanrl or zoo")),
        }
    }
}

impl Default for PpoConfig {
    fn default() -> Self {
        Self::continuous()
    }
}

impl PpoConfig {
    /// The engine a run of this config trains on ([`Backend::Auto`] resolved).
    pub fn engine(&self) -> Backend {
        match self.backend {
            Backend::Auto => Backend::Native,
            chosen => chosen,
        }
    }

    /// CleanRL `ppo.py` (discrete actions, Atari-free classic control).
    pub fn discrete() -> Self {
        Self {
            total_steps: 500_000,
            learning_rate: 2.5e-4,
            anneal_lr: true,
            num_envs: 4,
            num_steps: 128,
            gamma: 0.99,
            gae_lambda: 0.95,
            num_minibatches: 4,
            update_epochs: 4,
            norm_adv: true,
            clip_coef: 0.2,
            clip_vloss: true,
            ent_coef: 0.01,
            vf_coef: 0.5,
            max_grad_norm: 0.5,
            target_kl: None,
            hidden: 64,
            init_log_std: 0.0,
            use_sde: false,
            sde_sample_freq: 0,
            normalize_obs: false,
            normalize_reward: false,
            clip_obs: 10.0,
            clip_reward: 10.0,
            eval_episodes: 10,
            eval_interval: 0,
            solve_return: None,
            solve_checks: 1,
            attempts: 1,
            backend: Backend::Auto,
        }
    }

    /// CleanRL `ppo_continuous_action.py` (Box actions; observation and reward normalisation).
    pub fn continuous() -> Self {
        Self {
            total_steps: 1_000_000,
            learning_rate: 3e-4,
            num_envs: 1,
            num_steps: 2048,
            num_minibatches: 32,
            update_epochs: 10,
            ent_coef: 0.0,
            normalize_obs: true,
            normalize_reward: true,
            ..Self::discrete()
        }
    }

    /// The preset for an env id: a tuned one where this platform has measured one (see
    /// docs/benchmarks.md, "PPO demonstrators"), else CleanRL's default for the action kind.
    pub fn preset(env_id: &str, discrete_actions: bool) -> Self {
        match env_id {
            "CartPole-v1" => Self {
                eval_episodes: 20,
                eval_interval: 5,
                solve_return: Some(500.0),
                solve_checks: 2,
                ..Self::discrete()
            },
            "Pendulum-v1" => Self {
                total_steps: 1_000_000,
                learning_rate: 1e-3,
                num_envs: 8,
                num_steps: 256,
                gamma: 0.95,
                num_minibatches: 16,
                eval_episodes: 50,
                eval_interval: 5,
                solve_return: Some(-200.0),
                solve_checks: 3,
                ..Self::continuous()
            },
            // A run either reaches the flag within ~40k steps or learns to stand still and
            // never does (docs/benchmarks.md): four runs of 250k steps instead of one of 1M.
            "MountainCarContinuous-v0" => Self {
                total_steps: 250_000,
                num_envs: 8,
                num_steps: 512,
                gamma: 0.99,
                ent_coef: 0.01,
                eval_episodes: 20,
                eval_interval: 5,
                solve_return: Some(90.0),
                attempts: 4,
                ..Self::continuous()
            },
            _ if discrete_actions => Self::discrete(),
            _ => Self::continuous(),
        }
    }

    /// The preset of `env_id` in the chosen family of hyperparameters: [`PpoConfig::preset`]
    /// (CleanRL's defaults, tuned here where measured) or [`PpoConfig::zoo`]; the error names
    /// the envs the zoo has settings for.
    pub fn preset_in(
        env_id: &str,
        discrete_actions: bool,
        hyperparams: Hyperparams,
    ) -> Result<Self, String> {
        match hyperparams {
            Hyperparams::Cleanrl => Ok(Self::preset(env_id, discrete_actions)),
            Hyperparams::Zoo => Self::zoo(env_id).ok_or_else(|| {
                format!(
                    "rl-baselines3-zoo has no tuned PPO settings for {env_id} here; it has them \
                     for {}",
                    ZOO_ENVS.join(", ")
                )
            }),
        }
    }

    /// rl-baselines3-zoo's tuned PPO settings (`hyperparams/ppo.yml`) for the classic-control
    /// envs that have them, with Stable-Baselines3's defaults for what the file leaves out:
    /// minibatches of 64 transitions, no value clipping, a constant learning rate unless
    /// `lin_`, log-std 0. Two of SB3's settings have no counterpart here and are left as
    /// they are: the linearly annealed clip range of CartPole (`lin_0.2`: 0.2 throughout
    /// here) and `ortho_init=False` of MountainCarContinuous (orthogonal here). The solve
    /// rule and evaluation are this platform's, checked after every rollout (CartPole: every
    /// 10). Measured against SB3 in docs/benchmarks.md ("PPO demonstrators").
    pub fn zoo(env_id: &str) -> Option<Self> {
        let sb3 = Self {
            anneal_lr: false,
            clip_vloss: false,
            normalize_obs: false,
            normalize_reward: false,
            eval_interval: 1,
            attempts: 3,
            ..Self::continuous()
        };
        Some(match env_id {
            "Pendulum-v1" => Self {
                total_steps: 100_000,
                num_envs: 4,
                num_steps: 1024,
                num_minibatches: 64,
                gae_lambda: 0.95,
                gamma: 0.9,
                update_epochs: 10,
                ent_coef: 0.0,
                learning_rate: 1e-3,
                clip_coef: 0.2,
                use_sde: true,
                sde_sample_freq: 4,
                eval_episodes: 50,
                solve_return: Some(-200.0),
                solve_checks: 3,
                ..sb3
            },
            "CartPole-v1" => Self {
                total_steps: 100_000,
                num_envs: 8,
                num_steps: 32,
                num_minibatches: 1,
                gae_lambda: 0.8,
                gamma: 0.98,
                update_epochs: 20,
                ent_coef: 0.0,
                learning_rate: 1e-3,
                anneal_lr: true,
                clip_coef: 0.2,
                eval_episodes: 20,
                eval_interval: 10,
                solve_return: Some(500.0),
                solve_checks: 2,
                ..sb3
            },
            "MountainCarContinuous-v0" => Self {
                total_steps: 20_000,
                num_envs: 1,
                num_steps: 8,
                num_minibatches: 1,
                gamma: 0.9999,
                learning_rate: 7.77e-5,
                ent_coef: 0.00429,
                clip_coef: 0.1,
                update_epochs: 10,
                gae_lambda: 0.9,
                max_grad_norm: 5.0,
                vf_coef: 0.19,
                use_sde: true,
                sde_sample_freq: 0,
                init_log_std: -3.29,
                normalize_obs: true,
                normalize_reward: true,
                eval_episodes: 20,
                eval_interval: 100,
                solve_return: Some(90.0),
                ..sb3
            },
            "Acrobot-v1" => Self {
                total_steps: 1_000_000,
                num_envs: 16,
                num_steps: 256,
                num_minibatches: 64,
                gae_lambda: 0.94,
                gamma: 0.99,
                update_epochs: 4,
                ent_coef: 0.0,
                learning_rate: 3e-4,
                normalize_obs: true,
                normalize_reward: true,
                eval_episodes: 20,
                solve_return: None,
                attempts: 1,
                ..sb3
            },
            _ => return None,
        })
    }

    /// Transitions per rollout.
    pub fn batch_size(&self) -> usize {
        self.num_envs * self.num_steps
    }

    /// Transitions per minibatch.
    pub fn minibatch_size(&self) -> usize {
        self.batch_size() / self.num_minibatches.max(1)
    }

    /// Number of rollout/update iterations.
    pub fn num_updates(&self) -> usize {
        self.total_steps / self.batch_size().max(1)
    }

    /// Check the values a user can set; the message names the field and what was expected.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("num_envs", self.num_envs),
            ("num_steps", self.num_steps),
            ("num_minibatches", self.num_minibatches),
            ("update_epochs", self.update_epochs),
            ("hidden", self.hidden),
            ("attempts", self.attempts),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("`{name}` must be at least 1"));
        }
        if self.total_steps < self.batch_size() {
            return Err(format!(
                "`total_steps` ({}) must be at least one batch (num_envs * num_steps = {})",
                self.total_steps,
                self.batch_size()
            ));
        }
        if self.batch_size() % self.num_minibatches != 0 {
            return Err(format!(
                "`num_minibatches` ({}) must divide the batch (num_envs * num_steps = {})",
                self.num_minibatches,
                self.batch_size()
            ));
        }
        let unit = [("gamma", self.gamma), ("gae_lambda", self.gae_lambda)];
        if let Some((name, v)) = unit.iter().find(|(_, v)| !(0.0..=1.0).contains(v)) {
            return Err(format!("`{name}` must lie in [0, 1], got {v}"));
        }
        let non_negative = [
            ("learning_rate", self.learning_rate),
            ("clip_coef", self.clip_coef),
            ("ent_coef", self.ent_coef),
            ("vf_coef", self.vf_coef),
            ("max_grad_norm", self.max_grad_norm),
            ("clip_obs", self.clip_obs),
            ("clip_reward", self.clip_reward),
        ];
        if let Some((name, v)) = non_negative.iter().find(|(_, v)| !(v.is_finite() && *v >= 0.0)) {
            return Err(format!("`{name}` must be a finite number >= 0, got {v}"));
        }
        if !self.init_log_std.is_finite() {
            return Err("`init_log_std` must be finite".into());
        }
        if self.attempts > 1 && self.solve_return.is_none() {
            return Err(format!(
                "`attempts` ({}) needs `solve_return`: without it no run counts as solved",
                self.attempts
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_bad_values_are_named() {
        for id in ["CartPole-v1", "Pendulum-v1", "MountainCarContinuous-v0", "Other-v0"] {
            assert_eq!(PpoConfig::preset(id, true).validate(), Ok(()), "{id}");
        }
        for id in ZOO_ENVS {
            let zoo = PpoConfig::preset_in(id, false, Hyperparams::Zoo).unwrap();
            assert_eq!(zoo.validate(), Ok(()), "{id}");
        }
        let e = PpoConfig::preset_in("Hopper-v5", false, Hyperparams::Zoo).unwrap_err();
        assert!(e.contains("Hopper-v5") && e.contains("Pendulum-v1"), "{e}");
        assert_eq!("zoo".parse::<Hyperparams>(), Ok(Hyperparams::Zoo));
        assert!("sb3".parse::<Hyperparams>().is_err_and(|e| e.contains("cleanrl or zoo")));
        let bad = PpoConfig { num_minibatches: 3, ..PpoConfig::discrete() };
        assert!(bad.validate().is_err_and(|e| e.contains("num_minibatches")));
        let bad = PpoConfig { gamma: 1.5, ..PpoConfig::discrete() };
        assert!(bad.validate().is_err_and(|e| e.contains("gamma")));
        let bad = PpoConfig { attempts: 0, ..PpoConfig::discrete() };
        assert!(bad.validate().is_err_and(|e| e.contains("attempts")));
        let bad = PpoConfig { attempts: 3, solve_return: None, ..PpoConfig::discrete() };
        assert!(bad.validate().is_err_and(|e| e.contains("solve_return")));
    }
}
