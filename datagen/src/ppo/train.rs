//! The PPO training loop, top to bottom: envs, agent, then one rollout/update iteration per
//! batch. The implementation details follow CleanRL's `ppo.py` / `ppo_continuous_action.py`
//! (orthogonal init, Adam eps 1e-5, learning-rate annealing, advantage normalisation per
//! minibatch, value clipping, global gradient clipping, optional KL early stop) with one fix:
//! a time-limit truncation bootstraps with V(final observation) instead of ending the return.

use std::path::Path;
use std::time::Instant;

use envs::{Action, Env, EnvError, Space, Task, VecStep};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tch::{Tensor, nn, nn::OptimizerConfig};

use super::PpoError;
use super::config::{Backend, PpoConfig};
use super::demonstrator::PpoDemonstrator;
use super::eval::{EvalResult, evaluate};
use super::gae::{Gae, Rollout, compute_gae};
use super::log::MetricLog;
use super::loss;
use super::loss::MinibatchLosses;
use super::native::{LossConfig, Minibatch, NativeActorCritic};
use super::normalize::{RewardScaler, RunningMeanStd};
use super::policy::{ActorCritic, Sampled, SdeNoise, from_rows, to_vec};
use super::saved::{POLICY_FORMAT_VERSION, PolicyMeta, TrainedPolicy};
use super::vec_env::VecEnv;
use histories::demonstrator::Demonstrator;
use histories::progress::Progress;

/// Builds one copy of the env to train on (the task is already bound).
pub type MakeEnv<'a> = dyn Fn() -> Result<Box<dyn Env>, EnvError> + 'a;

/// What a run is and where it reports.
#[derive(Clone, Copy)]
pub struct TrainSpec<'a> {
    pub env_id: &'a str,
    pub task: &'a Task,
    pub config: &'a PpoConfig,
    pub seed: u64,
    /// TensorBoard event files and `config.json` go here (none: no files).
    pub run_dir: Option<&'a Path>,
    /// Show a progress bar and print a summary at the end.
    pub progress: bool,
}

/// The metrics of one rollout/update iteration (what TensorBoard receives).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UpdateStats {
    pub global_step: usize,
    pub learning_rate: f64,
    pub value_loss: f64,
    pub policy_loss: f64,
    pub entropy: f64,
    pub old_approx_kl: f64,
    pub approx_kl: f64,
    pub clipfrac: f64,
    pub explained_variance: f64,
    /// Mean return of the episodes that ended during this rollout.
    pub episodic_return: Option<f64>,
}

/// When the periodic evaluation had reached `solve_return` `solve_checks` times in a row.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Solved {
    pub env_steps: usize,
    pub seconds: f64,
}

pub struct TrainOutcome {
    pub policy: TrainedPolicy,
    pub updates: Vec<UpdateStats>,
    pub solved: Option<Solved>,
}

/// Train a policy on `make_env()` copies as `spec` says: up to `config.attempts` independent
/// runs, each from fresh weights with its own seed, until one is solved. Returns the solved
/// run, or else the one with the best final evaluation. Attempt 1 uses `spec.seed` itself, so
/// with `attempts` 1 this is one plain run; attempt k > 1 uses `derive_seed(spec.seed, k)`
/// and logs under `run_dir/attempt-k`. The kept policy's `train_steps` and `train_seconds`,
/// like `solved`, count every attempt run, what the policy cost.
pub fn train(spec: &TrainSpec, make_env: &MakeEnv) -> Result<TrainOutcome, PpoError> {
    spec.config.validate().map_err(PpoError::Config)?;
    let attempts = spec.config.attempts;
    // Steps and seconds of the attempts run so far.
    let (mut steps, mut seconds) = (0usize, 0f64);
    let mut best: Option<TrainOutcome> = None;
    for attempt in 1..=attempts {
        let seed = attempt_seed(spec.seed, attempt);
        let dir = spec.run_dir.map(|d| match attempt {
            1 => d.to_path_buf(),
            k => d.join(format!("attempt-{k}")),
        });
        let one = TrainSpec { seed, run_dir: dir.as_deref(), ..*spec };
        let mut outcome = train_once(&one, make_env)?;
        outcome.policy.meta.attempt = attempt;
        if let Some(solved) = &mut outcome.solved {
            // Solved within this attempt: count the attempts before it too.
            solved.env_steps += steps;
            solved.seconds += seconds;
        }
        steps += outcome.policy.meta.train_steps;
        seconds += outcome.policy.meta.train_seconds;
        let better = best
            .as_ref()
            .is_none_or(|b| outcome.policy.meta.eval_mean_return > b.policy.meta.eval_mean_return);
        let solved = outcome.solved.is_some();
        if solved || better {
            best = Some(outcome);
        }
        if solved {
            break;
        }
        if spec.progress && attempt < attempts {
            println!(
                "ppo {}: attempt {attempt} of {attempts} (seed {seed}) not solved; next: seed {}",
                spec.env_id,
                attempt_seed(spec.seed, attempt + 1)
            );
        }
    }
    let mut kept = best.ok_or_else(|| PpoError::Config("`attempts` must be at least 1".into()))?;
    kept.policy.meta.train_steps = steps;
    kept.policy.meta.train_seconds = seconds;
    Ok(kept)
}

