//! Two tiny envs for PPO tests, so that they do not depend on any family's physics:
//! `Chain` (Discrete: walk right to the goal) and `Target` (Box: output the observed goal).

#![allow(dead_code)]

use datagen::ppo::{Backend, PpoConfig, TrainSpec};
use envs::{Action, Env, EnvError, EnvRng, EnvSpec, Info, ResetOptions, Space, Step, Task};
use rand::Rng;

/// A short run of CleanRL's discrete or continuous defaults on `backend`: 4 envs x 64
/// steps, 4 minibatches, 5 evaluation episodes.
pub fn tiny(discrete: bool, total_steps: usize, backend: Backend) -> PpoConfig {
    // One torch thread: fastest for these tiny MLPs, and the tests run side by side.
    tch::set_num_threads(1);
    let base = if discrete { PpoConfig::discrete() } else { PpoConfig::continuous() };
    PpoConfig {
        total_steps,
        num_envs: 4,
        num_steps: 64,
        num_minibatches: 4,
        eval_episodes: 5,
        backend,
        ..base
    }
}

/// A quiet run of `config` on `env_id`, without a run folder.
pub fn spec<'a>(
    config: &'a PpoConfig,
    task: &'a Task,
    seed: u64,
    env_id: &'a str,
) -> TrainSpec<'a> {
    TrainSpec { env_id, task, config, seed, run_dir: None, progress: false }
}

const CHAIN_SPEC: EnvSpec =
    EnvSpec { id: "Chain-v0", max_episode_steps: Some(20), reward_threshold: None };
const TARGET_SPEC: EnvSpec =
    EnvSpec { id: "Target-v0", max_episode_steps: Some(10), reward_threshold: None };

/// Positions 0..=5 starting at 0; action 1 moves right, 0 left. Reaching 5 gives +1 and
/// terminates; every step costs 0.01; 20 steps truncate. Best return 0.96, random about -0.1.
pub struct Chain {
    obs_space: Space,
    action_space: Space,
    pos: i32,
    steps: usize,
}

impl Chain {
    pub fn new() -> Self {
        Self {
            obs_space: Space::uniform_box(1, 0.0, 1.0),
            action_space: Space::Discrete { n: 2 },
            pos: 0,
            steps: 0,
        }
    }
}

impl Env for Chain {
    fn spec(&self) -> &EnvSpec {
        &CHAIN_SPEC
    }
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.action_space
    }
    fn reset(
        &mut self,
        _seed: Option<u64>,
        _options: &ResetOptions,
    ) -> Result<(Vec<f32>, Info), EnvError> {
        self.pos = 0;
        self.steps = 0;
        Ok((vec![0.0], Info::default()))
    }
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        match action {
            Action::Discrete(1) => self.pos += 1,
            Action::Discrete(0) => self.pos = (self.pos - 1).max(0),
            other => {
                return Err(EnvError::InvalidAction {
                    env: "Chain-v0".into(),
                    got: format!("{other:?}"),
                    expected: "0 or 1".into(),
                });
            }
        }
        self.steps += 1;
        let terminated = self.pos == 5;
        Ok(Step {
            obs: vec![self.pos as f32 / 5.0],
            reward: if terminated { 1.0 } else { 0.0 } - 0.01,
            terminated,
            truncated: self.steps >= 20,
            info: Info::default(),
        })
    }
}

/// Observation `[goal]` with the goal uniform in [-1, 1] (seeded); action in [-1, 1]; reward
/// `-(a - goal)^2`; 10 steps per episode (truncated). Best return 0, random about -6.7.
pub struct Target {
    obs_space: Space,
    action_space: Space,
    rng: EnvRng,
    goal: f32,
    steps: usize,
}

impl Target {
    pub fn new() -> Self {
        Self {
            obs_space: Space::uniform_box(1, -1.0, 1.0),
            action_space: Space::uniform_box(1, -1.0, 1.0),
            rng: EnvRng::default(),
            goal: 0.0,
            steps: 0,
        }
    }
}

impl Env for Target {
    fn spec(&self) -> &EnvSpec {
        &TARGET_SPEC
    }
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.action_space
    }
    fn reset(
        &mut self,
        seed: Option<u64>,
        _options: &ResetOptions,
    ) -> Result<(Vec<f32>, Info), EnvError> {
        self.rng.reseed(seed);
        self.goal = self.rng.get().random_range(-1.0..1.0);
        self.steps = 0;
        Ok((vec![self.goal], Info::default()))
    }
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let a = match action {
            Action::Continuous(v) if v.len() == 1 && v[0].is_finite() => v[0],
            other => {
                return Err(EnvError::InvalidAction {
                    env: "Target-v0".into(),
                    got: format!("{other:?}"),
                    expected: "[a]".into(),
                });
            }
        };
        self.steps += 1;
        let reward = -((a - self.goal) as f64).powi(2);
        self.goal = self.rng.get().random_range(-1.0..1.0);
        Ok(Step {
            obs: vec![self.goal],
            reward,
            terminated: false,
            truncated: self.steps >= 10,
            info: Info::default(),
        })
    }
}

pub fn make_chain() -> Result<Box<dyn Env>, EnvError> {
    Ok(Box::new(Chain::new()))
}

pub fn make_target() -> Result<Box<dyn Env>, EnvError> {
    Ok(Box::new(Target::new()))
}
