//! The PPO training loop, top to bottom: envs, agent, then one rollout/update iteration per
//! batch. The implementation details follow CleanRL's `ppo.py` / `ppo_continuous_action.py`
//! (orthogonal init, Adam eps 1e-5, learning-rate annealing, advantage normalisation per
//! minibatch, value clipping, global gradient clipping, optional KL early stop) with one fix:
//! a time-limit truncation bootstraps with V(final observation) instead of ending the return.

use std::path::Path;
use std::time::Instant;

use envs::{Action, Env, EnvError, Space, Task};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tch::{Tensor, nn, nn::OptimizerConfig};

use super::PpoError;
use super::config::PpoConfig;
use super::demonstrator::PpoDemonstrator;
use super::eval::{EvalResult, evaluate};
use super::gae::{Rollout, compute_gae};
use super::log::MetricLog;
use super::loss;
use super::normalize::{RewardScaler, RunningMeanStd};
use super::policy::{ActorCritic, from_rows, to_vec};
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

    // --- Envs.
    let copies = (0..cfg.num_envs).map(|_| make_env()).collect::<Result<Vec<_>, _>>()?;
    let mut eval_env = make_env()?;
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
    let mut envs = VecEnv::new(copies, rng.random())?;
    let n = envs.num_envs();

    // --- Agent and optimiser.
    let net = ActorCritic::new(obs_dim, &action_space, cfg.hidden, cfg.init_log_std, &mut rng)?;
    let mut opt = nn::Adam { eps: 1e-5, ..Default::default() }.build(&net.vs, cfg.learning_rate)?;
    let mut obs_rms = cfg.normalize_obs.then(|| RunningMeanStd::new(obs_dim));
    let mut reward_scaler =
        cfg.normalize_reward.then(|| RewardScaler::new(n, cfg.gamma, cfg.clip_reward));
    let width = net.action_width();

    // --- Run folder, metrics, progress.
    let mut log = MetricLog::new(spec.run_dir)?;
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
            net.parameter_count(),
            n,
            cfg.num_steps,
            cfg.num_updates()
        ));
    }

    // --- Rollout storage, time-major: index t * n + e.
    let steps = cfg.num_steps;
    let mut b_obs = vec![0f32; steps * n * obs_dim];
    let mut b_actions = vec![0f32; steps * n * width];
    let mut b_log_probs = vec![0f32; steps * n];
    let mut b_rewards = vec![0f32; steps * n];
    let mut b_values = vec![0f32; steps * n];
    let mut b_terminated = vec![false; steps * n];
    let mut b_truncated = vec![false; steps * n];
    let mut b_final_values = vec![0f32; steps * n];

    let mut updates = Vec::with_capacity(cfg.num_updates());
    let mut solved = None;
    let mut passed_checks = 0;
    let mut global_step = 0usize;
    for update in 1..=cfg.num_updates() {
        let learning_rate = if cfg.anneal_lr {
            cfg.learning_rate * (1.0 - (update - 1) as f64 / cfg.num_updates() as f64)
        } else {
            cfg.learning_rate
        };
        opt.set_lr(learning_rate);

        // --- Rollout: num_steps lock-step transitions of every copy.
        let mut finished_returns = Vec::new();
        for t in 0..steps {
            let mut obs = envs.obs().to_vec();
            if let Some(rms) = &mut obs_rms {
                rms.update(&obs);
                rms.normalize(&mut obs, cfg.clip_obs);
            }
            let sampled = net.sample(&from_rows(&obs, obs_dim), &mut rng);
            let actions: Vec<Action> =
                sampled.actions.chunks(width).map(|row| net.env_action(row)).collect();
            let (out, finished) = envs.step(&actions)?;
            global_step += n;

            let rows = t * n..(t + 1) * n;
            b_obs[t * n * obs_dim..(t + 1) * n * obs_dim].copy_from_slice(&obs);
            b_actions[t * n * width..(t + 1) * n * width].copy_from_slice(&sampled.actions);
            b_log_probs[rows.clone()].copy_from_slice(&sampled.log_probs);
            b_values[rows.clone()].copy_from_slice(&sampled.values);
            b_terminated[rows.clone()].copy_from_slice(&out.terminated);
            b_truncated[rows.clone()].copy_from_slice(&out.truncated);
            let ended: Vec<bool> =
                out.terminated.iter().zip(&out.truncated).map(|(a, b)| *a || *b).collect();
            let rewards = match &mut reward_scaler {
                Some(scaler) => scaler.scale(&out.rewards, &ended),
                None => out.rewards.iter().map(|&r| r as f32).collect(),
            };
            b_rewards[rows.clone()].copy_from_slice(&rewards);
            // V(final observation) for truncated episodes: the bootstrap target of GAE.
            for (e, final_obs) in out.final_obs.iter().enumerate() {
                b_final_values[t * n + e] = match final_obs {
                    Some(o) if out.truncated[e] && !out.terminated[e] => {
                        value_of(&net, o, obs_rms.as_ref(), cfg.clip_obs)
                    }
                    _ => 0.0,
                };
            }
            for &(ret, len) in &finished {
                log.scalar("charts/episodic_return", ret, global_step)?;
                log.scalar("charts/episodic_length", len as f64, global_step)?;
                finished_returns.push(ret);
            }
        }
        let mut next_obs = envs.obs().to_vec();
        if let Some(rms) = &obs_rms {
            rms.normalize(&mut next_obs, cfg.clip_obs);
        }
        let next_values = tch::no_grad(|| to_vec(&net.value(&from_rows(&next_obs, obs_dim))));

        // --- Advantages: GAE through truncation, not through termination.
        let gae = compute_gae(
            &Rollout {
                num_envs: n,
                rewards: &b_rewards,
                values: &b_values,
                terminated: &b_terminated,
                truncated: &b_truncated,
                final_values: &b_final_values,
                next_values: &next_values,
            },
            cfg.gamma as f32,
            cfg.gae_lambda as f32,
        );

        // --- Update: epochs of shuffled minibatches.
        let batch = cfg.batch_size();
        let t_obs = from_rows(&b_obs, obs_dim);
        let t_actions = from_rows(&b_actions, width);
        let t_log_probs = Tensor::from_slice(&b_log_probs);
        let t_advantages = Tensor::from_slice(&gae.advantages);
        let t_returns = Tensor::from_slice(&gae.returns);
        let t_values = Tensor::from_slice(&b_values);
        let mut indices: Vec<i64> = (0..batch as i64).collect();
        let mut stats = MinibatchStats::default();
        'epochs: for _ in 0..cfg.update_epochs {
            indices.shuffle(&mut rng);
            for mb in indices.chunks(cfg.minibatch_size()) {
                let idx = Tensor::from_slice(mb);
                let (new_log_prob, entropy, new_value) =
                    net.evaluate(&t_obs.index_select(0, &idx), &t_actions.index_select(0, &idx));
                let log_ratio = new_log_prob - t_log_probs.index_select(0, &idx);
                let ratio = log_ratio.exp();
                stats.old_approx_kl =
                    tch::no_grad(|| f64::try_from((-&log_ratio).mean(None)).unwrap_or(f64::NAN));
                stats.approx_kl = loss::approx_kl(&log_ratio);
                stats.clipfracs.push(loss::clip_fraction(&ratio, cfg.clip_coef));

                let mut mb_adv = t_advantages.index_select(0, &idx);
                if cfg.norm_adv {
                    mb_adv = loss::normalize_advantages(&mb_adv);
                }
                let pg_loss = loss::clipped_policy_loss(&ratio, &mb_adv, cfg.clip_coef);
                let v_loss = loss::value_loss(
                    &new_value,
                    &t_values.index_select(0, &idx),
                    &t_returns.index_select(0, &idx),
                    cfg.clip_vloss.then_some(cfg.clip_coef),
                );
                let entropy_loss = entropy.mean(None);
                let total = &pg_loss - &entropy_loss * cfg.ent_coef + &v_loss * cfg.vf_coef;
                opt.zero_grad();
                total.backward();
                opt.clip_grad_norm(cfg.max_grad_norm);
                opt.step();
                stats.policy_loss = f64::try_from(&pg_loss).unwrap_or(f64::NAN);
                stats.value_loss = f64::try_from(&v_loss).unwrap_or(f64::NAN);
                stats.entropy = f64::try_from(&entropy_loss).unwrap_or(f64::NAN);
            }
            if cfg.target_kl.is_some_and(|kl| stats.approx_kl > kl) {
                break 'epochs;
            }
        }

        // --- Metrics.
        let episodic_return = (!finished_returns.is_empty())
            .then(|| finished_returns.iter().sum::<f64>() / finished_returns.len() as f64);
        let record = UpdateStats {
            global_step,
            learning_rate,
            value_loss: stats.value_loss,
            policy_loss: stats.policy_loss,
            entropy: stats.entropy,
            old_approx_kl: stats.old_approx_kl,
            approx_kl: stats.approx_kl,
            clipfrac: stats.clipfracs.iter().sum::<f64>() / stats.clipfracs.len().max(1) as f64,
            explained_variance: loss::explained_variance(&b_values, &gae.returns),
            episodic_return,
        };
        let sps = global_step as f64 / start.elapsed().as_secs_f64().max(1e-9);
        for (tag, value) in [
            ("charts/learning_rate", record.learning_rate),
            ("charts/SPS", sps),
            ("losses/value_loss", record.value_loss),
            ("losses/policy_loss", record.policy_loss),
            ("losses/entropy", record.entropy),
            ("losses/old_approx_kl", record.old_approx_kl),
            ("losses/approx_kl", record.approx_kl),
            ("losses/clipfrac", record.clipfrac),
            ("losses/explained_variance", record.explained_variance),
        ] {
            log.scalar(tag, value, global_step)?;
        }
        bar.set_position(global_step as u64);
        if let Some(r) = episodic_return {
            bar.set_message(format!("return {r:.1}"));
        }
        updates.push(record);

        // --- Periodic deterministic evaluation and early stop once solved.
        if let Some(target) = cfg.solve_return {
            if cfg.eval_interval > 0 && update % cfg.eval_interval == 0 {
                let result = eval_policy(
                    &net,
                    &obs_rms,
                    cfg,
                    &action_space,
                    eval_env.as_mut(),
                    &mut eval_rng,
                )?;
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
    let result = eval_policy(&net, &obs_rms, cfg, &action_space, eval_env.as_mut(), &mut eval_rng)?;
    log.scalar("charts/eval_return", result.mean(), global_step)?;
    log.flush()?;
    let meta = PolicyMeta {
        format_version: POLICY_FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        env_id: spec.env_id.to_string(),
        task: spec.task.clone(),
        seed: spec.seed,
        config: cfg.clone(),
        observation_dim: obs_dim,
        action_space,
        obs_norm: obs_rms,
        eval_mean_return: result.mean(),
        eval_std_return: result.std(),
        eval_episodes: result.returns.len(),
        train_steps: global_step,
        train_seconds,
        attempt: 1,
    };
    if spec.progress {
        println!(
            "ppo {}: {} env steps in {:.1} s ({:.0} steps/s); eval return {:.2} +- {:.2} over {} episodes{}",
            spec.env_id,
            global_step,
            train_seconds,
            global_step as f64 / train_seconds.max(1e-9),
            meta.eval_mean_return,
            meta.eval_std_return,
            meta.eval_episodes,
            match solved {
                Some(s) => format!("; solved at {} steps, {:.1} s", s.env_steps, s.seconds),
                None => String::new(),
            }
        );
    }
    Ok(TrainOutcome { policy: TrainedPolicy { meta, net }, updates, solved })
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

/// V(s) of one raw observation.
fn value_of(net: &ActorCritic, obs: &[f32], rms: Option<&RunningMeanStd>, clip: f64) -> f32 {
    let mut o = obs.to_vec();
    if let Some(rms) = rms {
        rms.normalize(&mut o, clip);
    }
    tch::no_grad(|| to_vec(&net.value(&from_rows(&o, o.len())))).first().copied().unwrap_or(0.0)
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