/// The seed of attempt `attempt` (1-based) of a run seeded with `seed`.
pub fn attempt_seed(seed: u64, attempt: usize) -> u64 {
    match attempt {
        0 | 1 => seed,
        k => crate::seed::derive_seed(seed, k as u64),
    }
}

/// One run: `spec.seed` drives everything.
fn train_once(spec: &TrainSpec, make_env: &MakeEnv) -> Result<TrainOutcome, PpoError> {
    let cfg = spec.config;
    let start = Instant::now();

    // --- Seeding: one seed for torch and for the ChaCha stream that drives everything else.
    tch::manual_seed(spec.seed as i64);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    // Evaluation has its own stream so that evaluating does not change the training run.
    let mut eval_rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0x5EED_E7A1_u64);

    // --- Envs, agent and optimiser.
    let (envs, mut eval_env, action_space, obs_dim) = make_envs(spec, make_env, &mut rng)?;
    let mut learner = Learner::new(cfg, envs, obs_dim, &action_space, rng)?;
    let n = learner.envs.num_envs();

    let (mut log, bar) = open_run(spec, &learner)?;

    let mut storage = RolloutStorage::new(cfg.num_steps, n, obs_dim, learner.net.action_width());
    let mut updates = Vec::with_capacity(cfg.num_updates());
    let mut solved = None;
    let mut passed_checks = 0;
    for update in 1..=cfg.num_updates() {
        let learning_rate = if cfg.anneal_lr {
            cfg.learning_rate * (1.0 - (update - 1) as f64 / cfg.num_updates() as f64)
        } else {
            cfg.learning_rate
        };
        learner.set_lr(learning_rate);

        let finished_returns = learner.collect_rollout(&mut storage, &mut log)?;
        // --- Advantages: GAE through truncation, not through termination.
        let next_values = learner.next_values();
        let gae = storage.gae(&next_values, cfg.gamma as f32, cfg.gae_lambda as f32);
        let stats = learner.update(&storage, &gae);

        let global_step = learner.global_step;
        let record = stats.record(global_step, learning_rate, &finished_returns, &storage, &gae);
        let sps = global_step as f64 / start.elapsed().as_secs_f64().max(1e-9);
        record.log(&mut log, sps)?;
        bar.set_position(global_step as u64);
        if let Some(r) = record.episodic_return {
            bar.set_message(format!("return {r:.1}"));
        }
        updates.push(record);

        // --- Periodic deterministic evaluation and early stop once solved.
        if let Some(target) = cfg.solve_return {
            if cfg.eval_interval > 0 && update % cfg.eval_interval == 0 {
                let result = learner.eval(&action_space, eval_env.as_mut(), &mut eval_rng)?;
                log.scalar("charts/eval_return", result.mean(), global_step)?;
                passed_checks = if result.mean() >= target { passed_checks + 1 } else { 0 };
                if passed_checks >= cfg.solve_checks.max(1) {
                    solved = Some(Solved {
                        env_steps: global_step,
                        seconds: start.elapsed().as_secs_f64(),
                    });
                    break;
                }
            }
        }
    }
    bar.finish_and_clear();
    let train_seconds = start.elapsed().as_secs_f64();

    // --- Final evaluation and the policy with its metadata.
    let result = learner.eval(&action_space, eval_env.as_mut(), &mut eval_rng)?;
    let global_step = learner.global_step;
    log.scalar("charts/eval_return", result.mean(), global_step)?;
    log.flush()?;
    learner.sync_net();
    let policy = finish(spec, learner, action_space, &result, train_seconds, solved);
    Ok(TrainOutcome { policy, updates, solved })
}

