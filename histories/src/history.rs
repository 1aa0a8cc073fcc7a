//! Learning histories: one long run of a demonstrator under decaying noise, episode after
//! episode, stored step by step.

use envs::{Action, Env, EnvError, ResetOptions, Space};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::demonstrator::Demonstrator;
use crate::noise::{NoiseError, noisy_action};
use crate::schedule::Schedule;

/// One learning history, row `t` holding the observation `o_t`, the action `a_t` taken in it,
/// the reward `r_t` and flags that followed, `o_t`'s step within its episode, the noise level
/// and the demonstrator's own action at `o_t`. Matrices are row-major `(T, dim)`. Each
/// episode's final observation (the one returned with `terminated` or `truncated`, which no
/// row holds) is kept apart, one row per episode end.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub obs_dim: usize,
    /// 1 for discrete actions (the index, stored exactly as f32).
    pub act_dim: usize,
    pub observations: Vec<f32>,
    pub actions: Vec<f32>,
    pub rewards: Vec<f32>,
    pub terminated: Vec<u8>,
    pub truncated: Vec<u8>,
    pub step_num: Vec<i32>,
    pub eps: Vec<f32>,
    pub demo_actions: Vec<f32>,
    /// `(E, obs_dim)`, row `e` the observation that ended episode `e` (in the order of the
    /// rows whose `terminated` or `truncated` is set); `None` where the source did not keep
    /// them (format version 1 files, a sparsified copy).
    pub final_observations: Option<Vec<f32>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Noise(#[from] NoiseError),
    #[error("{0}: the env has no exact oracle; use a trained demonstrator (e.g. PPO)")]
    NoOracle(String),
}

/// Where the demonstrator's action comes from.
pub enum DemoSource<'a> {
    /// The env's exact oracle ([`Env::oracle_action`]: shortest path in the grid families).
    Oracle,
    /// A trained policy acting on observations.
    Policy(&'a mut dyn Demonstrator),
}

impl DemoSource<'_> {
    /// The name written into dataset metadata.
    pub fn kind(&self) -> &'static str {
        match self {
            DemoSource::Oracle => "oracle",
            DemoSource::Policy(p) => p.kind(),
        }
    }

    fn act(&mut self, env: &dyn Env, obs: &[f32]) -> Result<Action, RolloutError> {
        match self {
            DemoSource::Oracle => {
                env.oracle_action().ok_or_else(|| RolloutError::NoOracle(env.spec().id.to_string()))
            }
            DemoSource::Policy(p) => Ok(p.act(obs)),
        }
    }

    fn reset(&mut self) {
        if let DemoSource::Policy(p) = self {
            p.reset();
        }
    }

    fn observe(&mut self, reward: f64, next_obs: &[f32]) {
        if let DemoSource::Policy(p) = self {
            p.observe(reward, next_obs);
        }
    }

    fn new_history(&mut self) {
        if let DemoSource::Policy(p) = self {
            p.new_history();
        }
    }
}

impl History {
    pub fn len(&self) -> usize {
        self.rewards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rewards.is_empty()
    }

    /// Number of episode ends (rows with `terminated` or `truncated` set).
    pub fn episode_ends(&self) -> usize {
        self.terminated.iter().zip(&self.truncated).filter(|(a, b)| **a != 0 || **b != 0).count()
    }

    /// Returns of the completed episodes, in order (an unfinished last episode is left out).
    pub fn episode_returns(&self) -> Vec<f64> {
        let mut out = Vec::new();
        let mut acc = 0.0;
        for t in 0..self.len() {
            acc += self.rewards[t] as f64;
            if self.terminated[t] != 0 || self.truncated[t] != 0 {
                out.push(acc);
                acc = 0.0;
            }
        }
        out
    }

    /// Mean noise level of each completed episode, aligned with [`History::episode_returns`].
    pub fn episode_eps(&self) -> Vec<f64> {
        let mut out = Vec::new();
        let (mut acc, mut n) = (0.0, 0usize);
        for t in 0..self.len() {
            acc += self.eps[t] as f64;
            n += 1;
            if self.terminated[t] != 0 || self.truncated[t] != 0 {
                out.push(acc / n as f64);
                acc = 0.0;
                n = 0;
            }
        }
        out
    }
}