/// The `num_envs` training copies (seeded from `rng`), the evaluation copy, its action space
/// and its observation width.
fn make_envs(
    spec: &TrainSpec,
    make_env: &MakeEnv,
    rng: &mut ChaCha8Rng,
) -> Result<(VecEnv, Box<dyn Env>, Space, usize), PpoError> {
    let cfg = spec.config;
    let copies = (0..cfg.num_envs).map(|_| make_env()).collect::<Result<Vec<_>, _>>()?;
    let eval_env = make_env()?;
    let obs_space = eval_env.observation_space().clone();
    let action_space = eval_env.action_space().clone();
    let obs_dim = match &obs_space {
        Space::Box { low, .. } if !low.is_empty() => low.len(),
        other => {
            return Err(PpoError::Unsupported(format!(
                "{}: PPO needs a non-empty Box observation space, got {other:?}",
                spec.env_id
            )));
        }
    };
    let envs = VecEnv::new(copies, rng.random())?;
    Ok((envs, eval_env, action_space, obs_dim))
}

/// The run's metrics log and `config.json` (in `spec.run_dir`, if any) and its progress bar,
/// with the opening line when showing progress.
fn open_run(spec: &TrainSpec, learner: &Learner) -> Result<(MetricLog, Progress), PpoError> {
    let cfg = spec.config;
    let log = MetricLog::new(spec.run_dir)?;
    if let Some(dir) = spec.run_dir {
        let path = dir.join("config.json");
        let json = serde_json::json!({"env_id": spec.env_id, "task": spec.task, "seed": spec.seed, "config": cfg});
        histories::fsio::write_atomic(&path, format!("{json:#}").as_bytes())
            .map_err(|e| PpoError::io(&path, e.source))?;
    }
    let bar =
        Progress::new(spec.progress, (cfg.num_updates() * cfg.batch_size()) as u64, "ppo", "steps");
    if spec.progress {
        bar.println(format!(
            "ppo {} seed {}: {} parameters, {} envs x {} steps, {} updates",
            spec.env_id,
            spec.seed,
            learner.net.parameter_count(),
            learner.envs.num_envs(),
            cfg.num_steps,
            cfg.num_updates()
        ));
    }
    Ok((log, bar))
}

/// The trained policy with its metadata from the final evaluation `result`, and the closing
/// summary line when showing progress.
fn finish(
    spec: &TrainSpec,
    learner: Learner,
    action_space: Space,
    result: &EvalResult,
    train_seconds: f64,
    solved: Option<Solved>,
) -> TrainedPolicy {
    let meta = PolicyMeta {
        format_version: POLICY_FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        env_id: spec.env_id.to_string(),
        task: spec.task.clone(),
        seed: spec.seed,
        config: spec.config.clone(),
        observation_dim: learner.obs_dim,
        action_space,
        obs_norm: learner.obs_rms,
        eval_mean_return: result.mean(),
        eval_std_return: result.std(),
        eval_episodes: result.returns.len(),
        train_steps: learner.global_step,
        train_seconds,
        attempt: 1,
    };
    if spec.progress {
        println!(
            "ppo {}: {} env steps in {:.1} s ({:.0} steps/s); eval return {:.2} +- {:.2} over {} episodes{}",
            spec.env_id,
            learner.global_step,
            train_seconds,
            learner.global_step as f64 / train_seconds.max(1e-9),
            meta.eval_mean_return,
            meta.eval_std_return,
            meta.eval_episodes,
            match solved {
                Some(s) => format!("; solved at {} steps, {:.1} s", s.env_steps, s.seconds),
                None => String::new(),
            }
        );
    }
    TrainedPolicy { meta, net: learner.net }
}

/// The rollout buffers of one iteration, as CleanRL's storage tensors: time-major, row
/// t * num_envs + e holds step t of env copy e.
struct RolloutStorage {
    num_envs: usize,
    obs_dim: usize,
    action_width: usize,
    obs: Vec<f32>,
    actions: Vec<f32>,
    log_probs: Vec<f32>,
    rewards: Vec<f32>,
    values: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    /// V(final observation) of an episode truncated at this step, else 0.
    final_values: Vec<f32>,
}

impl RolloutStorage {
    fn new(steps: usize, num_envs: usize, obs_dim: usize, action_width: usize) -> Self {
        let rows = steps * num_envs;
        RolloutStorage {
            num_envs,
            obs_dim,
            action_width,
            obs: vec![0f32; rows * obs_dim],
            actions: vec![0f32; rows * action_width],
            log_probs: vec![0f32; rows],
            rewards: vec![0f32; rows],
            values: vec![0f32; rows],
            terminated: vec![false; rows],
            truncated: vec![false; rows],
            final_values: vec![0f32; rows],
        }
    }

    /// Stores step `t`: the (normalised) observations the actions were sampled from, the
    /// sample, the env's outcome and the (scaled) rewards.
    fn record(&mut self, t: usize, obs: &[f32], sampled: &Sampled, out: &VecStep, rewards: &[f32]) {
        let (n, d, w) = (self.num_envs, self.obs_dim, self.action_width);
        let rows = t * n..(t + 1) * n;
        self.obs[t * n * d..(t + 1) * n * d].copy_from_slice(obs);
        self.actions[t * n * w..(t + 1) * n * w].copy_from_slice(&sampled.actions);
        self.log_probs[rows.clone()].copy_from_slice(&sampled.log_probs);
        self.values[rows.clone()].copy_from_slice(&sampled.values);
        self.terminated[rows.clone()].copy_from_slice(&out.terminated);
        self.truncated[rows.clone()].copy_from_slice(&out.truncated);
        self.rewards[rows].copy_from_slice(rewards);
    }

    /// Advantages and returns of the stored rollout; `next_values` are V(obs after it).
    fn gae(&self, next_values: &[f32], gamma: f32, lambda: f32) -> Gae {
        compute_gae(
            &Rollout {
                num_envs: self.num_envs,
                rewards: &self.rewards,
                values: &self.values,
                terminated: &self.terminated,
                truncated: &self.truncated,
                final_values: &self.final_values,
                next_values,
            },
            gamma,
            lambda,
        )
    }
}

/// Where the networks are computed and trained ([`Backend`]).
enum Engine {
    /// libtorch ops on [`Learner::net`], with this optimiser.
    Torch(nn::Optimizer),
    /// A plain-Rust copy of the weights with its own Adam; [`Learner::net`] is brought up to
    /// date before evaluating or saving ([`Learner::sync_net`]).
    Native(Box<NativeActorCritic>),
}

/// The state one run trains: envs, agent, optimiser, normalisers and the training stream.
struct Learner<'a> {
    cfg: &'a PpoConfig,
    envs: VecEnv,
    net: ActorCritic,
    engine: Engine,
    learning_rate: f64,
    obs_rms: Option<RunningMeanStd>,
    reward_scaler: Option<RewardScaler>,
    rng: ChaCha8Rng,
    obs_dim: usize,
    global_step: usize,
    /// gSDE's exploration matrices (empty unless `use_sde`).
    sde: SdeNoise,
}

impl<'a> Learner<'a> {
    fn new(
        cfg: &'a PpoConfig,
        envs: VecEnv,
        obs_dim: usize,
        action_space: &Space,
        mut rng: ChaCha8Rng,
    ) -> Result<Self, PpoError> {
        let net = ActorCritic::new(
            obs_dim,
            action_space,
            cfg.hidden,
            cfg.init_log_std,
            cfg.use_sde,
            &mut rng,
        )?;
        let engine = match cfg.engine() {
            Backend::Auto | Backend::Torch => Engine::Torch(
                nn::Adam { eps: 1e-5, ..Default::default() }.build(&net.vs, cfg.learning_rate)?,
            ),
            Backend::Native => Engine::Native(Box::new(NativeActorCritic::from_net(&net, 1e-5)?)),
        };
        let obs_rms = cfg.normalize_obs.then(|| RunningMeanStd::new(obs_dim));
        let n = envs.num_envs();
        let reward_scaler =
            cfg.normalize_reward.then(|| RewardScaler::new(n, cfg.gamma, cfg.clip_reward));
        Ok(Learner {
            cfg,
            envs,
            net,
            engine,
            learning_rate: cfg.learning_rate,
            obs_rms,
            reward_scaler,
            rng,
            obs_dim,
            global_step: 0,
            sde: SdeNoise::default(),
        })
    }