/// Flatten an action into `dim` floats (a discrete index becomes one exact float).
pub fn action_to_row(action: &Action) -> Vec<f32> {
    match action {
        Action::Discrete(i) => vec![*i as f32],
        Action::Continuous(v) => v.clone(),
    }
}

/// Roll out the demonstrator under the noise schedule for at least `transitions` steps, finishing the
/// episode in progress, so every history ends on an episode boundary. The env is reset with
/// `seed` once, then without a seed (its RNG runs on); the noise draws come from their own
/// stream seeded from `seed`.
pub fn roll_out(
    env: &mut dyn Env,
    demo: &mut DemoSource<'_>,
    schedule: &Schedule,
    transitions: usize,
    seed: u64,
) -> Result<History, RolloutError> {
    let space: Space = env.action_space().clone();
    let obs_dim = env.observation_space().flat_dim();
    let act_dim = space.flat_dim();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6e6f_6973_655f_7367);
    let mut h =
        History { obs_dim, act_dim, final_observations: Some(Vec::new()), ..Default::default() };
    let reserve = transitions + 1024;
    h.observations.reserve(reserve * obs_dim);
    h.actions.reserve(reserve * act_dim);
    h.demo_actions.reserve(reserve * act_dim);

    let (mut obs, _) = env.reset(Some(seed), &ResetOptions::default())?;
    demo.new_history();
    demo.reset();
    let mut step_in_episode = 0i32;
    let mut n = 0usize;
    loop {
        let eps = schedule.eps(n, transitions);
        let demo_action = demo.act(env, &obs)?;
        let action = noisy_action(&space, &demo_action, eps, &mut rng)?;
        let step = env.step(&action)?;
        demo.observe(step.reward, &step.obs);
        h.observations.extend_from_slice(&obs);
        h.actions.extend(action_to_row(&action));
        h.demo_actions.extend(action_to_row(&demo_action));
        h.rewards.push(step.reward as f32);
        h.terminated.push(step.terminated as u8);
        h.truncated.push(step.truncated as u8);
        h.step_num.push(step_in_episode);
        h.eps.push(eps as f32);
        n += 1;
        if step.terminated || step.truncated {
            if let Some(finals) = h.final_observations.as_mut() {
                finals.extend_from_slice(&step.obs);
            }
            if n >= transitions {
                break;
            }
            let (first, _) = env.reset(None, &ResetOptions::default())?;
            demo.reset();
            obs = first;
            step_in_episode = 0;
        } else {
            obs = step.obs;
            step_in_episode += 1;
        }
    }
    Ok(h)
}

/// Mean return of `episodes` episodes at a fixed noise level (0: the demonstrator, 1: random
/// for epsilon-greedy and uniform noise alike).
pub fn mean_return_at(
    env: &mut dyn Env,
    demo: &mut DemoSource<'_>,
    eps: f64,
    episodes: usize,
    seed: u64,
) -> Result<f64, RolloutError> {
    Ok(mean_episode_at(env, demo, eps, episodes, seed)?.0)
}

/// Mean return and mean length (steps) of `episodes` episodes at a fixed noise level.
pub fn mean_episode_at(
    env: &mut dyn Env,
    demo: &mut DemoSource<'_>,
    eps: f64,
    episodes: usize,
    seed: u64,
) -> Result<(f64, f64), RolloutError> {
    let (mut total, mut steps) = (0.0, 0usize);
    let schedule = Schedule::Linear { start: eps, end: eps, f: 0.0 };
    for e in 0..episodes.max(1) {
        // One episode = a history of one transition finished at its episode boundary.
        let h = roll_out(env, demo, &schedule, 1, seed.wrapping_add(e as u64 * 7919))?;
        total += h.rewards.iter().map(|&r| r as f64).sum::<f64>();
        steps += h.rewards.len();
    }
    let n = episodes.max(1) as f64;
    Ok((total / n, steps as f64 / n))
}