    /// Rollout: num_steps lock-step transitions of every copy into `storage`. Returns the
    /// returns of the episodes that ended.
    fn collect_rollout(
        &mut self,
        storage: &mut RolloutStorage,
        log: &mut MetricLog,
    ) -> Result<Vec<f64>, PpoError> {
        let (cfg, n, width) = (self.cfg, self.envs.num_envs(), self.net.action_width());
        let mut finished_returns = Vec::new();
        for t in 0..cfg.num_steps {
            let mut obs = self.envs.obs().to_vec();
            if let Some(rms) = &mut self.obs_rms {
                rms.update(&obs);
                rms.normalize(&mut obs, cfg.clip_obs);
            }
            // gSDE: new matrices at the rollout's start and every `sde_sample_freq` steps.
            if cfg.use_sde && (t == 0 || (cfg.sde_sample_freq > 0 && t % cfg.sde_sample_freq == 0))
            {
                match &self.engine {
                    Engine::Native(native) => {
                        self.sde.draw_from(native.log_std(), n, &mut self.rng)
                    }
                    Engine::Torch(_) => self.sde.draw(&self.net, n, &mut self.rng),
                }
            }
            let sampled = match &mut self.engine {
                Engine::Native(native) => native.sample(&obs, &mut self.rng, Some(&self.sde)),
                Engine::Torch(_) => {
                    self.net.sample(&from_rows(&obs, self.obs_dim), &mut self.rng, Some(&self.sde))
                }
            };
            let actions: Vec<Action> =
                sampled.actions.chunks(width).map(|row| self.net.env_action(row)).collect();
            let (out, finished) = self.envs.step(&actions)?;
            self.global_step += n;

            let ended: Vec<bool> =
                out.terminated.iter().zip(&out.truncated).map(|(a, b)| *a || *b).collect();
            let rewards = match &mut self.reward_scaler {
                Some(scaler) => scaler.scale(&out.rewards, &ended),
                None => out.rewards.iter().map(|&r| r as f32).collect(),
            };
            storage.record(t, &obs, &sampled, &out, &rewards);
            // V(final observation) for truncated episodes: the bootstrap target of GAE.
            for (e, final_obs) in out.final_obs.iter().enumerate() {
                storage.final_values[t * n + e] = match final_obs {
                    Some(o) if out.truncated[e] && !out.terminated[e] => {
                        let mut o = o.clone();
                        if let Some(rms) = &self.obs_rms {
                            rms.normalize(&mut o, cfg.clip_obs);
                        }
                        self.values(&o).first().copied().unwrap_or(0.0)
                    }
                    _ => 0.0,
                };
            }
            for &(ret, len) in &finished {
                log.scalar("charts/episodic_return", ret, self.global_step)?;
                log.scalar("charts/episodic_length", len as f64, self.global_step)?;
                finished_returns.push(ret);
            }
        }
        Ok(finished_returns)
    }

    /// The learning rate of the next update.
    fn set_lr(&mut self, learning_rate: f64) {
        self.learning_rate = learning_rate;
        if let Engine::Torch(opt) = &mut self.engine {
            opt.set_lr(learning_rate);
        }
    }

    /// V(s) of row-major normalised observations.
    fn values(&mut self, obs: &[f32]) -> Vec<f32> {
        match &mut self.engine {
            Engine::Native(native) => native.values(obs),
            Engine::Torch(_) => {
                tch::no_grad(|| to_vec(&self.net.value(&from_rows(obs, self.obs_dim))))
            }
        }
    }

    /// V of the observations after the rollout (normalised, without updating the statistics).
    fn next_values(&mut self) -> Vec<f32> {
        let mut next_obs = self.envs.obs().to_vec();
        if let Some(rms) = &self.obs_rms {
            rms.normalize(&mut next_obs, self.cfg.clip_obs);
        }
        self.values(&next_obs)
    }

    /// Brings [`Learner::net`] up to date with the native engine's weights (no-op on torch).
    fn sync_net(&self) {
        if let Engine::Native(native) = &self.engine {
            native.copy_into(&self.net);
        }
    }

    /// Update: epochs of shuffled minibatches over the stored rollout.
    fn update(&mut self, storage: &RolloutStorage, gae: &Gae) -> MinibatchStats {
        let cfg = self.cfg;
        let (d, w) = (storage.obs_dim, storage.action_width);
        // The torch engine indexes tensors of the whole rollout; the native one gathers rows.
        let tensors = matches!(self.engine, Engine::Torch(_)).then(|| TensorRollout {
            obs: from_rows(&storage.obs, d),
            actions: from_rows(&storage.actions, w),
            log_probs: Tensor::from_slice(&storage.log_probs),
            advantages: Tensor::from_slice(&gae.advantages),
            returns: Tensor::from_slice(&gae.returns),
            values: Tensor::from_slice(&storage.values),
        });
        let loss_cfg = LossConfig::of(cfg);
        let mut gathered = GatheredMinibatch::default();
        let mut indices: Vec<i64> = (0..cfg.batch_size() as i64).collect();
        let mut stats = MinibatchStats::default();
        'epochs: for _ in 0..cfg.update_epochs {
            indices.shuffle(&mut self.rng);
            for mb in indices.chunks(cfg.minibatch_size()) {
                let losses = match (&mut self.engine, &tensors) {
                    (Engine::Torch(opt), Some(tensors)) => {
                        let (total, losses) = loss::ppo_loss(&self.net, &tensors.rows(mb), cfg);
                        opt.zero_grad();
                        total.backward();
                        opt.clip_grad_norm(cfg.max_grad_norm);
                        opt.step();
                        losses
                    }
                    (Engine::Native(native), _) => {
                        gathered.gather(mb, storage, gae, d, w);
                        native.update(&gathered.view(), &loss_cfg, self.learning_rate)
                    }
                    (Engine::Torch(_), None) => unreachable!("the torch engine has its tensors"),
                };
                stats.keep(&losses);
            }
            if cfg.target_kl.is_some_and(|kl| stats.approx_kl > kl) {
                break 'epochs;
            }
        }
        stats
    }

    /// Deterministic evaluation of the current weights.
    fn eval(
        &self,
        action_space: &Space,
        env: &mut dyn Env,
        rng: &mut ChaCha8Rng,
    ) -> Result<EvalResult, PpoError> {
        self.sync_net();
        eval_policy(&self.net, &self.obs_rms, self.cfg, action_space, env, rng)
    }
}

impl UpdateStats {
    /// Sends the iteration's metrics (and the steps per second so far) to TensorBoard.
    fn log(&self, log: &mut MetricLog, sps: f64) -> Result<(), PpoError> {
        for (tag, value) in [
            ("charts/learning_rate", self.learning_rate),
            ("charts/SPS", sps),
            ("losses/value_loss", self.value_loss),
            ("losses/policy_loss", self.policy_loss),
            ("losses/entropy", self.entropy),
            ("losses/old_approx_kl", self.old_approx_kl),
            ("losses/approx_kl", self.approx_kl),
            ("losses/clipfrac", self.clipfrac),
            ("losses/explained_variance", self.explained_variance),
        ] {
            log.scalar(tag, value, self.global_step)?;
        }
        Ok(())
    }
}

/// The last minibatch's losses (as CleanRL logs them) and every minibatch's clip fraction.
#[derive(Default)]
struct MinibatchStats {
    policy_loss: f64,
    value_loss: f64,
    entropy: f64,
    old_approx_kl: f64,
    approx_kl: f64,
    clipfracs: Vec<f64>,
}

impl MinibatchStats {
    /// Keeps one native minibatch's losses (the last one's, as the torch path).
    fn keep(&mut self, losses: &MinibatchLosses) {
        self.policy_loss = losses.policy_loss;
        self.value_loss = losses.value_loss;
        self.entropy = losses.entropy;
        self.old_approx_kl = losses.old_approx_kl;
        self.approx_kl = losses.approx_kl;
        self.clipfracs.push(losses.clipfrac);
    }

    /// The iteration's metrics: these losses, the mean return of the episodes that ended in
    /// the rollout, and how well the values explained the returns.
    fn record(
        &self,
        global_step: usize,
        learning_rate: f64,
        finished_returns: &[f64],
        storage: &RolloutStorage,
        gae: &Gae,
    ) -> UpdateStats {
        let episodic_return = (!finished_returns.is_empty())
            .then(|| finished_returns.iter().sum::<f64>() / finished_returns.len() as f64);
        UpdateStats {
            global_step,
            learning_rate,
            value_loss: self.value_loss,
            policy_loss: self.policy_loss,
            entropy: self.entropy,
            old_approx_kl: self.old_approx_kl,
            approx_kl: self.approx_kl,
            clipfrac: self.clipfracs.iter().sum::<f64>() / self.clipfracs.len().max(1) as f64,
            explained_variance: loss::explained_variance(&storage.values, &gae.returns),
            episodic_return,
        }
    }
}

/// The stored rollout as tensors, for the torch engine.
struct TensorRollout {
    obs: Tensor,
    actions: Tensor,
    log_probs: Tensor,
    advantages: Tensor,
    returns: Tensor,
    values: Tensor,
}

impl TensorRollout {
    /// Rows `rows` of every tensor.
    fn rows(&self, rows: &[i64]) -> loss::TensorMinibatch {
        let idx = Tensor::from_slice(rows);
        loss::TensorMinibatch {
            obs: self.obs.index_select(0, &idx),
            actions: self.actions.index_select(0, &idx),
            old_log_probs: self.log_probs.index_select(0, &idx),
            advantages: self.advantages.index_select(0, &idx),
            returns: self.returns.index_select(0, &idx),
            old_values: self.values.index_select(0, &idx),
        }
    }
}

/// One minibatch's rows of the rollout, copied out contiguously for the native engine.
#[derive(Default)]
struct GatheredMinibatch {
    obs: Vec<f32>,
    actions: Vec<f32>,
    old_log_probs: Vec<f32>,
    advantages: Vec<f32>,
    returns: Vec<f32>,
    old_values: Vec<f32>,
}

impl GatheredMinibatch {
    /// Rows `rows` of `storage` and `gae`; `d` and `w` are the observation and action widths.
    fn gather(&mut self, rows: &[i64], storage: &RolloutStorage, gae: &Gae, d: usize, w: usize) {
        self.obs.clear();
        self.actions.clear();
        self.old_log_probs.clear();
        self.advantages.clear();
        self.returns.clear();
        self.old_values.clear();
        for &r in rows {
            let r = r as usize;
            self.obs.extend_from_slice(&storage.obs[r * d..(r + 1) * d]);
            self.actions.extend_from_slice(&storage.actions[r * w..(r + 1) * w]);
            self.old_log_probs.push(storage.log_probs[r]);
            self.advantages.push(gae.advantages[r]);
            self.returns.push(gae.returns[r]);
            self.old_values.push(storage.values[r]);
        }
    }

    fn view(&self) -> Minibatch<'_> {
        Minibatch {
            obs: &self.obs,
            actions: &self.actions,
            old_log_probs: &self.old_log_probs,
            advantages: &self.advantages,
            returns: &self.returns,
            old_values: &self.old_values,
        }
    }
}

/// Deterministic evaluation of the current weights over `cfg.eval_episodes` episodes.
fn eval_policy(
    net: &ActorCritic,
    obs_rms: &Option<RunningMeanStd>,
    cfg: &PpoConfig,
    action_space: &Space,
    env: &mut dyn Env,
    rng: &mut ChaCha8Rng,
) -> Result<EvalResult, PpoError> {
    let mut actor = PpoDemonstrator::new(net, obs_rms.clone(), cfg.clip_obs, action_space.clone());
    evaluate(env, &mut |obs| actor.act(obs), cfg.eval_episodes.max(1), rng.random())
}
